//! One UDP port for every peer connection: datagrams are routed by ICE ufrag, then by remote address.
//!
//! webrtc 0.21 has no UDP mux, but it lets each peer connection use its own
//! `Runtime`. Each connection gets a `MuxRuntime` whose UDP socket is virtual:
//! it sends through the shared socket and receives what the shared socket's
//! reader routes to it. A STUN binding request names the local ufrag
//! (`USERNAME = <ours>:<theirs>`, and each connection pins its ufrag), which
//! routes the first packets; from then on the remote address does. An address
//! the connection sends STUN to is routed to it too (the answers to its own
//! checks name no ufrag); ICE sends STUN to an address before it can become
//! the selected pair's, so DTLS and media need no routing work. The
//! connection still binds a placeholder socket (its candidates are rewritten to
//! the shared port, see `candidates`), released with the connection.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime, TokioRuntime,
    Transmit,
};

/// Datagrams queued for one peer connection; beyond this they are dropped, as UDP would.
pub const PER_CONNECTION_QUEUE: usize = 1024;
/// Largest datagram read from the shared socket.
pub const MAX_DATAGRAM: usize = 2048;

type Route = mpsc::Sender<(Bytes, SocketAddr)>;

#[derive(Default)]
struct Routes {
    by_ufrag: HashMap<String, Route>,
    by_addr: HashMap<SocketAddr, String>,
}

/// The shared UDP socket and its routing table.
pub struct UdpMux {
    socket: tokio::net::UdpSocket,
    routes: Mutex<Routes>,
    stop: CancellationToken,
}

/// A STUN message (RFC 7983 demultiplexing): top two bits zero, the magic
/// cookie at 4..8, a 20-byte header.
fn is_stun(b: &[u8]) -> bool {
    b.len() >= 20 && b[0] & 0xC0 == 0 && b[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// The local ufrag of a STUN message's USERNAME (`<local>:<remote>`), if it is one.
pub fn stun_local_ufrag(b: &[u8]) -> Option<&str> {
    if !is_stun(b) {
        return None;
    }
    let mut i = 20;
    while i + 4 <= b.len() {
        let typ = u16::from_be_bytes([b[i], b[i + 1]]);
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let value = b.get(i + 4..i + 4 + len)?;
        if typ == 0x0006 {
            return std::str::from_utf8(value).ok()?.split(':').next();
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    None
}

impl UdpMux {
    /// Binds the shared socket and starts routing (until `stop`).
    pub async fn bind(addr: SocketAddr, stop: CancellationToken) -> io::Result<Arc<Self>> {
        let mux = Arc::new(Self {
            socket: tokio::net::UdpSocket::bind(addr).await?,
            routes: Mutex::new(Routes::default()),
            stop,
        });
        let reader = mux.clone();
        tokio::spawn(async move { reader.route().await });
        Ok(mux)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Peer connections currently routed.
    pub fn connections(&self) -> usize {
        self.routes.lock().map(|r| r.by_ufrag.len()).unwrap_or(0)
    }

    async fn route(&self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = self.socket.recv_from(&mut buf) => r,
            };
            let Ok((n, from)) = received else { continue };
            let data = &buf[..n];
            let tx = {
                let Ok(mut routes) = self.routes.lock() else { return };
                let Routes { by_ufrag, by_addr } = &mut *routes;
                match stun_local_ufrag(data).and_then(|u| Some((u, by_ufrag.get(u)?))) {
                    Some((ufrag, tx)) => {
                        // A String is allocated only when the address is new or moves.
                        if by_addr.get(&from).is_none_or(|u| u != ufrag) {
                            by_addr.insert(from, ufrag.to_owned());
                        }
                        Some(tx.clone())
                    }
                    None => by_addr.get(&from).and_then(|u| by_ufrag.get(u)).cloned(),
                }
            };
            if let Some(tx) = tx {
                let _ = tx.try_send((Bytes::copy_from_slice(data), from));
            }
        }
    }
}

/// One peer connection's virtual socket on the shared port.
struct MuxedSocket {
    mux: Arc<UdpMux>,
    ufrag: String,
    /// The placeholder socket's address: what the ICE agent believes it is bound to.
    local: SocketAddr,
    _placeholder: std::net::UdpSocket,
    rx: Mutex<mpsc::Receiver<(Bytes, SocketAddr)>>,
}

impl std::fmt::Debug for MuxedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxedSocket").field("ufrag", &self.ufrag).finish()
    }
}

impl Drop for MuxedSocket {
    fn drop(&mut self) {
        if let Ok(mut r) = self.mux.routes.lock() {
            r.by_ufrag.remove(&self.ufrag);
            r.by_addr.retain(|_, u| u != &self.ufrag);
        }
    }
}

impl AsyncUdpSocket for MuxedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn poll_send(&self, cx: &mut Context<'_>, t: &Transmit<'_>) -> Poll<io::Result<usize>> {
        // Only STUN (see the module docs): DTLS and media take no lock. The
        // socket reports no GSO, so a transmit is one datagram.
        if is_stun(t.contents)
            && let Ok(mut r) = self.mux.routes.lock()
        {
            r.by_addr.entry(t.destination).or_insert_with(|| self.ufrag.clone());
        }
        self.mux.socket.poll_send_to(cx, t.contents, t.destination)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let Ok(mut rx) = self.rx.lock() else {
            return Poll::Ready(Err(io::Error::other("mux poisoned")));
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some((data, from))) => {
                let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
                    return Poll::Ready(Ok(0));
                };
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                let mut out = RecvMeta::default();
                out.addr = from;
                out.len = n;
                out.stride = n.max(1);
                *m = out;
                Poll::Ready(Ok(1))
            }
            Poll::Ready(None) => Poll::Ready(Err(io::Error::other("mux closed"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The runtime of one peer connection: tokio for everything but its UDP socket.
pub struct MuxRuntime {
    inner: TokioRuntime,
    mux: Arc<UdpMux>,
    /// The ICE ufrag this connection is pinned to (routes its STUN traffic).
    pub ufrag: String,
    /// Ports of the connection's placeholder sockets (one per interface when
    /// bound to a wildcard address); all are rewritten to the shared port.
    placeholder_ports: Mutex<Vec<u16>>,
}

impl std::fmt::Debug for MuxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxRuntime").field("ufrag", &self.ufrag).finish()
    }
}

impl MuxRuntime {
    pub fn new(mux: Arc<UdpMux>, ufrag: String) -> Self {
        Self {
            inner: TokioRuntime,
            mux,
            ufrag,
            placeholder_ports: Mutex::new(Vec::new()),
        }
    }

    /// The placeholder ports the ICE agent advertises (to rewrite).
    pub fn placeholder_ports(&self) -> Vec<u16> {
        self.placeholder_ports.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn shared_port(&self) -> Option<u16> {
        self.mux.local_addr().ok().map(|a| a.port())
    }
}

impl Runtime for MuxRuntime {
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(f)
    }

    fn wrap_udp_socket(&self, s: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let local = s.local_addr()?;
        if let Ok(mut p) = self.placeholder_ports.lock() {
            p.push(local.port());
        }
        let (tx, rx) = mpsc::channel(PER_CONNECTION_QUEUE);
        if let Ok(mut r) = self.mux.routes.lock() {
            // One route per connection: its first socket takes its traffic
            // (with a wildcard bind the agent opens one socket per interface).
            r.by_ufrag.entry(self.ufrag.clone()).or_insert(tx);
        }
        Ok(Arc::new(MuxedSocket {
            mux: self.mux.clone(),
            ufrag: self.ufrag.clone(),
            local,
            _placeholder: s,
            rx: Mutex::new(rx),
        }))
    }

    fn wrap_tcp_listener(&self, l: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(l)
    }

    fn connect_tcp<'a>(
        &'a self,
        a: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(a)
    }

    fn resolve_host<'a>(
        &'a self,
        h: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(h)
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(d)
    }

    fn interval(&self, p: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(p)
    }

    fn block_on(&self, f: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(f)
    }

    fn name(&self) -> &'static str {
        "tokio+udpmux"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut b = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
        b.extend_from_slice(&[7; 12]); // transaction id
        let v = username.as_bytes();
        b.extend_from_slice(&[0x00, 0x06]);
        b.extend_from_slice(&(v.len() as u16).to_be_bytes());
        b.extend_from_slice(v);
        b.resize(b.len() + (4 - v.len() % 4) % 4, 0);
        let len = (b.len() - 20) as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b
    }

    #[test]
    fn reads_the_local_ufrag_of_a_binding_request() {
        assert_eq!(stun_local_ufrag(&binding_request("abcd1234:remote")), Some("abcd1234"));
        assert_eq!(stun_local_ufrag(&binding_request("x:y")), Some("x"));
    }

    #[test]
    fn tells_stun_from_dtls_and_rtp() {
        assert!(is_stun(&binding_request("a:b")));
        // A binding success response: no USERNAME, still STUN.
        let mut response = vec![0x01, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
        response.extend_from_slice(&[7; 12]);
        assert!(is_stun(&response));
        let mut dtls = vec![22, 254, 253];
        dtls.resize(40, 0);
        assert!(!is_stun(&dtls), "DTLS");
        let mut rtp = vec![0x80, 0x6f];
        rtp.resize(40, 0);
        rtp[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        assert!(!is_stun(&rtp), "RTP, even with the cookie's bytes");
        assert!(!is_stun(&response[..19]), "short");
    }

    #[test]
    fn ignores_rtp_dtls_and_garbage() {
        assert_eq!(stun_local_ufrag(&[0x80, 0x60, 0, 1, 0, 0, 0, 0]), None, "RTP");
        assert_eq!(stun_local_ufrag(&[22, 254, 253]), None, "DTLS");
        assert_eq!(stun_local_ufrag(&[]), None);
        let mut truncated = binding_request("abc:def");
        truncated.truncate(26);
        assert_eq!(stun_local_ufrag(&truncated), None);
        let mut wrong_cookie = binding_request("abc:def");
        wrong_cookie[4] = 0;
        assert_eq!(stun_local_ufrag(&wrong_cookie), None);
    }
}
