//! What a crash can leave behind, finished: calls placed but never named by Twilio, texts never handed to it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::model::Millis;
use crate::phone::calls::{self, StatusReport};

use super::Telephony;

/// A placement whose CallSid is still unknown this long after it was written died with its process (Twilio answers in seconds).
pub const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the phone sweeper looks.
pub const PHONE_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Most rows one sweep ends.
const SWEEP_BATCH: i64 = 500;

impl Telephony {
    /// Ends placements left pending before `now - PLACEMENT_TIMEOUT` as FAILED and fails texts never sent; how many calls.
    pub async fn sweep_once(&self, now: Millis) -> Result<usize> {
        let before = now - PLACEMENT_TIMEOUT.as_millis() as Millis;
        let failed = StatusReport {
            status: "failed",
            ..StatusReport::default()
        };
        let stale = self.store.stale_pending_calls(before, SWEEP_BATCH).await?;
        let mut ended = 0;
        for call in &stale {
            if self
                .advance(&call.id, |c| calls::on_status(c, &failed, now))
                .await?
                .is_some()
            {
                ended += 1;
            }
        }
        let texts = self.store.fail_unsent_messages(before, now).await?;
        self.shrink_limiter();
        if ended > 0 || texts > 0 {
            tracing::warn!(
                calls = ended,
                texts,
                "ended phone work a previous process left unfinished"
            );
        }
        Ok(ended)
    }

    /// Sweeps every [`PHONE_SWEEP_INTERVAL`] until `stop`.
    pub async fn run_sweeper(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PHONE_SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.sweep_once(crate::clock::now_ms()).await {
                        tracing::warn!(error = %e, "phone sweep failed");
                    }
                }
            }
        }
    }
}
