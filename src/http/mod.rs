//! The HTTP surface: each route module exports `router()`, merged here with the shared layers.

mod admin;
mod contacts;
mod dev;
pub mod extract;
mod health;
mod integrations;
pub mod json;
mod metrics_daily;
pub mod openapi;
mod participants;
mod phone;
mod recording;
mod voip;
pub mod web;
mod webhooks_out;

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

/// One span per request, named by its matched route: every log line of the
/// request (a 5xx's cause, a call it starts) says which route it came from.
async fn request_span(
    matched: Option<axum::extract::MatchedPath>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = matched.as_ref().map_or("-", |m| m.as_str());
    let span = tracing::info_span!("request", method = %req.method(), route);
    tracing::Instrument::instrument(next.run(req), span).await
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

/// Every documented route, and the OpenAPI document made from them.
pub fn routes(dev: bool) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    let api = utoipa_axum::router::OpenApiRouter::new()
        .merge(voip::router())
        .merge(participants::router())
        .merge(recording::router())
        .merge(admin::router())
        .merge(phone::router())
        .merge(integrations::router())
        .merge(metrics_daily::router())
        .merge(contacts::router())
        .merge(webhooks_out::router());
    let mut all = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api", api)
        .merge(health::router());
    if dev {
        all = all.merge(dev::router());
    }
    all.split_for_parts()
}

/// All routes, with the body limit, panic guard and JSON fallbacks.
pub fn router(state: AppState) -> Router {
    let (documented, mut doc) = routes(state.settings.dev);
    // The document describes itself too.
    doc.paths.paths.insert(
        "/api/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This OpenAPI document"))
                .tag("operations")
                .response(
                    "200",
                    utoipa::openapi::ResponseBuilder::new()
                        .description("The OpenAPI 3.1 document of this server")
                        .content("application/json", utoipa::openapi::ContentBuilder::new().build())
                        .build(),
                ),
        ),
    );
    let text: std::sync::Arc<str> = doc.to_json().unwrap_or_default().into();
    let document = Router::new()
        .route("/api/openapi.json", axum::routing::get(openapi::serve))
        .with_state(openapi::Document(text));
    let api_fallbacks = Router::new().nest_service(
        "/api",
        Router::<AppState>::new()
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(state.clone()),
    );
    let mut app = documented
        .route_layer(axum::middleware::from_fn(request_span))
        .merge(document)
        .merge(api_fallbacks)
        .method_not_allowed_fallback(method_not_allowed);
    let web = state.settings.web_dir.clone().filter(|d| d.is_dir());
    app = match web {
        // The web demo from disk (`--web-dir`): GET and HEAD only; anything else is a JSON 405.
        Some(dir) => app.fallback_service(
            axum::routing::get_service(ServeDir::new(dir).fallback(axum::routing::any(not_found)))
                .fallback(method_not_allowed),
        ),
        // The demo built into the binary.
        None if state.settings.web_embedded => app.fallback(web::serve),
        None => app.fallback(not_found),
    };
    app.layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
