//! Provider integrations (issue #12): connect by OAuth or by key, the callback, status, disconnect, sync now, extension mapping (`/api/integrations…`).
//!
//! Every member sees their org's integrations' status; only an org admin
//! (or the platform, naming `orgId`) connects, disconnects, syncs and maps
//! extensions. The callback is reached by the admin's browser coming back
//! from the provider: it carries no token, and the signed `state` alone
//! says which org the account joins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::http::phone::{Caller, OrgQuery};
use crate::integrations::{IntegrationView, SyncReport};
use crate::providers::ProviderKind;

/// `connectedBy` of an integration a service key connected.
pub const SERVICE_CONNECTOR: &str = "service_role";

/// Longest API key or user key accepted (MightyCall's are UUID-like).
pub const PROVIDER_KEY_MAX_LEN: usize = 256;

/// Longest extension accepted.
pub const EXTENSION_MAX_LEN: usize = 32;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(connect, connect_with_key))
        .routes(routes!(callback))
        .routes(routes!(disconnect))
        .routes(routes!(sync_now))
        .routes(routes!(extensions))
        .routes(routes!(set_extension))
}

/// Who connects, as the integration records it: the admin's id, or [`SERVICE_CONNECTOR`] for a service key.
fn connector(caller: &Caller) -> String {
    caller
        .identity
        .as_ref()
        .map_or_else(|| SERVICE_CONNECTOR.to_owned(), |id| id.user_id.to_string())
}

fn provider(name: &str) -> Result<ProviderKind> {
    ProviderKind::parse(name).ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no such provider: {name}")))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct IntegrationsView {
    integrations: Vec<IntegrationView>,
}

/// The org's integrations and their status (every member; the platform: every org's, or `orgId`'s).
#[utoipa::path(get, path = "/integrations", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])), params(OrgQuery),
    responses(
        (status = 200, description = "Status, last sync, last error, needs-reconnect", body = IntegrationsView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<IntegrationsView>> {
    let org = match (caller.scope.org(), q.org_id.as_deref()) {
        (None, None) => None,
        _ => Some(caller.org_or(q.org_id.as_deref())?.to_owned()),
    };
    Ok(Json(IntegrationsView {
        integrations: s.integrations.list(org.as_deref()).await?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ConnectView {
    /// Send the admin's browser here; the provider redirects back to the callback.
    auth_url: String,
}

/// Starts the OAuth authorization-code flow (the org's admin, or the platform naming `orgId`): `{authUrl}` with a signed `state` that expires in 10 minutes.
#[utoipa::path(get, path = "/integrations/{provider}/connect", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`ringcentral` (MightyCall connects by `POST`)", example = "ringcentral"), OrgQuery),
    responses(
        (status = 200, description = "Where to send the browser", body = ConnectView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 400, description = "A provider that connects by key (`POST`)", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown provider, or another org", body = crate::error::ErrorBody),
        (status = 503, description = "The provider or the encryption key is not configured", body = crate::error::ErrorBody),
    ))]
async fn connect(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<ConnectView>> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    let admin = connector(&caller);
    Ok(Json(ConnectView {
        auth_url: s.integrations.connect_url(p, &org, &admin)?,
    }))
}

/// `POST …/connect` for a provider that connects with the org's own key (MightyCall).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"apiKey": "3f9a6c1e-7b2d-4f10-9e8a-0c5d2b7a1e44", "userKey": "b4e2d8a0-1c6f-4a3b-8d92-7e5f0a1c3b66"}))]
struct KeyConnect {
    /// The account's API key (MightyCall: Integrations → API).
    api_key: String,
    /// The user key that issues tokens (MightyCall: the admin's User key; Classic accounts may give an extension).
    user_key: String,
}

/// No key in a `Debug` (both halves are secrets).
impl std::fmt::Debug for KeyConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyConnect { <redacted> }")
    }
}

/// Connects a provider with the org's own key (the org's admin, or the platform naming `orgId`): a token is issued with it now, then key and tokens are sealed and stored.
#[utoipa::path(post, path = "/integrations/{provider}/connect", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`mightycall`", example = "mightycall"), OrgQuery),
    request_body = KeyConnect,
    responses(
        (status = 200, description = "The integration, connected", body = IntegrationView),
        (status = 400, description = "A missing or oversized key, a key the provider refused, or a provider that connects by OAuth", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown provider, or another org", body = crate::error::ErrorBody),
        (status = 502, description = "The provider could not be reached", body = crate::error::ErrorBody),
        (status = 503, description = "The encryption key is not configured", body = crate::error::ErrorBody),
    ))]
async fn connect_with_key(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<KeyConnect>,
) -> Result<Json<IntegrationView>> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    for (field, v) in [("apiKey", &body.api_key), ("userKey", &body.user_key)] {
        let v = v.trim();
        if v.is_empty() || v.len() > PROVIDER_KEY_MAX_LEN || v.chars().any(char::is_control) {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("`{field}` is 1 to {PROVIDER_KEY_MAX_LEN} printable characters"),
            ));
        }
    }
    let admin = connector(&caller);
    let key = crate::providers::KeyCredentials {
        api_key: body.api_key.trim().to_owned(),
        secret: body.user_key.trim().to_owned(),
    };
    Ok(Json(s.integrations.connect_with_key(p, &org, &admin, key).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "snake_case")]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the admin refused (`access_denied`).
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's redirect back: checks `state`, exchanges `code`, stores the tokens sealed, reads the account id.
#[utoipa::path(get, path = "/integrations/{provider}/callback", tag = "integrations",
    params(("provider" = String, Path, description = "`ringcentral`", example = "ringcentral"), CallbackQuery),
    responses(
        (status = 200, description = "The integration, connected", body = IntegrationView),
        (status = 400, description = "No code, a refused grant, or a forged, expired or misdirected state", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown provider", body = crate::error::ErrorBody),
        (status = 502, description = "The provider refused the code or could not be reached", body = crate::error::ErrorBody),
        (status = 503, description = "The provider is not configured", body = crate::error::ErrorBody),
    ))]
async fn callback(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Json<IntegrationView>> {
    let p = provider(&name)?;
    if let Some(e) = q.error {
        let detail = q.error_description.unwrap_or_default();
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("the provider did not grant access: {e} {detail}")
                .trim_end()
                .to_owned(),
        ));
    }
    let (Some(code), Some(state)) = (q.code.filter(|c| !c.is_empty()), q.state.filter(|c| !c.is_empty())) else {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "the callback needs `code` and `state`",
        ));
    };
    Ok(Json(s.integrations.callback(p, &code, &state).await?))
}

/// Disconnects (the org's admin). Calls already synced stay in the CallLog.
#[utoipa::path(delete, path = "/integrations/{provider}", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`ringcentral` or `mightycall`", example = "ringcentral"), OrgQuery),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Not connected, unknown provider, or another org", body = crate::error::ErrorBody),
    ))]
async fn disconnect(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<StatusCode> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    s.integrations.disconnect(&org, p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Syncs now and answers with the sync's figures (the org's admin); `409` while a sync runs on any node.
#[utoipa::path(post, path = "/integrations/{provider}/sync", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`ringcentral` or `mightycall`", example = "ringcentral"), OrgQuery),
    responses(
        (status = 200, description = "What the sync did (`state` done, failed or needs_reconnect)", body = SyncReport),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Not connected, unknown provider, or another org", body = crate::error::ErrorBody),
        (status = 409, description = "A sync is running, or the integration needs a reconnect", body = crate::error::ErrorBody),
        (status = 503, description = "The provider is not configured", body = crate::error::ErrorBody),
    ))]
async fn sync_now(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<SyncReport>> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    Ok(Json(s.integrations.sync_now(&org, p).await?))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ExtensionView {
    extension: String,
    user_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ExtensionsView {
    extensions: Vec<ExtensionView>,
}

/// The org's provider extensions and the members they are (the org's admin).
#[utoipa::path(get, path = "/integrations/{provider}/extensions", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`ringcentral` or `mightycall`", example = "ringcentral"), OrgQuery),
    responses(
        (status = 200, description = "Extension → member", body = ExtensionsView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown provider, or another org", body = crate::error::ErrorBody),
    ))]
async fn extensions(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<ExtensionsView>> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    let list = s.integrations.extensions(&org, p).await?;
    Ok(Json(ExtensionsView {
        extensions: list
            .into_iter()
            .map(|(extension, user_id)| ExtensionView { extension, user_id })
            .collect(),
    }))
}

/// `PUT …/extensions/{extension}`: `userId` null unmaps it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"userId": "agent-9"}))]
struct SetExtension {
    user_id: Option<String>,
}

/// Says which member a provider extension is: synced calls on it are theirs (the org's admin).
#[utoipa::path(put, path = "/integrations/{provider}/extensions/{extension}", tag = "integrations",
    security(("service_key" = []), ("bearer" = [])),
    params(("provider" = String, Path, description = "`ringcentral` or `mightycall`", example = "ringcentral"),
        ("extension" = String, Path, description = "The extension number", example = "101"), OrgQuery),
    request_body = SetExtension,
    responses(
        (status = 204, description = "Mapped (or unmapped)"),
        (status = 400, description = "A bad extension or user id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not an org admin", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown provider, or another org", body = crate::error::ErrorBody),
    ))]
async fn set_extension(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, ext)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<SetExtension>,
) -> Result<StatusCode> {
    let p = provider(&name)?;
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if ext.is_empty() || ext.len() > EXTENSION_MAX_LEN || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("an extension is 1 to {EXTENSION_MAX_LEN} digits"),
        ));
    }
    if let Some(u) = &body.user_id
        && (u.is_empty() || u.len() > crate::auth::claims::MAX_CLAIM_ID_LEN)
    {
        return Err(Error::new(ErrorCode::InvalidRequest, "`userId` is empty or too long"));
    }
    s.integrations
        .set_extension(&org, p, &ext, body.user_id.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
