//! One signaling socket's life: register, welcome, then read requests and write queued frames.
//!
//! A single task owns the socket and `select!`s over the next client frame,
//! the session's bounded outbound queue, the ping timer, one deadline (a ping
//! unanswered too long, the token's warning and expiry), the kill switch (a
//! full queue) and server shutdown. One task instead of a reader and a writer
//! task (as axum's chat example splits them) saves a task and a lock per
//! socket, which is what 100k sockets need; a slow write only delays this
//! client's own reads.
//!
//! How far behind a client may fall is bounded three ways (docs/protocol.md
//! § limits): queued items (`outbound_queue`), bytes written but not yet
//! confirmed read (`max_unread_bytes`), and time (`max_lag`). Bytes and time
//! are measured with pings: a ping is sent whenever a sixteenth of
//! `max_unread_bytes` was written since the last one, and its pong proves the
//! client read everything before it.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use smallvec::SmallVec;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::caps::SocketSlot;
use super::handle::{self, SessionAuth};
use super::sessions::SessionHandle;
use crate::app::AppState;
use crate::auth::claims::Identity;
use crate::clock::now_ms;
use crate::cluster::Outbound;
use crate::net::conn::ConnHandle;
use crate::wire::views::{Limits, ServerMsg, UserView, iso};

/// Close code for a frame over the size limit (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a client that stopped reading (its queue, unread bytes or lag over the limit).
pub const CLOSE_SLOW_CONSUMER: u16 = 1008;
/// Close code when this node rejoined the cluster under a new incarnation (its sessions moved on): reconnect.
pub const CLOSE_SERVICE_RESTART: u16 = 1012;
/// Close code for an idle peer and for server shutdown.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a socket whose token expired without an `auth.refresh`.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Most queued frames written before one flush.
pub const WRITE_BATCH: usize = 64;
/// A write to one socket that takes longer than this drops the client.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A close frame to a slow client gets this long to be written; then the connection is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// A dropped slow consumer's connection stays this long for it to read up to its close frame.
pub const SLOW_CLOSE_LINGER: Duration = Duration::from_secs(10);
/// Most pings in flight at once. A ping is sent each time `max_unread_bytes / MAX_PINGS_IN_FLIGHT`
/// bytes were written since the last one, so unread bytes are known to within that much.
pub const MAX_PINGS_IN_FLIGHT: usize = 16;

/// Why the loop ended.
enum End {
    /// The client closed or vanished.
    Client,
    /// We closed it (idle, too big, slow, token expired); calls treat it like a drop.
    Dropped,
    /// The server is stopping: calls are left for the restart sweep.
    Shutdown,
}

/// Runs a session. Its tracing span (session, user, tenant) is made when
/// there is something to say: for the welcome, each control request and the
/// disconnect, so every log line of them says whose it is. High-rate frames
/// (`rtc.signal`, `rtc.candidate`, `ping`) and the idle loop carry none: no
/// span work per relayed message, no span memory per idle socket.
pub async fn run(
    socket: WebSocket,
    state: AppState,
    who: Arc<Identity>,
    expires_at: i64,
    slot: SocketSlot,
    conn: Option<ConnHandle>,
) {
    // One async fn, not a wrapper around another: an async fn keeps its
    // arguments for its whole life, so a wrapper would hold the socket twice.
    let id = state.next_session_id();
    let session = Session { state, who, id, conn };
    let mut socket = socket;
    let _slot = slot;
    use tracing::Instrument;
    let state = &session.state;
    let (who, id) = (&session.who, session.id);
    let (tx, rx) = flume::bounded::<Outbound>(state.settings.socket.outbound_queue);
    let kill = CancellationToken::new();
    state.registry.add(
        &who.tenant_id,
        &who.user_id,
        SessionHandle::new(id, tx, kill.clone(), who.is_admin()),
    );
    let before = state.presence.session_opened(who, id).await;

    // The heavy, occasional futures (store queries, call handling) are boxed:
    // inlined, they would make every idle socket's task ~20 KB.
    let end = match Box::pin(welcome(state, who, id, before).instrument(session.span())).await {
        Ok(text) => {
            if socket.send(Message::Text(text.into())).await.is_ok() {
                let auth = SessionAuth { expires_at };
                Box::pin(serve(&mut socket, &session, &rx, &kill, auth)).await
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

    state.registry.remove(&who.tenant_id, &who.user_id, id);
    let change = state.presence.session_closed(who, id).await;
    if let End::Shutdown = end {
        return;
    }
    state.calls.publish_presence(change.presence);
    if change.edge {
        let span = session.span();
        if let Err(e) = Box::pin(state.calls.user_went_offline(who).instrument(span.clone())).await {
            let _enter = span.enter();
            e.log_if_internal();
        }
    }
}

/// Who a session is, and the connection under it.
pub(super) struct Session {
    pub state: AppState,
    pub who: Arc<Identity>,
    pub id: u64,
    conn: Option<ConnHandle>,
}

impl Session {
    /// The session's span, for what it is about to log.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("session", session = self.id, user = %self.who.user_id, tenant = %self.who.tenant_id)
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

/// Bytes written vs. bytes the client confirmed reading (by answering a ping sent after them).
#[derive(Default)]
struct Lag {
    /// Bytes between two pings.
    spacing: u64,
    written: u64,
    acked: u64,
    /// Pings in flight, oldest first: payload, when sent, and `written` at that moment
    /// (inline for the usual one or two: no allocation per idle socket).
    pings: SmallVec<[(u64, Instant, u64); 2]>,
    next_ping: u64,
}

impl Lag {
    fn new(max_unread: usize) -> Self {
        Self {
            spacing: (max_unread / MAX_PINGS_IN_FLIGHT).max(1) as u64,
            ..Self::default()
        }
    }

    fn unread(&self) -> u64 {
        self.written - self.acked
    }

    /// Enough was written since the last ping to send another.
    fn wants_ping(&self) -> bool {
        let mark = self.pings.last().map_or(self.acked, |p| p.2);
        self.written - mark >= self.spacing && self.pings.len() < MAX_PINGS_IN_FLIGHT
    }

    /// When the oldest unanswered ping was sent.
    fn oldest(&self) -> Option<Instant> {
        self.pings.first().map(|p| p.1)
    }

    /// A pong arrived: it answers its ping and every earlier one (a client may
    /// answer only the latest of several pings, RFC 6455 § 5.5.3); everything
    /// written before that ping was read.
    fn pong(&mut self, payload: &[u8]) {
        let Ok(id) = <[u8; 8]>::try_from(payload).map(u64::from_be_bytes) else {
            return;
        };
        while let Some(&(pid, _, mark)) = self.pings.first() {
            if pid > id {
                break;
            }
            self.acked = mark;
            self.pings.remove(0);
        }
    }

    fn ping(&mut self) -> u64 {
        self.next_ping += 1;
        self.pings.push((self.next_ping, Instant::now(), self.written));
        self.next_ping
    }
}

/// When the token timer fires next, and what it does then.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokenStep {
    Warn,
    Close,
}

/// The token's next step and its instant (Unix ms), given the expiry and whether it was warned.
fn token_step(expires_at: i64, warned: bool, warning: Duration, leeway_secs: u64) -> (TokenStep, i64) {
    let expiry_ms = expires_at.saturating_mul(1000);
    if warned {
        (TokenStep::Close, expiry_ms.saturating_add(leeway_secs as i64 * 1000))
    } else {
        (TokenStep::Warn, expiry_ms.saturating_sub(warning.as_millis() as i64))
    }
}

fn instant_of(unix_ms: i64) -> Instant {
    let left = unix_ms.saturating_sub(now_ms()).max(0) as u64;
    // Far-future expiries (a year) would overflow nothing, but are pointless to wait for exactly.
    Instant::now() + Duration::from_millis(left.min(365 * 86_400_000))
}

/// The session's timed duties, served by one timer (one `Sleep` per socket,
/// polled once per loop turn, whatever the number of duties).
struct Clock {
    /// The next heartbeat ping (and idle check).
    ping_due: Instant,
    /// The token's next step and when.
    token: (TokenStep, Instant),
    timer: Pin<Box<Sleep>>,
}

impl Clock {
    /// The earliest duty, given the oldest unanswered ping's lag deadline.
    fn next(&self, lag_due: Option<Instant>) -> Instant {
        let next = self.ping_due.min(self.token.1);
        lag_due.map_or(next, |l| l.min(next))
    }

    /// Points the timer at the earliest duty (no-op if it already does).
    fn rearm(&mut self, lag_due: Option<Instant>) {
        let next = self.next(lag_due);
        if self.timer.deadline() != next {
            self.timer.as_mut().reset(next);
        }
    }
}

async fn serve(
    socket: &mut WebSocket,
    session: &Session,
    rx: &flume::Receiver<Outbound>,
    kill: &CancellationToken,
    mut auth: SessionAuth,
) -> End {
    let state = &session.state;
    let limits = &state.settings.socket;
    let leeway = state.settings.auth.leeway_secs;
    let mut last_heard = Instant::now();
    let shutdown = state.shutdown.clone();
    let mut lag = Lag::new(limits.max_unread_bytes);
    let epoch = state.registry.epoch();
    let lag_due = |lag: &Lag| lag.oldest().map(|t| t + limits.max_lag);
    let (step, at) = token_step(auth.expires_at, false, limits.token_warning, leeway);
    let ping_due = last_heard + limits.ping_interval;
    let token = (step, instant_of(at));
    let mut clock = Clock {
        ping_due,
        token,
        timer: Box::pin(tokio::time::sleep_until(ping_due.min(token.1))),
    };
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        state.metrics.frames_in.inc();
                        let expiry = auth.expires_at;
                        if let Some(reply) = Box::pin(handle::request(session, text.as_str(), &mut auth)).await
                            && socket.send(Message::Text(reply.into())).await.is_err()
                        {
                            return End::Client;
                        }
                        if auth.expires_at != expiry {
                            let (s, at) = token_step(auth.expires_at, false, limits.token_warning, leeway);
                            clock.token = (s, instant_of(at));
                            clock.rearm(lag_due(&lag));
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let reply = handle::error_frame(state, None, crate::error::ErrorCode::InvalidMessage, "binary frames are not supported; send JSON text", None);
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            return End::Client;
                        }
                    }
                    Some(Ok(Message::Pong(payload))) => {
                        lag.pong(&payload);
                        clock.rearm(lag_due(&lag));
                    }
                    Some(Ok(Message::Ping(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return End::Client,
                    Some(Err(e)) => {
                        if is_too_big(e) {
                            // The rest of the frame is still arriving: the connection
                            // drains it after this close (net/conn.rs), so the client
                            // sees 1009 rather than a reset.
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
                            Ok(Ok(bytes)) => lag.written += bytes,
                            Ok(Err(_)) => return End::Client,
                            Err(_) => return End::Dropped,
                        }
                    }
                    _ = kill.cancelled() => {
                        if state.registry.epoch() != epoch {
                            return End::Shutdown;
                        }
                        return slow(session, socket, "slow consumer: outbound queue full").await;
                    }
                    _ = shutdown.cancelled() => return End::Shutdown,
                }
                if lag.unread() > limits.max_unread_bytes as u64 {
                    return slow(session, socket, "slow consumer: too far behind").await;
                }
                if lag.wants_ping() {
                    let first = lag.pings.is_empty();
                    if send_ping(socket, &mut lag).await.is_err() {
                        return End::Client;
                    }
                    if first {
                        clock.rearm(lag_due(&lag));
                    }
                }
            }
            _ = clock.timer.as_mut() => {
                let now = Instant::now();
                if lag_due(&lag).is_some_and(|d| d <= now) {
                    return slow(session, socket, "slow consumer: ping not answered").await;
                }
                if clock.token.1 <= now {
                    match clock.token.0 {
                        TokenStep::Warn => {
                            let (s, at) = token_step(auth.expires_at, true, limits.token_warning, leeway);
                            clock.token = (s, instant_of(at));
                            let frame = ServerMsg::AuthExpiring {
                                expires_at: iso(auth.expires_at.saturating_mul(1000)),
                                closes_in_secs: (at - now_ms()).max(0) / 1000,
                            }
                            .to_text();
                            if socket.send(Message::Text(frame.into())).await.is_err() {
                                return End::Client;
                            }
                        }
                        TokenStep::Close => {
                            tracing::info!(parent: &session.span(), "token expired without auth.refresh; closing the socket");
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close(socket, CLOSE_TOKEN_EXPIRED, "token expired")).await;
                            return End::Dropped;
                        }
                    }
                }
                if clock.ping_due <= now {
                    if last_heard.elapsed() >= limits.idle_timeout {
                        let _ = close(socket, CLOSE_GOING_AWAY, "idle timeout").await;
                        return End::Dropped;
                    }
                    clock.ping_due = now + limits.ping_interval;
                    if lag.pings.is_empty() && send_ping(socket, &mut lag).await.is_err() {
                        return End::Client;
                    }
                }
                clock.rearm(lag_due(&lag));
            }
            _ = kill.cancelled() => {
                if state.registry.epoch() != epoch {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close(socket, CLOSE_SERVICE_RESTART, "this node rejoined the cluster; reconnect")).await;
                    return End::Shutdown;
                }
                return slow(session, socket, "slow consumer: outbound queue full").await;
            }
            _ = shutdown.cancelled() => {
                let _ = close(socket, CLOSE_GOING_AWAY, "server shutting down").await;
                return End::Shutdown;
            }
        }
    }
}

/// Drops a slow client with 1008. The close frame follows whatever is still
/// buffered: it is written if the client reads within `CLOSE_TIMEOUT`, and the
/// connection then lingers `SLOW_CLOSE_LINGER` so the client can read up to it.
async fn slow(session: &Session, socket: &mut WebSocket, reason: &'static str) -> End {
    session.state.metrics.slow_consumers.inc();
    tracing::info!(parent: &session.span(), reason, "dropping a slow consumer");
    if let Some(conn) = &session.conn {
        conn.linger_for(SLOW_CLOSE_LINGER);
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close(socket, CLOSE_SLOW_CONSUMER, reason)).await;
    End::Dropped
}

async fn send_ping(socket: &mut WebSocket, lag: &mut Lag) -> Result<(), axum::Error> {
    let id = lag.ping();
    socket
        .send(Message::Ping(bytes::Bytes::copy_from_slice(&id.to_be_bytes())))
        .await
}

/// Writes `first` and whatever else is queued (up to `WRITE_BATCH` items),
/// then flushes once. Returns the bytes of text written.
async fn write_batch(
    socket: &mut WebSocket,
    rx: &flume::Receiver<Outbound>,
    first: Outbound,
) -> Result<u64, axum::Error> {
    let mut bytes = feed(socket, first).await?;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Ok(item) => bytes += feed(socket, item).await?,
            Err(_) => break,
        }
    }
    socket.flush().await?;
    Ok(bytes)
}

async fn feed(socket: &mut WebSocket, item: Outbound) -> Result<u64, axum::Error> {
    match item {
        Outbound::One(frame) => {
            let n = frame.len() as u64;
            socket.feed(Message::Text(frame)).await?;
            Ok(n)
        }
        Outbound::Batch(frames) => {
            let mut n = 0;
            for frame in frames.iter() {
                n += frame.len() as u64;
                socket.feed(Message::Text(frame.clone())).await?;
            }
            Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_warned_then_closed_after_the_leeway() {
        let w = Duration::from_secs(60);
        assert_eq!(token_step(1_000, false, w, 5), (TokenStep::Warn, 940_000));
        assert_eq!(token_step(1_000, true, w, 5), (TokenStep::Close, 1_005_000));
        // Absurd values saturate instead of overflowing.
        assert_eq!(token_step(i64::MAX, true, w, 5).0, TokenStep::Close);
        assert_eq!(token_step(i64::MIN, false, w, 5).0, TokenStep::Warn);
    }

    #[test]
    fn pongs_acknowledge_what_was_written_before_their_ping() {
        let mut lag = Lag::new(MAX_PINGS_IN_FLIGHT * 1000);
        const LAG_PING_BYTES: u64 = 1000;
        assert!(!lag.wants_ping());
        lag.written = LAG_PING_BYTES - 1;
        assert!(!lag.wants_ping());
        lag.written = LAG_PING_BYTES;
        assert!(lag.wants_ping());
        let first = lag.ping();
        assert!(!lag.wants_ping(), "nothing written since");
        lag.written += LAG_PING_BYTES;
        let second = lag.ping();
        lag.written += 10;
        assert_eq!(lag.unread(), 2 * LAG_PING_BYTES + 10);
        lag.pong(b"");
        lag.pong(&(second + 5).to_be_bytes()[..4]);
        assert_eq!(lag.pings.len(), 2, "malformed pongs acknowledge nothing");
        lag.pong(&first.to_be_bytes());
        assert_eq!(lag.unread(), LAG_PING_BYTES + 10, "read up to the first ping");
        assert_eq!(lag.pings.len(), 1);
        // A client may answer only the latest ping: it covers the earlier ones.
        let third = {
            lag.written += LAG_PING_BYTES;
            lag.ping()
        };
        lag.written += 7;
        lag.pong(&third.to_be_bytes());
        assert_eq!(lag.unread(), 7, "only what followed the third ping is unconfirmed");
        assert!(lag.pings.is_empty() && lag.oldest().is_none());
    }

    #[test]
    fn pings_in_flight_are_bounded() {
        let mut lag = Lag::new(MAX_PINGS_IN_FLIGHT * 1000);
        const LAG_PING_BYTES: u64 = 1000;
        for _ in 0..MAX_PINGS_IN_FLIGHT {
            lag.written += LAG_PING_BYTES;
            assert!(lag.wants_ping());
            lag.ping();
        }
        lag.written += LAG_PING_BYTES;
        assert!(!lag.wants_ping());
        assert_eq!(lag.unread(), (MAX_PINGS_IN_FLIGHT as u64 + 1) * LAG_PING_BYTES);
    }
}
