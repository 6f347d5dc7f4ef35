//! Signed webhooks out (issue #12), the pure part and the seam: Standard Webhooks signatures, the retry schedule, the event names, and the sink events are emitted into.
//!
//! The outbox service (the `outbox` module) implements [`EventSink`]; the phone
//! service and the integrations emit into it without knowing it, and the
//! edge feeds it the in-app calls' event stream.

pub mod schedule;
pub mod signature;

/// The event types an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 5] = [
    "call.ringing",
    "call.answered",
    "call.ended",
    "sms.received",
    "integration.needs_reconnect",
];

/// Where events go: stored for every endpoint of the org subscribed to `event`, then delivered.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    /// Queues `event` (one of [`EVENT_TYPES`]) with `data` for the org's endpoints; returns once it is stored. Failures are logged, never raised.
    async fn emit(&self, org_id: &str, event: &str, data: serde_json::Value);
}

/// A sink that drops everything (tools and tests that need no webhooks).
pub struct NoSink;

#[async_trait::async_trait]
impl EventSink for NoSink {
    async fn emit(&self, _org_id: &str, _event: &str, _data: serde_json::Value) {}
}
