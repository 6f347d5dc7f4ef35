//! Opening client sockets: source-address rotation and small tungstenite buffers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;

/// Client read buffer: small, so the generator itself can hold 100k sockets.
pub const CLIENT_READ_BUFFER: usize = 4 * 1024;
/// Client write buffer: frames fed before a flush go out in one syscall.
pub const CLIENT_WRITE_BUFFER: usize = 16 * 1024;

/// Where the server is and which local addresses to connect from.
pub struct Dialer {
    server: SocketAddr,
    host: String,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Dialer {
    /// `base` is `http://host:port` (the host must be an IP address or `localhost`).
    pub fn new(base: &str, sources: Vec<Ipv4Addr>) -> anyhow::Result<Self> {
        let hostport = base
            .trim_end_matches('/')
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("ws://"))
            .context("--url must be http://host:port")?;
        let server: SocketAddr = hostport
            .replace("localhost", "127.0.0.1")
            .parse()
            .with_context(|| format!("--url host must be an IP address and port, got {hostport}"))?;
        Ok(Self {
            server,
            host: hostport.to_owned(),
            sources,
            next: AtomicUsize::new(0),
        })
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Opens a WebSocket to `path_and_query` from the next source address.
    pub async fn websocket(&self, path_and_query: &str) -> anyhow::Result<Ws> {
        let socket = TcpSocket::new_v4()?;
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket.bind(SocketAddr::new(IpAddr::V4(self.sources[i]), 0))?;
        }
        socket.set_nodelay(true)?;
        let stream = socket.connect(self.server).await?;
        let url = format!("ws://{}{}", self.host, path_and_query);
        let config = WebSocketConfig::default()
            .read_buffer_size(CLIENT_READ_BUFFER)
            .write_buffer_size(CLIENT_WRITE_BUFFER);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        Ok(ws)
    }
}
