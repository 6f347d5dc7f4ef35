//! Ring and grace timers: a sleeping task per open call that runs the machine's timeout when it wakes.
//!
//! Timers only make deadlines prompt. The deadlines themselves live in the
//! call row, and the sweeper enforces them even if this node dies. The task's
//! handle is held with the call (`OpenCalls`), so it goes when the call does.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::machine::{Actor, Command};
use super::service::CallService;
use crate::clock::now_ms;
use crate::model::Millis;

impl CallService {
    /// Runs `cmd` on `call_id` as the server at `deadline` (replacing any timer of that call).
    pub(super) fn schedule(self: &Arc<Self>, call_id: &str, deadline: Millis, cmd: Command) {
        let weak: Weak<CallService> = Arc::downgrade(self);
        let id = call_id.to_owned();
        let wait = Duration::from_millis(deadline.saturating_sub(now_ms()).max(0) as u64);
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(service) = weak.upgrade() {
                service.open.timer_fired(&id, tokio::task::id());
                // NotDue / Ended mean somebody else got there first: fine.
                let _ = service.transition(&id, None, Actor::System, cmd).await;
            }
        });
        self.open.set_timer(call_id, task.abort_handle());
    }
}
