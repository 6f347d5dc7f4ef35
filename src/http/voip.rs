//! The CRM-compatible voice routes under `/api/voip`: agents, start-call, history, call actions.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::call::StartOutcome;
use crate::call::machine::Command;
use crate::error::{Error, Result};
use crate::http::extract::AuthUser;
use crate::model::CallStatus;
use crate::wire::protocol::{MAX_ID_LEN, MAX_NAME_LEN};
use crate::wire::views::{AgentView, CallView};

/// History page size when `limit` is not given.
pub const HISTORY_DEFAULT_LIMIT: i64 = 50;
/// Largest history page.
pub const HISTORY_MAX_LIMIT: i64 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agents))
        .routes(routes!(start_call))
        .routes(routes!(history))
        .routes(routes!(call))
        .routes(routes!(call_action))
        .routes(routes!(crate::signal::route::upgrade))
}

/// The agents of the caller's tenant who are online and available.
#[utoipa::path(get, path = "/voip/agents/available", tag = "calls",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Available agents, in the order they came online", body = Vec<AgentView>),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ))]
async fn agents(State(state): State<AppState>, AuthUser(who): AuthUser) -> axum::Json<Vec<AgentView>> {
    axum::Json(state.presence.available_agents(&who.tenant_id))
}

/// `POST /api/voip/start-call`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"calleeSupabaseId": "agent-1", "callerName": "Carol Customer"}))]
struct StartCall {
    callee_supabase_id: String,
    caller_name: Option<String>,
    record: Option<bool>,
}

/// The call just placed (RINGING, or BUSY: final at once).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct StartCallReply {
    call_id: String,
    room_name: String,
    caller_token: Option<String>,
    livekit_url: Option<String>,
    status: CallStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    glare: Option<bool>,
}

/// Starts a call to an agent (customers) or anyone in the tenant (agents); the callee's devices ring.
#[utoipa::path(post, path = "/voip/start-call", tag = "calls",
    security(("bearer" = [])),
    request_body = StartCall,
    responses(
        (status = 200, description = "Placed: RINGING, or BUSY when the callee is in a call", body = StartCallReply),
        (status = 400, description = "A malformed body, or calling oneself", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Customers may only call agents", body = crate::error::ErrorBody),
        (status = 404, description = "No such participant in the tenant", body = crate::error::ErrorBody),
        (status = 409, description = "The caller is already in a call", body = crate::error::ErrorBody),
        (status = 429, description = "Too many calls started; see Retry-After", body = crate::error::ErrorBody),
    ))]
async fn start_call(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiJson(body): ApiJson<StartCall>,
) -> Result<axum::Json<StartCallReply>> {
    if body.callee_supabase_id.is_empty() || body.callee_supabase_id.len() > MAX_ID_LEN {
        return Err(Error::invalid("`calleeSupabaseId` must be 1 to 255 bytes"));
    }
    if body
        .caller_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_LEN)
    {
        return Err(Error::invalid("`callerName` is too long"));
    }
    let outcome = state
        .calls
        .start(&who, &body.callee_supabase_id, body.caller_name, body.record, None)
        .await?;
    let (call, token, glare) = match outcome {
        StartOutcome::Ringing { call, caller_token } => (call, caller_token, None),
        StartOutcome::Busy { call } => (call, None, None),
        StartOutcome::Glare { call, token } => (call, token, Some(true)),
    };
    Ok(axum::Json(StartCallReply {
        livekit_url: token.as_ref().and(state.calls.livekit_url()).map(str::to_owned),
        call_id: call.id,
        room_name: call.room_name,
        caller_token: token,
        status: call.status,
        glare,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(example = 20)]
    limit: Option<i64>,
    /// The id of the last call of the previous page.
    #[param(example = "")]
    before: Option<String>,
}

/// The caller's calls, newest first, a page at a time.
#[utoipa::path(get, path = "/voip/history", tag = "calls",
    security(("bearer" = [])),
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of calls, newest first", body = Vec<CallView>),
        (status = 400, description = "A bad `limit` or `before`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ))]
async fn history(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<Vec<CallView>>> {
    let limit = q.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "`limit` must be between 1 and {HISTORY_MAX_LIMIT}"
        )));
    }
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(b) => Some(
            uuid::Uuid::parse_str(b)
                .map_err(|_| Error::invalid("`before` must be the id of a call from the previous page"))?
                .hyphenated()
                .to_string(),
        ),
    };
    let calls = state.calls.history(&who, before.as_deref(), limit).await?;
    Ok(axum::Json(calls.iter().map(CallView::from).collect()))
}

/// One call, for its participants.
#[utoipa::path(get, path = "/voip/calls/{id}", tag = "calls",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 400, description = "A malformed id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such call, or not the caller's", body = crate::error::ErrorBody),
    ))]
async fn call(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<CallView>> {
    let call = state.calls.get_for(&who, &id).await?;
    Ok(axum::Json(CallView::from(&call)))
}

/// The call after the action, with the callee's media token on accept (LiveKit mode).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ActionReply {
    #[serde(flatten)]
    call: CallView,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    livekit_url: Option<String>,
}

/// Accept, decline, cancel or end a call.
#[utoipa::path(post, path = "/voip/calls/{id}/{action}", tag = "calls",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c"),
        ("action" = String, Path, description = "`accept` (callee), `decline` (callee), `cancel` (caller) or `end` (either)", example = "end"),
    ),
    responses(
        (status = 200, description = "The call after the action", body = ActionReply),
        (status = 400, description = "A malformed id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not this participant's action (`not_callee`, `not_caller`)", body = crate::error::ErrorBody),
        (status = 404, description = "No such call, or an unknown action", body = crate::error::ErrorBody),
        (status = 409, description = "The call is not in a state the action applies to", body = crate::error::ErrorBody),
    ))]
async fn call_action(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiPath((id, action)): ApiPath<(String, String)>,
) -> Result<axum::Json<ActionReply>> {
    let (call, token) = match action.as_str() {
        "accept" => state.calls.accept(&who, None, &id).await?,
        "decline" => (state.calls.act(&who, None, &id, Command::Decline).await?, None),
        "cancel" => (state.calls.act(&who, None, &id, Command::Cancel).await?, None),
        "end" => (state.calls.act(&who, None, &id, Command::End).await?, None),
        _ => return Err(Error::new(crate::error::ErrorCode::NotFound, "unknown call action")),
    };
    Ok(axum::Json(ActionReply {
        call: CallView::from(&call),
        livekit_url: token.as_ref().and(state.calls.livekit_url()).map(str::to_owned),
        token,
    }))
}
