//! Twilio's webhooks: `/api/phone/webhooks/twilio/{voice,status,recording,sms,sms-status}`, each signature-checked before anything is read.
//!
//! Twilio signs the URL it was given (`SWITCHBOARD_PUBLIC_URL` + path +
//! query) and the POST parameters; a bad or missing `X-Twilio-Signature` is
//! `403` and changes nothing. Voice answers TwiML (`text/xml`); the other
//! callbacks answer `204`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::telephony::Params;
use crate::telephony::voice::VoiceQuery;

pub fn router() -> Router<AppState> {
    let base = "/api/phone/webhooks/twilio";
    Router::new()
        .route(&format!("{base}/voice"), post(voice))
        .route(&format!("{base}/status"), post(status))
        .route(&format!("{base}/recording"), post(recording))
        .route(&format!("{base}/sms"), post(sms))
        .route(&format!("{base}/sms-status"), post(sms_status))
}

/// The verified parameters and query of a webhook.
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

async fn voice(State(s): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let (p, q) = verified(&s, &uri, &headers, &body)?;
    Ok(twiml(s.telephony.voice(&q, &p, now_ms()).await?))
}

async fn status(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode> {
    let (p, q) = verified(&s, &uri, &headers, &body)?;
    s.telephony.status(&q, &p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn recording(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode> {
    let (p, q) = verified(&s, &uri, &headers, &body)?;
    s.telephony.recording(&q, &p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// An inbound text: answered with an empty `<Response/>` (no auto-reply).
async fn sms(State(s): State<AppState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let (p, _) = verified(&s, &uri, &headers, &body)?;
    s.telephony.sms_received(&p, now_ms()).await?;
    Ok(twiml(crate::phone::twiml::response([])))
}

async fn sms_status(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::StatusCode> {
    let (p, _) = verified(&s, &uri, &headers, &body)?;
    s.telephony.sms_status(&p, now_ms()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
