//! One accepted TCP connection: the keep-alive idle deadline, and a lingering close.
//!
//! - **Idle.** While no request is in flight and the connection was not
//!   upgraded to a WebSocket, a connection on which no byte moved for
//!   `keepalive_timeout` is closed (reads fail with `TimedOut`, which makes
//!   hyper drop it). A socket has its own pings and idle timeout instead.
//! - **Lingering close.** Closing a TCP socket with unread bytes in its
//!   receive buffer makes the kernel send a reset, and a reset can destroy
//!   what the peer has not read yet, such as the close frame (1009) sent in
//!   answer to an oversize WebSocket frame, or a 413. So a connection whose
//!   last bytes were ours is not closed at once: its write side is shut (FIN
//!   after the last byte), and what still arrives is read and discarded until
//!   the peer closes, for at most `LINGER_TIMEOUT` (a slow consumer's socket:
//!   `SLOW_CLOSE_LINGER`) and `LINGER_MAX_BYTES`. A connection that sent the
//!   last bytes (a request that never completed) is closed at once.
//!
//! The connection's permit and its address's slot (`limits.rs`) are held until
//! the lingering ends: a lingering socket still holds a file descriptor.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A closed connection drains what its peer still sends for at most this long.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// … and at most this many bytes.
pub const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// What the HTTP layer tells the connection about itself (shared through a request extension).
#[derive(Default)]
pub struct ConnShared {
    /// Requests whose response is not fully written yet.
    in_flight: AtomicU32,
    /// The connection became a WebSocket: no HTTP deadlines any more.
    upgraded: AtomicBool,
    /// The idle deadline closed it (for the metrics).
    pub timed_out: AtomicBool,
    /// How long to linger when closed, in ms, if not `LINGER_TIMEOUT`.
    linger_ms: std::sync::atomic::AtomicU64,
}

/// A handle on the connection a request came over, for handlers (`Extension<ConnHandle>`).
#[derive(Clone, Default)]
pub struct ConnHandle(pub Arc<ConnShared>);

impl ConnHandle {
    /// The connection is being upgraded: its HTTP idle deadline no longer applies.
    pub fn mark_upgraded(&self) {
        self.0.upgraded.store(true, Ordering::Release);
    }

    /// Linger this long (instead of `LINGER_TIMEOUT`) when closed: a slow
    /// reader needs time to reach a close frame queued behind what it has not read.
    pub fn linger_for(&self, d: Duration) {
        self.0.linger_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// A request started; the guard ends it when the response (body included) is dropped.
    pub fn begin(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.0.clone())
    }
}

/// A request in flight on a connection.
pub struct InFlight(Arc<ConnShared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Held by a connection until it is fully closed: its permit and its address's slot.
pub struct Holds {
    pub permit: tokio::sync::OwnedSemaphorePermit,
    pub slot: Option<super::limits::IpSlot>,
}

/// The connection type served: a TCP stream with the idle deadline.
///
/// Costs nothing per read or write once the connection is a WebSocket: the
/// upgraded flag is cached and the idle timer freed on first sight of it.
pub struct Conn {
    stream: Option<TcpStream>,
    shared: Arc<ConnShared>,
    keepalive: Duration,
    /// Upgraded (cached from `shared`; it never goes back).
    upgraded: bool,
    /// Bytes moved since the idle deadline was last set.
    active: bool,
    /// The idle deadline, made when first needed.
    idle: Option<Pin<Box<Sleep>>>,
    holds: Option<Holds>,
    /// Bytes were written since the peer last sent any: it may not have read them yet.
    unread_by_peer: bool,
}

impl Conn {
    pub fn new(stream: TcpStream, keepalive: Duration, holds: Holds) -> Self {
        Self {
            stream: Some(stream),
            shared: Arc::default(),
            keepalive,
            upgraded: false,
            active: true,
            idle: None,
            holds: Some(holds),
            unread_by_peer: false,
        }
    }

    pub fn handle(&self) -> ConnHandle {
        ConnHandle(self.shared.clone())
    }

    /// On a read that would wait: `Err` once nothing moved for `keepalive`
    /// while no request was in flight.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.shared.upgraded.load(Ordering::Acquire) {
            self.upgraded = true;
            self.idle = None;
            return Ok(());
        }
        if self.shared.in_flight.load(Ordering::Acquire) > 0 {
            // The idle time starts when the response is done.
            self.active = true;
            return Ok(());
        }
        if self.active || self.idle.is_none() {
            self.active = false;
            let deadline = Instant::now() + self.keepalive;
            match &mut self.idle {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.idle = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        if let Some(sleep) = &mut self.idle
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.shared.timed_out.store(true, Ordering::Relaxed);
            return Err(io::Error::new(io::ErrorKind::TimedOut, "keep-alive idle timeout"));
        }
        Ok(())
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    fn wrote(&mut self, r: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = r
            && *n > 0
        {
            self.active = true;
            self.unread_by_peer = true;
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(this.stream()?).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.active = true;
                    this.unread_by_peer = false;
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.upgraded => Poll::Pending,
            Poll::Pending => match this.poll_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(this.stream()?).poll_write(cx, buf);
        this.wrote(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(this.stream()?).poll_write_vectored(cx, bufs);
        this.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let (Some(stream), holds) = (self.stream.take(), self.holds.take()) else {
            return;
        };
        if !self.unread_by_peer {
            // Nothing of ours for the peer to read (a request that never
            // completed, a peer that closed first): close at once.
            drop(stream);
            return;
        }
        let linger_for = match self.shared.linger_ms.load(Ordering::Relaxed) {
            0 => LINGER_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(linger(stream, holds, linger_for));
            }
            Err(_) => drop(stream),
        }
    }
}

/// Shuts the write side, then reads and discards until the peer closes (or
/// the linger limits run out), then closes: no reset over unread data.
pub async fn linger(mut stream: TcpStream, holds: Option<Holds>, linger_for: Duration) {
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let mut drained = 0usize;
    let deadline = Instant::now() + linger_for;
    while drained < LINGER_MAX_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => drained += n,
        }
    }
    drop(stream);
    drop(holds);
}
