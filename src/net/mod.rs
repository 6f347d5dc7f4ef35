//! The network edge: accepting TCP connections and serving HTTP/1.1 (and WebSocket upgrades) on them.
//!
//! axum's `serve` offers no timeouts, so the accept loop is ours, on hyper's
//! own HTTP/1 connection. Every limit is a named setting (docs/api.md,
//! "Connections"):
//!
//! | limit | setting | what happens |
//! |---|---|---|
//! | connections | `SWITCHBOARD_MAX_CONNECTIONS` | further ones wait in the accept queue |
//! | connections per client address | `SWITCHBOARD_MAX_CONNECTIONS_PER_IP` | `429 too_many_connections`, closed |
//! | request headers | `SWITCHBOARD_HEADER_TIMEOUT_SECS` | closed if a request's headers are not complete this long after the connection began waiting for it |
//! | keep-alive idle | `SWITCHBOARD_KEEPALIVE_TIMEOUT_SECS` | closed when nothing moved this long between requests |
//!
//! HTTP/2 is not served: a reverse proxy in front speaks HTTP/1.1 upstream.

pub mod conn;
pub mod limits;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use self::conn::Conn;
use self::limits::PerIp;
use crate::metrics::Metrics;

/// Pause after an accept error such as EMFILE, so the loop does not spin.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// On shutdown, requests in flight get this long to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Default `SWITCHBOARD_HEADER_TIMEOUT_SECS`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `SWITCHBOARD_KEEPALIVE_TIMEOUT_SECS`.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `SWITCHBOARD_MAX_CONNECTIONS_PER_IP`.
pub const MAX_CONNECTIONS_PER_IP: usize = 1000;
/// Largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The edge's limits.
#[derive(Clone, Debug)]
pub struct NetSettings {
    pub max_connections: usize,
    /// 0: no per-address cap.
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for NetSettings {
    fn default() -> Self {
        Self {
            max_connections: crate::config::MAX_CONNECTIONS,
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP,
            header_timeout: HEADER_TIMEOUT,
            keepalive_timeout: KEEPALIVE_TIMEOUT,
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in flight finish (up to `SHUTDOWN_GRACE`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    net: NetSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(net.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let per_ip = Arc::new(PerIp::default());
    let tracker = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(net.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true);
    let http = Arc::new(http);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(slot) = per_ip.acquire(peer.ip(), net.max_connections_per_ip) else {
            metrics.connections_refused.inc();
            limits::refuse(stream, net.max_connections_per_ip);
            continue;
        };
        let conn = Conn::new(stream, net.keepalive_timeout, conn::Holds { permit, slot });
        tracker.spawn(serve_one(
            conn,
            peer,
            router.clone(),
            http.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
    Ok(())
}

async fn serve_one(
    conn: Conn,
    peer: SocketAddr,
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let handle = conn.handle();
    let shared = handle.0.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let in_flight = handle.begin();
        req.extensions_mut().insert(handle.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            // The request counts as in flight until its body is written (or dropped).
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &in_flight;
                    frame
                }))
            }))
        }
    });
    let connection = http.serve_connection(TokioIo::new(conn), service).with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        if e.is_timeout() || shared.timed_out.load(Ordering::Relaxed) {
            metrics.connections_timed_out.inc();
        } else {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}
