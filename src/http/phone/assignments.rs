//! Assignments: which of an org's numbers a member may use (`/api/orgs/{orgId}/users/{userId}/phone-assignments`, `/api/user/phone-assignments`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath};
use crate::model::Scope;
use crate::store::MAX_ASSIGNED_NUMBERS;
use crate::wire::phone::{AssignmentView, AssignmentsView};
use crate::wire::views::iso;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(assignments, assign))
        .routes(routes!(my_assignments))
}

/// `POST …/phone-assignments`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"phoneNumberIds": []}))]
struct AssignNumbers {
    phone_number_ids: Vec<String>,
}

async fn assignments_view(s: &AppState, org: &str, user: &str) -> Result<AssignmentsView> {
    let store = s.telephony.store();
    // Two queries, whatever the count: the member's held numbers, and when each was assigned.
    let member = Scope::Member {
        org_id: org.to_owned(),
        user_id: user.to_owned(),
    };
    let numbers = store.numbers(&member).await?;
    let assigned: std::collections::HashMap<String, i64> = store
        .assignments_of(org, user)
        .await?
        .into_iter()
        .map(|a| (a.phone_number_id, a.created_at))
        .collect();
    let out: Vec<AssignmentView> = numbers
        .into_iter()
        .filter_map(|n| {
            let at = *assigned.get(&n.id)?;
            Some(AssignmentView {
                phone_number_id: n.id,
                e164: n.e164,
                label: n.label,
                user_id: user.to_owned(),
                org_id: n.org_id,
                assigned_at: iso(at),
            })
        })
        .collect();
    Ok(AssignmentsView {
        user_id: user.to_owned(),
        org_id: org.to_owned(),
        phone_number_ids: out.iter().map(|a| a.phone_number_id.clone()).collect(),
        assignments: out,
    })
}

/// Makes `phoneNumberIds` exactly the org's numbers the member may use (the org's admin or the platform).
#[utoipa::path(post, path = "/orgs/{org_id}/users/{user_id}/phone-assignments", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1"), ("user_id" = String, Path, description = "The member's user id", example = "agent-9")),
    request_body = AssignNumbers,
    responses(
        (status = 200, description = "The member's numbers now", body = AssignmentsView),
        (status = 400, description = "A malformed body, or too many numbers", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org, or a number the org does not hold", body = crate::error::ErrorBody),
    ))]
async fn assign(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AssignNumbers>,
) -> Result<Json<AssignmentsView>> {
    caller.must_administer(&org)?;
    if body.phone_number_ids.len() > MAX_ASSIGNED_NUMBERS {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("at most {MAX_ASSIGNED_NUMBERS} numbers per member"),
        ));
    }
    if user.is_empty() || user.len() > crate::auth::claims::MAX_CLAIM_ID_LEN {
        return Err(Error::new(ErrorCode::InvalidRequest, "`userId` is empty or too long"));
    }
    let store = s.telephony.store();
    let scope = Scope::Org { org_id: org.clone() };
    let mut ids = body.phone_number_ids;
    ids.sort();
    ids.dedup();
    for id in &ids {
        if store.number(&scope, id).await?.is_none() {
            return Err(Error::new(ErrorCode::NotFound, format!("no such phone number: {id}")));
        }
    }
    store.set_assignments(&org, &user, &ids, now_ms()).await?;
    Ok(Json(assignments_view(&s, &org, &user).await?))
}

/// A member's numbers (the member, the org's admin or the platform).
#[utoipa::path(get, path = "/orgs/{org_id}/users/{user_id}/phone-assignments", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1"), ("user_id" = String, Path, description = "The member's user id", example = "agent-9")),
    responses(
        (status = 200, description = "The member's numbers", body = AssignmentsView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Another member of the org", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn assignments(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
) -> Result<Json<AssignmentsView>> {
    let own = matches!(&caller.scope, Scope::Member { org_id, user_id } if *org_id == org && *user_id == user);
    if !own {
        caller.must_administer(&org)?;
    }
    Ok(Json(assignments_view(&s, &org, &user).await?))
}

/// The caller's own numbers.
#[utoipa::path(get, path = "/user/phone-assignments", tag = "phone",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's numbers", body = AssignmentsView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A service key is not a member", body = crate::error::ErrorBody),
    ))]
async fn my_assignments(State(s): State<AppState>, caller: Caller) -> Result<Json<AssignmentsView>> {
    let me = caller.person()?;
    Ok(Json(assignments_view(&s, &me.tenant_id, &me.user_id).await?))
}
