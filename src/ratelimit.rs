//! Per-user rate limits (a GCRA token bucket from `governor`, keyed by tenant and user): starting in-app calls, placing phone calls and sending texts.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{Error, ErrorCode, Result};

/// Limits how often each user may do one kind of thing.
pub struct UserLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    /// The refusal's message.
    refusal: &'static str,
}

impl UserLimiter {
    /// `per_minute` sustained, `burst` at once (both at least 1); a refusal says `refusal`.
    pub fn new(per_minute: u32, burst: u32, refusal: &'static str) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            refusal,
        }
    }

    pub fn check(&self, tenant_id: &str, user_id: &str) -> Result<()> {
        let mut key = String::with_capacity(tenant_id.len() + user_id.len() + 1);
        key.push_str(tenant_id);
        key.push('\u{1f}');
        key.push_str(user_id);
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::new(ErrorCode::RateLimited, self.refusal).retry_after(wait.as_secs_f64().ceil() as u32)
        })
    }

    /// Forgets users whose bucket is full again (keeps memory bounded).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_per_user() {
        let l = UserLimiter::new(60, 3, "slow down");
        for _ in 0..3 {
            assert!(l.check("t", "u").is_ok());
        }
        let refused = l.check("t", "u").unwrap_err();
        assert_eq!(refused.code(), ErrorCode::RateLimited);
        assert_eq!(refused.public_message(), "slow down");
        // One call a second sustained: the next is possible within a second.
        assert_eq!(refused.retry_after_secs(), Some(1));
        // Another user, and the same id in another tenant, have their own buckets.
        assert!(l.check("t", "v").is_ok());
        assert!(l.check("t2", "u").is_ok());
    }
}
