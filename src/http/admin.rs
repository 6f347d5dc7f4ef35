//! Admin API (service_role keys only): provision participants ahead of their first sign-in.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::claims::{MAX_CLAIM_ID_LEN, MAX_CLAIM_TEXT_LEN};
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::extract::ServiceAuth;
use crate::model::ParticipantType;
use crate::store::Participant;
use crate::wire::views::iso;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, provision))
}

/// A participant to create or update ahead of their first sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"tenantId": "acme", "participantType": "CRM_USER", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.com"}))]
struct Provision {
    tenant_id: String,
    participant_type: ParticipantType,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
struct TenantQuery {
    /// The participant's tenant.
    #[param(example = "acme")]
    tenant_id: String,
}

/// A participant of the directory.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ParticipantView {
    user_id: String,
    tenant_id: String,
    participant_type: ParticipantType,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<Participant> for ParticipantView {
    fn from(p: Participant) -> Self {
        Self {
            created_at: iso(p.created_at),
            updated_at: iso(p.updated_at),
            user_id: p.user_id,
            tenant_id: p.tenant_id,
            participant_type: p.kind,
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
            role: p.role,
        }
    }
}

fn check_id(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > MAX_CLAIM_ID_LEN {
        return Err(Error::invalid(format!(
            "`{what}` must be 1 to {MAX_CLAIM_ID_LEN} bytes"
        )));
    }
    Ok(())
}

fn check_text(what: &str, v: &Option<String>) -> Result<()> {
    if v.as_ref().is_some_and(|s| s.chars().count() > MAX_CLAIM_TEXT_LEN) {
        return Err(Error::invalid(format!(
            "`{what}` is longer than {MAX_CLAIM_TEXT_LEN} characters"
        )));
    }
    Ok(())
}

/// Creates or updates a participant (service key only).
#[utoipa::path(put, path = "/admin/participants/{id}", tag = "admin",
    security(("service_key" = [])),
    params(("id" = String, Path, description = "The participant's user id", example = "agent-ann")),
    request_body = Provision,
    responses(
        (status = 200, description = "The participant as stored", body = ParticipantView),
        (status = 400, description = "A malformed body", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a service key", body = crate::error::ErrorBody),
    ))]
async fn provision(
    State(state): State<AppState>,
    _: ServiceAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<Provision>,
) -> Result<axum::Json<ParticipantView>> {
    check_id("id", &id)?;
    check_id("tenantId", &b.tenant_id)?;
    check_text("firstName", &b.first_name)?;
    check_text("lastName", &b.last_name)?;
    check_text("email", &b.email)?;
    check_text("role", &b.role)?;
    if b.participant_type == ParticipantType::Phone {
        return Err(Error::invalid("`participantType` must be CRM_USER or PORTAL_CUSTOMER"));
    }
    let now = now_ms();
    let p = Participant {
        tenant_id: b.tenant_id,
        user_id: id,
        kind: b.participant_type,
        first_name: b.first_name,
        last_name: b.last_name,
        email: b.email,
        role: b.role,
        created_at: now,
        updated_at: now,
    };
    state.directory.provision(&p).await?;
    let stored = state
        .directory
        .lookup(&p.tenant_id, &p.user_id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("participant vanished after upsert")))?;
    Ok(axum::Json(stored.into()))
}

/// Reads a participant (service key only).
#[utoipa::path(get, path = "/admin/participants/{id}", tag = "admin",
    security(("service_key" = [])),
    params(("id" = String, Path, description = "The participant's user id", example = "agent-ann"), TenantQuery),
    responses(
        (status = 200, description = "The participant", body = ParticipantView),
        (status = 400, description = "No `tenantId`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a service key", body = crate::error::ErrorBody),
        (status = 404, description = "No such participant", body = crate::error::ErrorBody),
    ))]
async fn read(
    State(state): State<AppState>,
    _: ServiceAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<axum::Json<ParticipantView>> {
    let p = state
        .directory
        .lookup(&q.tenant_id, &id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::ParticipantNotFound, "no such participant"))?;
    Ok(axum::Json(p.into()))
}
