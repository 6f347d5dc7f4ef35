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

/// Where the servers (nodes) are and which local addresses to connect from.
pub struct Dialer {
    servers: Vec<(SocketAddr, String)>,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
    next_server: AtomicUsize,
}

/// `http://host:port` → the address and `host:port` (the host must be an IP address or `localhost`).
fn parse_base(base: &str) -> anyhow::Result<(SocketAddr, String)> {
    let hostport = base
        .trim_end_matches('/')
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("ws://"))
        .context("--url must be http://host:port")?;
    let server: SocketAddr = hostport
        .replace("localhost", "127.0.0.1")
        .parse()
        .with_context(|| format!("--url host must be an IP address and port, got {hostport}"))?;
    Ok((server, hostport.to_owned()))
}

impl Dialer {
    /// One or more `http://host:port` (the nodes of one deployment).
    pub fn new(bases: &[String], sources: Vec<Ipv4Addr>) -> anyhow::Result<Self> {
        let servers = bases
            .iter()
            .map(|b| parse_base(b))
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!servers.is_empty(), "give at least one --url");
        Ok(Self {
            servers,
            sources,
            next: AtomicUsize::new(0),
            next_server: AtomicUsize::new(0),
        })
    }

    /// The first node.
    pub fn server(&self) -> SocketAddr {
        self.servers[0].0
    }

    /// Every node.
    pub fn servers(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|(a, _)| *a).collect()
    }

    pub fn nodes(&self) -> usize {
        self.servers.len()
    }

    /// The next node, round robin.
    pub fn next_node(&self) -> usize {
        self.next_server.fetch_add(1, Ordering::Relaxed)
    }

    /// Opens a WebSocket to `path_and_query` on the next node (round robin).
    pub async fn websocket(&self, path_and_query: &str) -> anyhow::Result<Ws> {
        self.websocket_on(self.next_node(), path_and_query).await
    }

    /// Opens a WebSocket to `path_and_query` on node `k` (modulo the nodes), from the next source address.
    pub async fn websocket_on(&self, k: usize, path_and_query: &str) -> anyhow::Result<Ws> {
        let (server, host) = &self.servers[k % self.servers.len()];
        let socket = TcpSocket::new_v4()?;
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket.bind(SocketAddr::new(IpAddr::V4(self.sources[i]), 0))?;
        }
        socket.set_nodelay(true)?;
        let stream = socket.connect(*server).await?;
        let url = format!("ws://{host}{path_and_query}");
        let config = WebSocketConfig::default()
            .read_buffer_size(CLIENT_READ_BUFFER)
            .write_buffer_size(CLIENT_WRITE_BUFFER);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        Ok(ws)
    }
}
