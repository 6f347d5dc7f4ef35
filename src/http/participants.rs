//! `GET /api/voip/participants`: the tenant's directory, for choosing whom to call.
//!
//! Agents may list anyone of their tenant (`type=PORTAL_CUSTOMER` for the
//! customers they can call); customers may list only agents, as they may only
//! call agents. The caller is never listed. Each entry carries its presence
//! status, so a list can show who is reachable now.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiQuery;
use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::extract::AuthUser;
use crate::model::ParticipantType;

/// Entries per page when `limit` is not given.
pub const PARTICIPANTS_DEFAULT_LIMIT: i64 = 20;
/// Largest page.
pub const PARTICIPANTS_MAX_LIMIT: i64 = 100;
/// Longest search text.
pub const MAX_QUERY_LEN: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(participants))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ParticipantQuery {
    /// `PORTAL_CUSTOMER` or `CRM_USER` (customers may ask for agents only).
    #[serde(rename = "type")]
    #[param(rename = "type", example = "CRM_USER")]
    kind: ParticipantType,
    /// Text the name, email or user id contains (case-insensitive); empty: everyone.
    #[param(example = "ag")]
    q: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(example = 20)]
    limit: Option<i64>,
}

/// A participant one may call.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ParticipantEntry {
    user_id: String,
    participant_type: ParticipantType,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    /// "First Last", or the email, or the id.
    display_name: String,
    /// `available`, `away`, `busy` (in a call) or `offline` (no socket).
    #[schema(value_type = String, example = "available")]
    status: &'static str,
}

/// The tenant's participants of one type, by name, with their status now.
#[utoipa::path(get, path = "/voip/participants", tag = "calls",
    security(("bearer" = [])),
    params(ParticipantQuery),
    responses(
        (status = 200, description = "Matching participants, by name; never the caller", body = Vec<ParticipantEntry>),
        (status = 400, description = "A bad `type`, `q` or `limit`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Customers may list only agents", body = crate::error::ErrorBody),
    ))]
async fn participants(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiQuery(q): ApiQuery<ParticipantQuery>,
) -> Result<axum::Json<Vec<ParticipantEntry>>> {
    if who.kind == ParticipantType::PortalCustomer && q.kind != ParticipantType::CrmUser {
        return Err(Error::new(ErrorCode::Forbidden, "customers may list only agents"));
    }
    let limit = q.limit.unwrap_or(PARTICIPANTS_DEFAULT_LIMIT);
    if !(1..=PARTICIPANTS_MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "`limit` must be between 1 and {PARTICIPANTS_MAX_LIMIT}"
        )));
    }
    let text = q.q.unwrap_or_default();
    if text.chars().count() > MAX_QUERY_LEN {
        return Err(Error::invalid(format!("`q` is longer than {MAX_QUERY_LEN} characters")));
    }
    // One more than asked: the caller may be among them and is left out.
    let found = state
        .store
        .search_participants(&who.tenant_id, q.kind, &text, limit + 1)
        .await?;
    let entries = found
        .into_iter()
        .filter(|p| *p.user_id != *who.user_id)
        .take(limit as usize)
        .map(|p| ParticipantEntry {
            status: state.presence.status_of(&who.tenant_id, &p.user_id).as_str(),
            display_name: p.display_name(),
            user_id: p.user_id,
            participant_type: p.kind,
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
        })
        .collect();
    Ok(axum::Json(entries))
}
