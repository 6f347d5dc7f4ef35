//! Ring and grace timers: one sleeping task per open call, cancelled when no longer needed.
//!
//! Timers only make deadlines prompt. The deadlines themselves live in the
//! call row, and the sweeper enforces them even if this node dies.

use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio::task::AbortHandle;

use super::machine::{Actor, Command};
use super::service::CallService;
use crate::clock::now_ms;
use crate::model::Millis;

/// Pending timers by call id (a call rings or is in grace, never both).
#[derive(Default)]
pub struct Timers {
    pending: DashMap<String, AbortHandle>,
}

impl Timers {
    /// Runs `cmd` on `call_id` as the server at `deadline` (replacing any timer of that call).
    pub fn schedule(&self, service: &Arc<CallService>, call_id: &str, deadline: Millis, cmd: Command) {
        let weak: Weak<CallService> = Arc::downgrade(service);
        let id = call_id.to_owned();
        let wait = Duration::from_millis(deadline.saturating_sub(now_ms()).max(0) as u64);
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(service) = weak.upgrade() {
                service.timers.pending.remove(&id);
                // NotDue / Ended mean somebody else got there first: fine.
                let _ = service.transition(&id, None, Actor::System, cmd).await;
            }
        });
        if let Some(old) = self.pending.insert(call_id.to_owned(), task.abort_handle()) {
            old.abort();
        }
    }

    pub fn cancel(&self, call_id: &str) {
        if let Some((_, handle)) = self.pending.remove(call_id) {
            handle.abort();
        }
    }

    /// Timers pending now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}
