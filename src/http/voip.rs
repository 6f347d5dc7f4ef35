//! The CRM-compatible voice routes under `/api/voip`: agents, start-call, history, call actions.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::json::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::call::StartOutcome;
use crate::call::machine::Command;
use crate::call::model::CallStatus;
use crate::error::{Error, Result};
use crate::signal::protocol::{MAX_ID_LEN, MAX_NAME_LEN};
use crate::views::{AgentView, CallView};

/// History page size when `limit` is not given.
pub const HISTORY_DEFAULT_LIMIT: i64 = 50;
/// Largest history page.
pub const HISTORY_MAX_LIMIT: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/voip/agents/available", get(agents))
        .route("/voip/start-call", post(start_call))
        .route("/voip/history", get(history))
        .route("/voip/calls/{id}", get(call))
        .route("/voip/calls/{id}/{action}", post(call_action))
        .route("/voip/ws", get(crate::signal::route::upgrade))
}

async fn agents(State(state): State<AppState>, AuthUser(who): AuthUser) -> axum::Json<Vec<AgentView>> {
    axum::Json(state.registry.available_agents(&who.tenant_id))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartCall {
    callee_supabase_id: String,
    caller_name: Option<String>,
    record: Option<bool>,
}

#[derive(Serialize)]
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

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<i64>,
    before: Option<String>,
}

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

async fn call(
    State(state): State<AppState>,
    AuthUser(who): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<CallView>> {
    let call = state.calls.get_for(&who, &id).await?;
    Ok(axum::Json(CallView::from(&call)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionReply {
    #[serde(flatten)]
    call: CallView,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    livekit_url: Option<String>,
}

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
