//! Prometheus metrics (`GET /metrics`): sockets, calls by status, call-setup latency.
//!
//! One registry per server instance (no global recorder), so tests that boot
//! several servers in one process each read their own numbers.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::CallStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Sockets open on this node (set at scrape time from the presence registry).
    pub sockets: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Calls that reached each status.
    pub calls: Family<StatusLabel, Counter>,
    /// Calls RINGING / ACTIVE now (set at scrape time from the store).
    pub calls_open: Family<StatusLabel, Gauge<i64, std::sync::atomic::AtomicI64>>,
    /// From a start request's arrival to `call.incoming` queued on the callee's sockets.
    pub call_setup_seconds: Histogram,
    /// Errors sent to clients, by code.
    pub errors: Family<CodeLabel, Counter>,
    /// Socket frames received.
    pub frames_in: Counter<u64, AtomicU64>,
    /// `rtc.signal` frames relayed.
    pub relayed: Counter<u64, AtomicU64>,
    /// Cluster mode: frames and presence writes for other nodes dropped (queue full, Redis refused; set at scrape time).
    pub cluster_dropped: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Call writes refused by the row's version (another device or node wrote first; the write re-reads).
    pub stale_writes: Counter<u64, AtomicU64>,
    /// Sockets dropped as slow consumers (queue, unread bytes or lag over the limit).
    pub slow_consumers: Counter<u64, AtomicU64>,
    /// TCP connections refused at accept because their address held too many.
    pub connections_refused: Counter<u64, AtomicU64>,
    /// HTTP connections closed for taking too long over a request's headers or idling.
    pub connections_timed_out: Counter<u64, AtomicU64>,
    /// Resident memory of the process (set at scrape time from /proc/self/status).
    pub resident_bytes: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Calls with media in the embedded SFU (set at scrape time).
    pub media_rooms: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// WebRTC connections open in the embedded SFU (set at scrape time).
    pub media_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let sockets = Gauge::default();
        let calls = Family::default();
        let calls_open = Family::default();
        // 50 µs … ~3.3 s.
        let call_setup_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 17));
        let errors = Family::default();
        let frames_in = Counter::default();
        let relayed = Counter::default();
        let slow_consumers = Counter::default();
        let stale_writes = Counter::default();
        let cluster_dropped = Gauge::default();
        let connections_refused = Counter::default();
        let connections_timed_out = Counter::default();
        let resident_bytes = Gauge::default();
        let media_rooms = Gauge::default();
        let media_connections = Gauge::default();
        registry.register("sockets", "Signaling sockets open on this node", sockets.clone());
        registry.register("calls", "Calls that reached each status", calls.clone());
        registry.register("calls_open", "Calls ringing or active now", calls_open.clone());
        registry.register(
            "call_setup_seconds",
            "Start-call request to call.incoming queued for the callee",
            call_setup_seconds.clone(),
        );
        registry.register("errors", "Errors returned to clients, by code", errors.clone());
        registry.register("frames_in", "Socket frames received", frames_in.clone());
        registry.register("relayed", "rtc.signal frames relayed", relayed.clone());
        registry.register(
            "cluster_dropped",
            "Cluster mode: messages for other nodes dropped (queue full or Redis refused)",
            cluster_dropped.clone(),
        );
        registry.register(
            "stale_writes",
            "Call writes refused by the row's version (the fence); each re-read and retried",
            stale_writes.clone(),
        );
        registry.register(
            "slow_consumers",
            "Sockets dropped as slow consumers",
            slow_consumers.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused: too many from one address",
            connections_refused.clone(),
        );
        registry.register(
            "connections_timed_out",
            "HTTP connections closed by the header or keep-alive timeout",
            connections_timed_out.clone(),
        );
        registry.register(
            "process_resident_bytes",
            "Resident memory of the server process",
            resident_bytes.clone(),
        );
        registry.register(
            "media_rooms",
            "Calls with media in the embedded SFU",
            media_rooms.clone(),
        );
        registry.register(
            "media_connections",
            "WebRTC connections open in the embedded SFU",
            media_connections.clone(),
        );
        Self {
            registry,
            sockets,
            calls,
            calls_open,
            call_setup_seconds,
            errors,
            frames_in,
            relayed,
            slow_consumers,
            stale_writes,
            cluster_dropped,
            connections_refused,
            connections_timed_out,
            resident_bytes,
            media_rooms,
            media_connections,
        }
    }

    pub fn call_reached(&self, status: CallStatus) {
        self.calls
            .get_or_create(&StatusLabel {
                status: status.as_str(),
            })
            .inc();
    }

    pub fn error(&self, code: &'static str) {
        self.errors.get_or_create(&CodeLabel { code }).inc();
    }

    /// The text exposition format (refreshes the process gauges first).
    pub fn render(&self) -> String {
        if let Some(rss) = resident_bytes() {
            self.resident_bytes.set(rss as i64);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Resident set size of this process (`VmRSS` of /proc/self/status; Linux only).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
