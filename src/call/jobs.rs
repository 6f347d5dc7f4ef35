//! Background jobs of the call layer: the sweeper (deadlines whose timer died) and recovery after a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::machine::{Actor, Command};
use super::rules::{self, AfterRestart};
use super::service::CallService;
use crate::clock::now_ms;
use crate::error::Result;
use crate::model::Millis;

/// Calls handled per sweep and kind; the rest wait for the next sweep.
pub const SWEEP_BATCH: i64 = 500;

impl CallService {
    /// One sweep: expires calls whose ring or grace deadline passed.
    /// Returns how many calls it ended.
    pub async fn sweep_once(self: &Arc<Self>) -> Result<usize> {
        let now = now_ms();
        let mut ended = 0;
        for call in self.store.ring_due(now, SWEEP_BATCH).await? {
            if self
                .transition(&call.id, None, Actor::System, Command::RingTimeout)
                .await
                .is_ok()
            {
                ended += 1;
            }
        }
        for call in self.store.grace_due(now, SWEEP_BATCH).await? {
            if self
                .transition(&call.id, None, Actor::System, Command::GraceExpired)
                .await
                .is_ok()
            {
                ended += 1;
            }
        }
        self.limiter_shrink();
        Ok(ended)
    }

    /// Runs the sweeper every `interval` until `stop`.
    pub async fn run_sweeper(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.sweep_once().await {
                        tracing::warn!(error = %e, "sweep failed");
                    }
                }
            }
        }
    }

    /// After a restart of this node: every active call it created gets the
    /// reconnect grace with reason `server_restart`; ringing calls keep their
    /// deadlines (the sweeper ends them). Returns how many calls it touched.
    pub async fn recover_after_restart(self: &Arc<Self>) -> Result<usize> {
        let calls = self.store.open_calls_of_node(&self.member.member()).await?;
        let grace_ms = self.settings.reconnect_grace.as_millis() as Millis;
        let mut touched = 0;
        for call in calls {
            match rules::after_restart(&call, grace_ms) {
                AfterRestart::Run(cmd) => {
                    if self.transition(&call.id, None, Actor::System, cmd).await.is_ok() {
                        touched += 1;
                    }
                }
                AfterRestart::Arm { deadline, cmd } => {
                    self.open.loaded(&call);
                    self.schedule(&call.id, deadline, cmd);
                    touched += 1;
                }
                AfterRestart::Nothing => {}
            }
        }
        Ok(touched)
    }

    pub fn pending_timers(&self) -> usize {
        self.open.timers()
    }

    /// `(ringing, active)` calls in the store now.
    pub async fn open_counts(&self) -> Result<(i64, i64)> {
        self.store.open_call_counts().await
    }
}
