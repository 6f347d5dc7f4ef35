//! Liveness, readiness and metrics: `/healthz`, `/readyz`, `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(json!({"status": "ready", "store": state.store.backend_name()})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": {"code": "unavailable", "message": "the store is not reachable"}})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.sockets.set(state.registry.session_count() as i64);
    if let Some(sfu) = &state.media {
        state.metrics.media_rooms.set(sfu.rooms() as i64);
        state.metrics.media_connections.set(sfu.connections() as i64);
    }
    if let Ok((ringing, active)) = state.calls.open_counts().await {
        use crate::metrics::StatusLabel;
        state
            .metrics
            .calls_open
            .get_or_create(&StatusLabel { status: "RINGING" })
            .set(ringing);
        state
            .metrics
            .calls_open
            .get_or_create(&StatusLabel { status: "ACTIVE" })
            .set(active);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
