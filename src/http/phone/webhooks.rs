//! Twilio's webhooks: `/api/phone/webhooks/twilio/{voice,status,recording,sms,sms-status}`, each signature-checked before anything is read.
//!
//! Twilio signs the URL it was given (`SWITCHBOARD_PUBLIC_URL` + path +
//! query) and the POST parameters; a bad or missing `X-Twilio-Signature` is
//! `403` and changes nothing. Voice answers TwiML (`text/xml`); the other
//! callbacks answer `204`.

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::telephony::Params;
use crate::telephony::voice::VoiceQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(voice))
        .routes(routes!(status))
        .routes(routes!(recording))
        .routes(routes!(sms))
        .routes(routes!(sms_status))
}

/// A webhook's parameters and query, once its signature checked out.
pub struct TwilioHook(pub Params, pub VoiceQuery);

impl FromRequest<AppState> for TwilioHook {
    type Rejection = Error;

    async fn from_request(req: Request, s: &AppState) -> Result<Self> {
        // Nested under `/api`: the URL Twilio signed is the original one.
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |o| o.0.clone());
        let headers = req.headers().clone();
        let body = match tokio::time::timeout(crate::http::json::BODY_TIMEOUT, Bytes::from_request(req, s)).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorCode::RequestTimeout,
                    "the request body did not arrive in time",
                ));
            }
            Ok(Err(r)) if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Error::new(ErrorCode::PayloadTooLarge, "request body is too large"));
            }
            Ok(Err(_)) => {
                return Err(Error::new(
                    ErrorCode::InvalidRequest,
                    "the request body could not be read",
                ));
            }
            Ok(Ok(b)) => b,
        };
        verified(s, &uri, &headers, &body).map(|(p, q)| Self(p, q))
    }
}

fn verified(s: &AppState, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<(Params, VoiceQuery)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "expected `Content-Type: application/x-www-form-urlencoded`",
        ));
    }
    let params = Params(form_urlencoded::parse(body).into_owned().collect());
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    s.telephony.verify(path_and_query, &params, signature)?;
    let query: VoiceQuery = match uri.query() {
        None => VoiceQuery::default(),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|_| Error::new(ErrorCode::InvalidRequest, "the query string could not be read"))?,
    };
    Ok((params, query))
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A call to one of our numbers, a softphone's outgoing call, or a step of either (`?step=bridge|after-dial&callId=`): answered with TwiML.
#[utoipa::path(post, path = "/phone/webhooks/twilio/voice", tag = "phone webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the public URL and the POST parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters"),
    responses(
        (status = 200, description = "TwiML", content_type = "text/xml", body = String),
        (status = 400, description = "Not form-encoded, or a required parameter is missing", body = crate::error::ErrorBody),
        (status = 403, description = "A bad or missing `X-Twilio-Signature` (nothing is read or written)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn voice(State(s): State<AppState>, TwilioHook(p, q): TwilioHook) -> Result<Response> {
    Ok(twiml(s.telephony.voice(&q, &p, now_ms()).await?))
}

/// A call's status (`?callId=` for calls we placed; `&leg=agent` for a member's softphone leg).
#[utoipa::path(post, path = "/phone/webhooks/twilio/status", tag = "phone webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the public URL and the POST parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters"),
    responses(
        (status = 204, description = "Applied, or nothing to change"),
        (status = 400, description = "Not form-encoded, or a required parameter is missing", body = crate::error::ErrorBody),
        (status = 403, description = "A bad or missing `X-Twilio-Signature` (nothing is read or written)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn status(State(s): State<AppState>, TwilioHook(p, q): TwilioHook) -> Result<axum::http::StatusCode> {
    s.telephony.status(&q, &p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A recording or voicemail is ready (`?callId=&kind=voicemail|call`).
#[utoipa::path(post, path = "/phone/webhooks/twilio/recording", tag = "phone webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the public URL and the POST parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters"),
    responses(
        (status = 204, description = "Applied, or nothing to change"),
        (status = 400, description = "Not form-encoded, or a required parameter is missing", body = crate::error::ErrorBody),
        (status = 403, description = "A bad or missing `X-Twilio-Signature` (nothing is read or written)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn recording(State(s): State<AppState>, TwilioHook(p, q): TwilioHook) -> Result<axum::http::StatusCode> {
    s.telephony.recording(&q, &p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// An inbound text: stored, threaded, `sms.received` to the number's members; answered with an empty `<Response/>`.
#[utoipa::path(post, path = "/phone/webhooks/twilio/sms", tag = "phone webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the public URL and the POST parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters"),
    responses(
        (status = 200, description = "Empty TwiML", content_type = "text/xml", body = String),
        (status = 400, description = "Not form-encoded, or a required parameter is missing", body = crate::error::ErrorBody),
        (status = 403, description = "A bad or missing `X-Twilio-Signature` (nothing is read or written)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn sms(State(s): State<AppState>, TwilioHook(p, _): TwilioHook) -> Result<Response> {
    s.telephony.sms_received(&p, now_ms()).await?;
    Ok(twiml(crate::phone::twiml::response([])))
}

/// A sent text's status (only forward; billed once, from `sent` on).
#[utoipa::path(post, path = "/phone/webhooks/twilio/sms-status", tag = "phone webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the public URL and the POST parameters")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters"),
    responses(
        (status = 204, description = "Applied, or nothing to change"),
        (status = 400, description = "Not form-encoded, or a required parameter is missing", body = crate::error::ErrorBody),
        (status = 403, description = "A bad or missing `X-Twilio-Signature` (nothing is read or written)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn sms_status(State(s): State<AppState>, TwilioHook(p, q): TwilioHook) -> Result<axum::http::StatusCode> {
    s.telephony.sms_status(&q, &p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
