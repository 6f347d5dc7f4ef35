//! An org's members as its admins manage them: `GET /api/orgs/{orgId}/members` (CRM users, their roles and numbers).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiPath, ApiQuery};
use crate::model::ParticipantType;

/// Most members one listing returns.
pub const MEMBERS_MAX: i64 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(members))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Query {
    /// Name, email or id contains this (case-insensitive).
    q: Option<String>,
    limit: Option<i64>,
}

/// The org's CRM users (those who signed in or were provisioned), their roles and numbers; the org's admin or the platform.
#[utoipa::path(get, path = "/orgs/{org_id}/members", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1"), Query),
    responses(
        (status = 200, description = "`{orgId, members: [{userId, firstName, lastName, email, role, phoneNumberIds}]}`", body = Object),
        (status = 400, description = "A bad `limit`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member of the org", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn members(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiQuery(q): ApiQuery<Query>,
) -> Result<Json<Value>> {
    caller.must_administer(&org)?;
    let limit = match q.limit {
        None => MEMBERS_MAX,
        Some(n) if (1..=MEMBERS_MAX).contains(&n) => n,
        Some(_) => {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("`limit`: expected 1 to {MEMBERS_MAX}"),
            ));
        }
    };
    let store = s.telephony.store();
    let people = store
        .search_participants(&org, ParticipantType::CrmUser, q.q.as_deref().unwrap_or(""), limit)
        .await?;
    let mut out = Vec::with_capacity(people.len());
    for p in &people {
        let numbers: Vec<String> = store
            .assignments_of(&org, &p.user_id)
            .await?
            .into_iter()
            .map(|a| a.phone_number_id)
            .collect();
        out.push(json!({
            "userId": p.user_id, "firstName": p.first_name, "lastName": p.last_name, "email": p.email,
            "role": p.role, "phoneNumberIds": numbers,
        }));
    }
    Ok(Json(json!({ "orgId": org, "members": out })))
}
