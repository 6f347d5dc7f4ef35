//! `GET /api/voip/ws`: authenticate, then upgrade to the signaling socket.
//!
//! A bad or missing token is answered with HTTP 401 before any upgrade.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session;
use crate::app::AppState;
use crate::error::{Error, ErrorCode};
use crate::http::extract::{participant_until, request_token};

#[derive(Deserialize)]
pub struct WsQuery {
    access_token: Option<String>,
}

/// The signaling socket (docs/protocol.md); the token may also come as `?access_token=`.
#[utoipa::path(get, path = "/voip/ws", tag = "socket",
    security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "The access token (browsers cannot set headers on a WebSocket)")),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 429, description = "The user holds the most sockets allowed", body = crate::error::ErrorBody),
    ))]
pub async fn upgrade(
    State(state): State<AppState>,
    query: Result<Query<WsQuery>, QueryRejection>,
    headers: HeaderMap,
    conn: Option<axum::Extension<crate::net::conn::ConnHandle>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let from_query = query.ok().and_then(|Query(q)| q.access_token);
    let (who, expires_at) = match participant_until(&state, request_token(from_query.as_deref(), &headers)).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return Error::new(ErrorCode::InvalidRequest, "expected a WebSocket upgrade").into_response(),
    };
    let limits = &state.settings.socket;
    let Some(slot) = state
        .sockets
        .acquire(&who.tenant_id, &who.user_id, limits.max_sockets_per_user)
    else {
        return Error::new(
            ErrorCode::TooManySockets,
            format!(
                "this user already holds {} signaling sockets; close one first",
                limits.max_sockets_per_user
            ),
        )
        .into_response();
    };
    let conn = conn.map(|axum::Extension(c)| c);
    if let Some(conn) = &conn {
        // From here the socket's own pings and idle timeout apply, not HTTP's.
        conn.mark_upgraded();
    }
    ws.max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .read_buffer_size(limits.read_buffer)
        // The session feeds a batch of frames and flushes once.
        .write_buffer_size(limits.write_buffer)
        .on_upgrade(move |socket| session::run(socket, state, who, expires_at, slot, conn))
}
