//! The sync job's limits and timings (`SYNC_*` flags; docs/integrations.md).

use std::time::Duration;

/// How often each integration is synced unless asked (`SYNC_INTERVAL_SECS`).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How often the scheduler looks for due integrations.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(30);
/// How far back each window reaches before the last one's end, so a call that
/// began before the last sync and was logged after it is fetched (`SYNC_OVERLAP_SECS`).
pub const SYNC_OVERLAP: Duration = Duration::from_secs(2 * 3600);
/// How far back a first sync reaches (`SYNC_INITIAL_DAYS`).
pub const SYNC_INITIAL_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a sync's lease lasts without a renewal (each page renews it).
pub const SYNC_LEASE_TTL: Duration = Duration::from_secs(120);
/// Tokens expiring sooner than this are refreshed before a sync starts.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Longest `Retry-After` waited inside one sync; a longer one ends the sync (the next run resumes).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(90);
/// Most `429`s one sync absorbs before it gives up.
pub const MAX_RATE_LIMITED: u32 = 5;
/// Requests a sync makes per minute at most (RingCentral's "Heavy" group allows 10) (`SYNC_REQUESTS_PER_MINUTE`).
pub const SYNC_REQUESTS_PER_MINUTE: u32 = 10;
/// Most pages one sync reads (a runaway next-page chain stops here).
pub const SYNC_MAX_PAGES: u32 = 10_000;

#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub interval: Duration,
    pub tick: Duration,
    pub overlap: Duration,
    pub initial_lookback: Duration,
    pub lease_ttl: Duration,
    pub refresh_margin: Duration,
    pub max_retry_after: Duration,
    pub max_rate_limited: u32,
    pub requests_per_minute: u32,
    pub max_pages: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            interval: SYNC_INTERVAL,
            tick: SCHEDULER_TICK,
            overlap: SYNC_OVERLAP,
            initial_lookback: SYNC_INITIAL_LOOKBACK,
            lease_ttl: SYNC_LEASE_TTL,
            refresh_margin: REFRESH_MARGIN,
            max_retry_after: MAX_RETRY_AFTER,
            max_rate_limited: MAX_RATE_LIMITED,
            requests_per_minute: SYNC_REQUESTS_PER_MINUTE,
            max_pages: SYNC_MAX_PAGES,
        }
    }
}

impl SyncSettings {
    /// The least time between two requests of one sync.
    pub fn request_gap(&self) -> Duration {
        Duration::from_millis(60_000 / u64::from(self.requests_per_minute.max(1)))
    }

    /// The window of the next sync: `[from, to)`, pure.
    pub fn window(&self, synced_to: Option<i64>, now: i64) -> (i64, i64) {
        let from = match synced_to {
            Some(t) => t.min(now) - self.overlap.as_millis() as i64,
            None => now - self.initial_lookback.as_millis() as i64,
        };
        (from, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_the_last_one_and_a_first_sync_looks_back() {
        let s = SyncSettings::default();
        let now = 10 * 24 * 3600 * 1000;
        assert_eq!(s.window(None, now), (now - 7 * 24 * 3600 * 1000, now));
        let last = now - 15 * 60 * 1000;
        let (from, to) = s.window(Some(last), now);
        assert_eq!((from, to), (last - 2 * 3600 * 1000, now));
        // A cursor ahead of the clock (a skewed node) never makes the window start in the future.
        assert_eq!(s.window(Some(now + 60_000), now).0, now - 2 * 3600 * 1000);
    }

    #[test]
    fn the_request_gap_follows_the_per_minute_budget() {
        let mut s = SyncSettings::default();
        assert_eq!(s.request_gap(), Duration::from_secs(6));
        s.requests_per_minute = 6000;
        assert_eq!(s.request_gap(), Duration::from_millis(10));
        s.requests_per_minute = 0;
        assert_eq!(s.request_gap(), Duration::from_secs(60));
    }
}
