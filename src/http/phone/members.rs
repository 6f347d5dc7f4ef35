//! An org's members as its admins manage them: `GET /api/orgs/{orgId}/members` (CRM users, their roles and numbers).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Caller;
use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiPath, ApiQuery};
use crate::model::ParticipantType;

/// Most members one listing returns.
pub const MEMBERS_MAX: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/orgs/{org_id}/members", get(members))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    /// Name, email or id contains this (case-insensitive).
    q: Option<String>,
    limit: Option<i64>,
}

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
