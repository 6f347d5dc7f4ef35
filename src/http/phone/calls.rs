//! Phone calls: `GET/POST /api/phone/calls`, `GET /api/phone/calls/{id}`, its recording, and `GET /api/phone/token` (the softphone's).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Caller, Page};
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::store::FIRST_PAGE_CURSOR;
use crate::telephony::outbound::PlaceCall;
use crate::telephony::provider_error;
use crate::wire::views::CallView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, place))
        .routes(routes!(one))
        .routes(routes!(recording))
        .routes(routes!(token))
}

/// A page of phone calls.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CallPage {
    calls: Vec<CallView>,
    /// `before` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// A softphone's Twilio Voice access token.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct VoiceToken {
    /// The JWT for Twilio's Voice SDK (`new Device(token)`).
    token: String,
    /// The softphone's client identity: the user id.
    identity: String,
    #[schema(format = DateTime)]
    expires_at: String,
    ttl_secs: i64,
}

fn no_call() -> Error {
    Error::new(ErrorCode::CallNotFound, "no such call")
}

/// The phone calls the caller may see, newest first: a member's own and their numbers', an admin's org's, the platform's all.
#[utoipa::path(get, path = "/phone/calls", tag = "phone",
    security(("bearer" = []), ("service_key" = [])),
    params(Page),
    responses(
        (status = 200, description = "A page of phone calls", body = CallPage),
        (status = 400, description = "A bad `limit`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ))]
async fn list(State(s): State<AppState>, caller: Caller, ApiQuery(page): ApiQuery<Page>) -> Result<Json<CallPage>> {
    let limit = page.limit()?;
    let before = page.before.as_deref().unwrap_or(FIRST_PAGE_CURSOR);
    let calls = s.telephony.store().phone_calls(&caller.scope, before, limit).await?;
    let next = (calls.len() as i64 == limit)
        .then(|| calls.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(CallPage {
        calls: calls.iter().map(CallView::from).collect(),
        next_cursor: next,
    }))
}

/// One call (in-app or phone) the caller may see.
#[utoipa::path(get, path = "/phone/calls/{id}", tag = "phone",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 200, description = "The call", body = CallView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such call, or not one the caller may see (`call_not_found`)", body = crate::error::ErrorBody),
    ))]
async fn one(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Json<CallView>> {
    let call = s
        .telephony
        .store()
        .call_in_scope(&caller.scope, &id)
        .await?
        .ok_or_else(no_call)?;
    Ok(Json(CallView::from(&call)))
}

/// `POST /api/phone/calls`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"from": "+14155550100", "to": "+14155552671", "record": false}))]
struct PlaceCallBody {
    from: String,
    to: String,
    #[serde(default)]
    record: bool,
}

/// Calls `to` from one of the caller's numbers through Twilio; when it answers, the caller's softphone rings.
#[utoipa::path(post, path = "/phone/calls", tag = "phone",
    security(("bearer" = [])),
    request_body = PlaceCallBody,
    responses(
        (status = 201, description = "Placed: the row, RINGING, with Twilio's CallSid", body = CallView),
        (status = 400, description = "A malformed body or number", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A service key has no softphone to connect", body = crate::error::ErrorBody),
        (status = 404, description = "`from` is not a number the caller may use", body = crate::error::ErrorBody),
        (status = 429, description = "Too many calls and texts lately (`CALL_RATE_PER_MINUTE`); see Retry-After", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio refused the call (`provider_error`, its message); the row is FAILED", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn place(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PlaceCallBody>,
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
#[utoipa::path(get, path = "/phone/calls/{id}/recording", tag = "phone",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 200, description = "The recording, MP3 from Twilio", content_type = "audio/mpeg", body = Vec<u8>),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such call the caller may see (`call_not_found`), or no recording (`recording_not_found`)", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio could not serve it", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
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

/// A Twilio Voice access token for the caller's browser softphone (incoming allowed, outgoing through the TwiML app).
#[utoipa::path(get, path = "/phone/token", tag = "phone",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token", body = VoiceToken),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A service key is not a person", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio, its API key or its TwiML app is not configured", body = crate::error::ErrorBody),
    ))]
async fn token(State(s): State<AppState>, caller: Caller) -> Result<Json<VoiceToken>> {
    let me = caller.person()?;
    let now = now_ms() / 1000;
    let (token, expires) = s.telephony.voice_token(me, now)?;
    Ok(Json(VoiceToken {
        token,
        identity: me.user_id.to_string(),
        expires_at: crate::wire::views::iso(expires * 1000),
        ttl_secs: crate::telephony::VOICE_TOKEN_TTL_SECS,
    }))
}
