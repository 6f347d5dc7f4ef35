//! Liveness, readiness and metrics: `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// `{"status": "ok"}`.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// `{"status": "ready", "store": "sqlite" | "postgres"}`, and in cluster mode `"node"` (this member's id).
#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    #[schema(example = "ready")]
    status: &'static str,
    #[schema(example = "sqlite")]
    store: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "node-1.3f2a9c01b7de")]
    node: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The store answers: the server can take calls.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "The store is not reachable (`unavailable`), or in cluster mode Redis is not (`cluster_unavailable`)", body = crate::error::ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    if let Some(node) = &state.cluster
        && !node.available()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": {
                "code": "cluster_unavailable",
                "message": "this node cannot reach Redis: it serves the users connected to it, not the cluster"
            }})),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => axum::Json(Ready {
            status: "ready",
            store: state.store.backend_name(),
            node: state.cluster.as_ref().map(|n| n.member().to_string()),
        })
        .into_response(),
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

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.sockets.set(state.registry.session_count() as i64);
    if let Some(node) = &state.cluster {
        state.metrics.cluster_dropped.set(node.dropped() as i64);
    }
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
