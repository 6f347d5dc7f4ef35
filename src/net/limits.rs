//! Connection caps: all connections (a permit taken before `accept`, as mini-redis does) and per client address.
//!
//! Past the global cap, new connections wait in the kernel's accept queue.
//! Past the per-address cap, a new connection gets an immediate
//! `429 too_many_connections` (JSON, with `Retry-After`) and is closed, so one
//! address can never hold every slot. Behind a reverse proxy every client has
//! the proxy's address: there, set the per-address cap to 0 (off) and cap
//! per client at the proxy.

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::conn::linger;

/// `Retry-After` seconds sent with a refused connection.
pub const REFUSED_RETRY_AFTER_SECS: u32 = 1;

/// Open connections per client address.
#[derive(Default)]
pub struct PerIp {
    counts: DashMap<IpAddr, u32>,
}

/// One connection's slot of its address; given back on drop.
pub struct IpSlot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Takes a slot for `ip` unless it holds `max` already (0: no cap).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Option<IpSlot>> {
        if max == 0 {
            return Some(None);
        }
        let mut n = self.counts.entry(ip).or_insert(0);
        if *n as usize >= max {
            return None;
        }
        *n += 1;
        Some(Some(IpSlot { map: self.clone(), ip }))
    }

    /// Connections `ip` holds now.
    pub fn held(&self, ip: IpAddr) -> u32 {
        self.counts.get(&ip).map_or(0, |n| *n)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        self.map.counts.remove_if_mut(&self.ip, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// The response a refused connection gets before it is closed.
pub fn refusal(max: usize) -> Vec<u8> {
    let body = format!(
        "{{\"error\":{{\"code\":\"too_many_connections\",\"message\":\"this address already holds {max} connections\"}}}}"
    );
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: {REFUSED_RETRY_AFTER_SECS}\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a refused connection and closes it without a reset (in its own task).
pub fn refuse(mut stream: TcpStream, max: usize) {
    tokio::spawn(async move {
        let response = refusal(max);
        let _ = tokio::time::timeout(super::conn::LINGER_TIMEOUT, stream.write_all(&response)).await;
        linger(stream, None, super::conn::LINGER_TIMEOUT).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_per_address_are_capped_and_given_back() {
        let map = Arc::new(PerIp::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = map.acquire(a, 2).unwrap();
        let s2 = map.acquire(a, 2).unwrap();
        assert!(map.acquire(a, 2).is_none());
        assert!(map.acquire(b, 2).is_some());
        drop(s1);
        assert_eq!(map.held(a), 1);
        assert!(map.acquire(a, 2).is_some(), "freed");
        drop(s2);
        assert!(matches!(map.acquire(a, 0), Some(None)), "0: no cap, nothing counted");
        assert_eq!(map.held(a), 0);
        assert!(map.counts.is_empty());
    }

    #[test]
    fn the_refusal_is_a_complete_json_response() {
        let text = String::from_utf8(refusal(7)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "));
        assert!(head.contains("retry-after: 1"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "too_many_connections");
    }
}
