//! The delivery worker's timings and limits (docs/webhooks.md).

use std::time::Duration;

use crate::webhook::schedule::RETRY_SCHEDULE;

/// How often the worker looks for due messages (besides each emit).
pub const OUTBOX_TICK: Duration = Duration::from_secs(1);
/// How long one attempt may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker holds a message it is sending (longer than the timeout).
pub const ATTEMPT_LEASE: Duration = Duration::from_secs(30);
/// Attempts in flight at once per node.
pub const DELIVERY_CONCURRENCY: usize = 16;
/// Messages taken per look.
pub const DUE_BATCH: i64 = 100;

#[derive(Clone, Debug)]
pub struct OutboxSettings {
    /// Waits after each failed attempt ([`RETRY_SCHEDULE`]).
    pub schedule: Vec<Duration>,
    pub tick: Duration,
    pub request_timeout: Duration,
    pub lease: Duration,
    pub concurrency: usize,
    pub batch: i64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            schedule: RETRY_SCHEDULE.to_vec(),
            tick: OUTBOX_TICK,
            request_timeout: WEBHOOK_TIMEOUT,
            lease: ATTEMPT_LEASE,
            concurrency: DELIVERY_CONCURRENCY,
            batch: DUE_BATCH,
        }
    }
}
