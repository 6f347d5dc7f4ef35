//! Phone calls: `GET/POST /api/phone/calls`, `GET /api/phone/calls/{id}`, its recording, and `GET /api/phone/token` (the softphone's).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Page};
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::store::FIRST_PAGE_CURSOR;
use crate::telephony::outbound::PlaceCall;
use crate::telephony::provider_error;
use crate::wire::views::CallView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/phone/calls", get(list).post(place))
        .route("/api/phone/calls/{id}", get(one))
        .route("/api/phone/calls/{id}/recording", get(recording))
        .route("/api/phone/token", get(token))
}

fn no_call() -> Error {
    Error::new(ErrorCode::CallNotFound, "no such call")
}

async fn list(State(s): State<AppState>, caller: Caller, ApiQuery(page): ApiQuery<Page>) -> Result<Json<Value>> {
    let limit = page.limit()?;
    let before = page.before.as_deref().unwrap_or(FIRST_PAGE_CURSOR);
    let calls = s.telephony.store().phone_calls(&caller.scope, before, limit).await?;
    let next = (calls.len() as i64 == limit)
        .then(|| calls.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(json!({
        "calls": calls.iter().map(CallView::from).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

async fn one(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Json<CallView>> {
    let call = s
        .telephony
        .store()
        .call_in_scope(&caller.scope, &id)
        .await?
        .ok_or_else(no_call)?;
    Ok(Json(CallView::from(&call)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Place {
    from: String,
    to: String,
    #[serde(default)]
    record: bool,
}

async fn place(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Place>,
) -> Result<(StatusCode, Json<CallView>)> {
    let me = caller.person()?.clone();
    let req = PlaceCall {
        from: &body.from,
        to: &body.to,
        record: body.record,
    };
    let call = s.telephony.place_call(&caller.scope, &me, &req, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(CallView::from(&call))))
}

/// Streams the call's Twilio recording (or voicemail) to those who may see the call.
async fn recording(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Response> {
    let call = s
        .telephony
        .store()
        .call_in_scope(&caller.scope, &id)
        .await?
        .ok_or_else(no_call)?;
    let sid = call
        .phone
        .as_deref()
        .and_then(|l| l.recording_sid.clone())
        .ok_or_else(|| Error::new(ErrorCode::RecordingNotFound, "this call has no recording"))?;
    let upstream = s
        .telephony
        .twilio()?
        .rest
        .recording_media(&sid)
        .await
        .map_err(provider_error)?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("audio/mpeg"));
    if let Some(len) = upstream.content_length() {
        headers.insert(header::CONTENT_LENGTH, len.into());
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Ok((headers, Body::from_stream(upstream.bytes_stream())).into_response())
}

async fn token(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let me = caller.person()?;
    let now = now_ms() / 1000;
    let (token, expires) = s.telephony.voice_token(me, now)?;
    Ok(Json(json!({
        "token": token,
        "identity": me.user_id.as_ref(),
        "expiresAt": crate::wire::views::iso(expires * 1000),
        "ttlSecs": crate::telephony::VOICE_TOKEN_TTL_SECS,
    })))
}
