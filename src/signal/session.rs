//! One signaling socket's life: register, welcome, then read requests and write queued frames.
//!
//! A single task owns the socket and `select!`s over the next client frame,
//! the session's bounded outbound queue, the ping timer, the kill switch (a
//! full queue) and server shutdown. One task instead of a reader and a writer
//! task (as axum's chat example splits them) saves a task and a lock per
//! socket, which is what 100k sockets need; a slow write only delays this
//! client's own reads.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio_util::sync::CancellationToken;

use super::handle;
use crate::app::AppState;
use crate::auth::claims::Identity;
use crate::cluster::Outbound;
use crate::presence::SessionHandle;
use crate::views::{Limits, ServerMsg, UserView};

/// Close code for a frame over the size limit (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a client that stopped reading its queue.
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// Close code for an idle peer and for server shutdown.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Most queued frames written before one flush.
pub const WRITE_BATCH: usize = 64;
/// A write to one socket that takes longer than this drops the client.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the loop ended.
enum End {
    /// The client closed or vanished.
    Client,
    /// We closed it (idle, too big, slow); calls treat it like a drop.
    Dropped,
    /// The server is stopping: calls are left for the restart sweep.
    Shutdown,
}

pub async fn run(mut socket: WebSocket, state: AppState, who: Arc<Identity>) {
    let limits = state.settings.socket.clone();
    let id = state.next_session_id();
    let (tx, rx) = flume::bounded::<Outbound>(limits.outbound_queue);
    let kill = CancellationToken::new();
    let (_, before) = state.registry.connect(&who, SessionHandle::new(id, tx, kill.clone()));

    // The heavy, occasional futures (store queries, call handling) are boxed:
    // inlined, they would make every idle socket's task ~20 KB.
    let end = match Box::pin(welcome(&state, &who, id, before)).await {
        Ok(text) => {
            if socket.send(Message::Text(text.into())).await.is_ok() {
                serve(&mut socket, &state, &who, id, &rx, &kill).await
            } else {
                End::Client
            }
        }
        Err(e) => {
            e.log_if_internal();
            let _ = close(&mut socket, CLOSE_GOING_AWAY, "server unavailable").await;
            End::Dropped
        }
    };

    let change = state.registry.disconnect(&who, id);
    if let End::Shutdown = end {
        return;
    }
    state.calls.publish_presence(change.presence);
    if change.edge
        && let Err(e) = Box::pin(state.calls.user_went_offline(&who)).await
    {
        e.log_if_internal();
    }
}

async fn welcome(
    state: &AppState,
    who: &Identity,
    id: u64,
    before: crate::presence::PresenceStatus,
) -> crate::error::Result<String> {
    let start = state.calls.session_opened(who, before).await?;
    let user = UserView {
        user_id: who.user_id.to_string(),
        tenant_id: who.tenant_id.to_string(),
        participant_type: who.kind,
        first_name: who.first_name.clone(),
        last_name: who.last_name.clone(),
        email: who.email.clone(),
        role: who.role.clone(),
    };
    let session_id = id.to_string();
    let ice = state.ice_servers(&who.user_id);
    Ok(ServerMsg::Welcome {
        session_id: &session_id,
        user: &user,
        media_mode: state.calls.media_mode().as_str(),
        ice_servers: &ice,
        pending_calls: &start.pending,
        active_calls: &start.active,
        limits: Limits {
            max_message_bytes: state.settings.socket.max_message_bytes,
            ping_interval_secs: state.settings.socket.ping_interval.as_secs(),
            idle_timeout_secs: state.settings.socket.idle_timeout.as_secs(),
            ring_timeout_secs: state.calls.ring_timeout().as_secs(),
        },
    }
    .to_text())
}

async fn serve(
    socket: &mut WebSocket,
    state: &AppState,
    who: &Arc<Identity>,
    id: u64,
    rx: &flume::Receiver<Outbound>,
    kill: &CancellationToken,
) -> End {
    let limits = &state.settings.socket;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + limits.ping_interval, limits.ping_interval);
    let mut last_heard = Instant::now();
    let shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        state.metrics.frames_in.inc();
                        if let Some(reply) = Box::pin(handle::request(state, who, id, text.as_str())).await
                            && socket.send(Message::Text(reply.into())).await.is_err()
                        {
                            return End::Client;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let reply = handle::error_frame(state, None, crate::error::ErrorCode::InvalidMessage, "binary frames are not supported; send JSON text");
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            return End::Client;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return End::Client,
                    Some(Err(e)) => {
                        if is_too_big(e) {
                            let _ = close(socket, CLOSE_TOO_BIG, "frame exceeds the size limit").await;
                            return End::Dropped;
                        }
                        return End::Client;
                    }
                }
            }
            Ok(frame) = rx.recv_async() => {
                // A client that stops reading blocks this write once the
                // kernel's buffer is full: the kill switch (its queue
                // overflowed meanwhile) and a timeout still end it.
                tokio::select! {
                    written = Box::pin(tokio::time::timeout(WRITE_TIMEOUT, write_batch(socket, rx, frame))) => {
                        match written {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => return End::Client,
                            Err(_) => return End::Dropped,
                        }
                    }
                    _ = kill.cancelled() => return End::Dropped,
                    _ = shutdown.cancelled() => return End::Shutdown,
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    let _ = close(socket, CLOSE_GOING_AWAY, "idle timeout").await;
                    return End::Dropped;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return End::Client;
                }
            }
            _ = kill.cancelled() => {
                let _ = close(socket, CLOSE_SLOW_CONSUMER, "slow consumer: outbound queue full").await;
                return End::Dropped;
            }
            _ = shutdown.cancelled() => {
                let _ = close(socket, CLOSE_GOING_AWAY, "server shutting down").await;
                return End::Shutdown;
            }
        }
    }
}

/// Writes `first` and whatever else is queued (up to `WRITE_BATCH` items), then flushes once.
async fn write_batch(
    socket: &mut WebSocket,
    rx: &flume::Receiver<Outbound>,
    first: Outbound,
) -> Result<(), axum::Error> {
    feed(socket, first).await?;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Ok(item) => feed(socket, item).await?,
            Err(_) => break,
        }
    }
    socket.flush().await
}

async fn feed(socket: &mut WebSocket, item: Outbound) -> Result<(), axum::Error> {
    match item {
        Outbound::One(frame) => socket.feed(Message::Text(frame)).await,
        Outbound::Batch(frames) => {
            for frame in frames.iter() {
                socket.feed(Message::Text(frame.clone())).await?;
            }
            Ok(())
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await
}

/// Whether tungstenite refused a frame for its size.
fn is_too_big(e: axum::Error) -> bool {
    let inner = e.into_inner();
    matches!(
        inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
        Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
    )
}
