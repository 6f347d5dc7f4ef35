//! `POST /dev/token` (only with `--dev`): mint a token for any test identity.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::ApiJson;
use crate::app::AppState;
use crate::auth::claims::{AppMetadata, Claims, UserMetadata};
use crate::clock::now_ms;
use crate::error::Result;
use crate::model::ParticipantType;

/// Lifetime of dev tokens.
pub const DEV_TOKEN_TTL_SECS: i64 = 24 * 3600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
}

/// Who the token is for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"userId": "agent-1", "tenantId": "acme", "participantType": "CRM_USER", "firstName": "Ann"}))]
struct DevTokenRequest {
    user_id: Option<String>,
    tenant_id: Option<String>,
    participant_type: Option<ParticipantType>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    /// Mint a `service_role` key instead of a user token.
    #[serde(default)]
    service_role: bool,
}

/// A token signed with the server's secret.
#[derive(Serialize, utoipa::ToSchema)]
struct DevTokenReply {
    token: String,
}

/// Mints a token for any identity (only with `--dev`).
#[utoipa::path(post, path = "/dev/token", tag = "dev",
    request_body = DevTokenRequest,
    responses(
        (status = 200, description = "The token", body = DevTokenReply),
        (status = 400, description = "A malformed body", body = crate::error::ErrorBody),
    ))]
async fn token(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<DevTokenRequest>,
) -> Result<axum::Json<DevTokenReply>> {
    let now = now_ms() / 1000;
    let claims = if b.service_role {
        Claims {
            role: Some("service_role".into()),
            exp: Some(now + DEV_TOKEN_TTL_SECS),
            iat: Some(now),
            iss: Some(crate::auth::verifier::LEGACY_API_KEY_ISSUER.into()),
            ..Claims::default()
        }
    } else {
        Claims {
            sub: b.user_id,
            aud: Some(json!(state.verifier.audience())),
            exp: Some(now + DEV_TOKEN_TTL_SECS),
            iat: Some(now),
            iss: state.verifier.issuer().map(str::to_owned),
            role: Some("authenticated".into()),
            email: b.email,
            app_metadata: AppMetadata {
                tenant_id: b.tenant_id.map(serde_json::Value::String),
                participant_type: b.participant_type.map(|t| t.as_str().to_owned()),
                role: b.role,
            },
            user_metadata: UserMetadata {
                first_name: b.first_name,
                last_name: b.last_name,
                full_name: None,
            },
            ..Claims::default()
        }
    };
    Ok(axum::Json(DevTokenReply {
        token: state.verifier.mint(&claims)?,
    }))
}
