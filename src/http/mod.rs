//! The HTTP surface: each route module exports `router()`, merged here with the shared layers.

mod admin;
mod dev;
mod health;
pub mod json;
mod recording;
mod voip;

use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Response;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;

pub use voip::{HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};

use crate::app::AppState;
use crate::config::MAX_BODY_BYTES;
use crate::error::{Error, ErrorCode};

async fn not_found() -> Error {
    Error::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> Error {
    Error::new(ErrorCode::MethodNotAllowed, "method not allowed on this route")
}

/// Counts every JSON error response by code (`switchboard_errors_total`).
async fn count_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(req).await;
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.error(code.as_str());
    }
    response
}

/// Turns any error response that is not our JSON (a rejection of axum's or
/// tower's own, a bare status) into the documented `{"error": {code, message}}`.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (code, message) = match status {
        axum::http::StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
        axum::http::StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "method not allowed on this route"),
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "request body is too large"),
        axum::http::StatusCode::REQUEST_TIMEOUT => (ErrorCode::RequestTimeout, "the request did not arrive in time"),
        axum::http::StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests; retry later"),
        axum::http::StatusCode::UNAUTHORIZED => (ErrorCode::MissingToken, "no access token"),
        axum::http::StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "forbidden"),
        s if s.is_server_error() => (ErrorCode::Internal, "internal server error"),
        _ => (ErrorCode::InvalidRequest, "the request could not be read"),
    };
    let retry_after = response.headers().get(axum::http::header::RETRY_AFTER).cloned();
    let mut replaced = Error::new(code, message).into_response();
    *replaced.status_mut() = status;
    if let Some(v) = retry_after {
        replaced.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    replaced
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<axum::body::Body> {
    Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

/// All routes, with the body limit, panic guard and JSON fallbacks.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .merge(voip::router())
        .merge(recording::router())
        .merge(admin::router());
    api = api.fallback(not_found).method_not_allowed_fallback(method_not_allowed);
    let mut app = Router::new()
        .nest("/api", api)
        .merge(health::router())
        .method_not_allowed_fallback(method_not_allowed);
    if state.settings.dev {
        app = app.merge(dev::router());
    }
    let web = state.settings.web_dir.clone().filter(|d| d.is_dir());
    app = match web {
        // The web demo: GET and HEAD only; anything else is a JSON 405.
        Some(dir) => app.fallback_service(
            axum::routing::get_service(ServeDir::new(dir).fallback(axum::routing::any(not_found)))
                .fallback(method_not_allowed),
        ),
        None => app.fallback(not_found),
    };
    app.layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
