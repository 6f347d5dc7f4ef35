//! The one owner of open-call state on this node: each open call's row, route and timer, kept together.
//!
//! A transition or a relayed `rtc.signal` starts from the row held here, so
//! it needs no query. The store stays the authority: a transition made from a
//! cached copy is still a conditional update on the row's version, so a stale
//! copy costs one retry, never a wrong write. What this module guarantees is
//! that the cache never goes backwards (an entry is only replaced by a newer
//! version, and a late update for a call that already ended here cannot bring
//! it back) and that a call's timer goes when the call does: there is one
//! map, so nothing is kept in step by hand.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::task::AbortHandle;

use crate::model::SessionId;
use crate::model::{Call, Side};

/// One open call's participants and, once known, their sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub tenant_id: Arc<str>,
    pub caller: Arc<str>,
    pub callee: Arc<str>,
    pub caller_session: Option<SessionId>,
    pub callee_session: Option<SessionId>,
}

impl Route {
    pub fn of(call: &Call) -> Self {
        Self {
            tenant_id: call.tenant_id.as_str().into(),
            caller: call.caller.user_id.as_str().into(),
            callee: call.callee.user_id.as_str().into(),
            caller_session: call.caller_session.as_deref().and_then(|s| s.parse().ok()),
            callee_session: call.callee_session.as_deref().and_then(|s| s.parse().ok()),
        }
    }

    /// The side `user_id` is on, if a participant.
    pub fn side_of(&self, user_id: &str) -> Option<Side> {
        if &*self.caller == user_id {
            Some(Side::Caller)
        } else if &*self.callee == user_id {
            Some(Side::Callee)
        } else {
            None
        }
    }

    /// The other participant and, if known, the session they use for this call.
    pub fn peer_of(&self, side: Side) -> (&Arc<str>, Option<SessionId>) {
        match side {
            Side::Caller => (&self.callee, self.callee_session),
            Side::Callee => (&self.caller, self.caller_session),
        }
    }
}

/// An open call and its route, built once per version.
#[derive(Debug)]
pub struct OpenCall {
    pub call: Call,
    pub route: Route,
}

impl OpenCall {
    fn new(call: Call) -> Arc<Self> {
        let route = Route::of(&call);
        Arc::new(Self { call, route })
    }
}

/// What is held of one open call.
struct Held {
    open: Arc<OpenCall>,
    /// Its ring or grace timer (a call rings or is in grace, never both).
    timer: Option<AbortHandle>,
    /// Another node changed the call: the copy is not used until the store is read again
    /// (the timer stays: it reads the store when it fires).
    stale: bool,
}

impl Held {
    fn new(call: &Call) -> Self {
        Self {
            open: OpenCall::new(call.clone()),
            timer: None,
            stale: false,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
    }
}

/// Open calls by id.
#[derive(Default)]
pub struct OpenCalls {
    by_id: DashMap<String, Held>,
}

impl OpenCalls {
    pub fn get(&self, call_id: &str) -> Option<Arc<OpenCall>> {
        self.by_id.get(call_id).filter(|c| !c.stale).map(|c| c.open.clone())
    }

    /// Another node changed the call: the next use reads the store. Returns
    /// the status of the copy held, if any.
    pub fn mark_stale(&self, call_id: &str) -> Option<crate::model::CallStatus> {
        let mut held = self.by_id.get_mut(call_id)?;
        held.stale = true;
        Some(held.open.call.status)
    }

    /// The row another node wrote. A copy held is replaced if older (a
    /// stale one if not newer), and its timer stopped when the row's status
    /// or deadlines moved on (the writer arms what the new state needs); an
    /// ended call is dropped. A call not held is taken only if `adopt`.
    /// Returns the status of the copy held before, if any.
    pub fn followed(&self, call: &Call, adopt: bool) -> Option<crate::model::CallStatus> {
        if call.status.is_final() {
            return self
                .by_id
                .remove_if(&call.id, |_, held| held.open.call.version <= call.version)
                .map(|(_, held)| held.open.call.status);
        }
        match self.by_id.entry(call.id.clone()) {
            Entry::Occupied(mut e) => {
                let held = e.get_mut();
                let prev = held.open.call.status;
                let old = &held.open.call;
                if old.version < call.version || (held.stale && old.version <= call.version) {
                    let moved = old.status != call.status
                        || old.ring_deadline != call.ring_deadline
                        || old.grace_deadline != call.grace_deadline;
                    if moved && let Some(t) = held.timer.take() {
                        t.abort();
                    }
                    held.open = OpenCall::new(call.clone());
                    held.stale = false;
                }
                Some(prev)
            }
            Entry::Vacant(e) => {
                if adopt {
                    e.insert(Held::new(call));
                }
                None
            }
        }
    }

    /// A call this node just created.
    pub fn created(&self, call: &Call) {
        self.by_id.insert(call.id.clone(), Held::new(call));
    }

    /// Arms `timer` for a held call, replacing (and stopping) its previous
    /// one. A call not held (it ended here meanwhile) is not brought back:
    /// its timer runs unheld and finds the call over.
    pub fn set_timer(&self, call_id: &str, timer: AbortHandle) {
        if let Some(mut held) = self.by_id.get_mut(call_id)
            && let Some(old) = held.timer.replace(timer)
        {
            old.abort();
        }
    }

    /// Stops the call's timer, if any.
    pub fn cancel_timer(&self, call_id: &str) {
        if let Some(mut held) = self.by_id.get_mut(call_id)
            && let Some(t) = held.timer.take()
        {
            t.abort();
        }
    }

    /// The timer task `task` fired: forget its handle (unless it was replaced meanwhile).
    pub fn timer_fired(&self, call_id: &str, task: tokio::task::Id) {
        if let Some(mut held) = self.by_id.get_mut(call_id)
            && held.timer.as_ref().is_some_and(|t| t.id() == task)
        {
            held.timer = None;
        }
    }

    /// Timers armed now (for tests and metrics).
    pub fn timers(&self) -> usize {
        self.by_id.iter().filter(|h| h.timer.is_some()).count()
    }

    /// A call read from the store: cached unless ended or older than the copy
    /// held. Returns the copy now held (`None` for an ended call).
    pub fn loaded(&self, call: &Call) -> Option<Arc<OpenCall>> {
        if call.status.is_final() {
            self.forget(&call.id);
            return None;
        }
        let held = match self.by_id.entry(call.id.clone()) {
            Entry::Occupied(mut e) => {
                let held = e.get_mut();
                if held.open.call.version < call.version || (held.stale && held.open.call.version <= call.version) {
                    held.open = OpenCall::new(call.clone());
                    held.stale = false;
                }
                e.get().open.clone()
            }
            Entry::Vacant(e) => e.insert(Held::new(call)).open.clone(),
        };
        Some(held)
    }

    /// A transition this node wrote: an ended call leaves; an open one replaces
    /// an older copy. A call not held is not added: it may have ended here
    /// already (its final transition performed first), and the next use reads
    /// the store anyway.
    pub fn advanced(&self, call: &Call) {
        if call.status.is_final() {
            self.by_id
                .remove_if(&call.id, |_, held| held.open.call.version <= call.version);
            return;
        }
        if let Some(mut held) = self.by_id.get_mut(&call.id)
            && held.open.call.version < call.version
        {
            held.open = OpenCall::new(call.clone());
            held.stale = false;
        }
    }

    /// Drops every copy and timer.
    pub fn clear(&self) {
        self.by_id.clear();
    }

    /// The store says the call is over (or gone): drop any copy (and its timer).
    pub fn forget(&self, call_id: &str) {
        self.by_id.remove(call_id);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::machine::{self, NewCall};
    use crate::model::{CallStatus, ParticipantType, Party};

    fn ringing() -> Call {
        let new = NewCall {
            id: "c1".into(),
            tenant_id: "t".into(),
            caller: Party {
                user_id: "cust".into(),
                kind: ParticipantType::PortalCustomer,
            },
            callee: Party {
                user_id: "agent".into(),
                kind: ParticipantType::CrmUser,
            },
            caller_name: None,
            callee_name: None,
            caller_session: Some("7".into()),
            record: false,
            node_id: "n".into(),
        };
        machine::ringing(new, 1_000, 30_000)
    }

    fn next(call: &Call, status: CallStatus) -> Call {
        let mut c = call.clone();
        c.version += 1;
        c.status = status;
        c
    }

    #[test]
    fn created_calls_route_by_participant() {
        let open = OpenCalls::default();
        let c = ringing();
        open.created(&c);
        let held = open.get("c1").unwrap();
        assert_eq!(held.route.side_of("cust"), Some(Side::Caller));
        assert_eq!(held.route.side_of("agent"), Some(Side::Callee));
        assert_eq!(held.route.side_of("other"), None);
        assert_eq!(held.route.peer_of(Side::Callee), (&"cust".into(), Some(7)));
    }

    #[test]
    fn a_newer_version_replaces_an_older_one_never_the_reverse() {
        let open = OpenCalls::default();
        let v1 = ringing();
        let v2 = next(&v1, CallStatus::Active);
        open.created(&v1);
        open.advanced(&v2);
        assert_eq!(open.get("c1").unwrap().call.version, v2.version);
        open.advanced(&v1);
        let held = open.loaded(&v1).unwrap();
        assert_eq!(
            held.call.status,
            CallStatus::Active,
            "loading an older copy returns the newer one held"
        );
        assert_eq!(open.get("c1").unwrap().call.status, CallStatus::Active);
    }

    #[test]
    fn a_late_open_version_does_not_revive_an_ended_call() {
        let open = OpenCalls::default();
        let v1 = ringing();
        let v2 = next(&v1, CallStatus::Active);
        let v3 = next(&v2, CallStatus::Completed);
        open.created(&v1);
        // v3's effects are performed before v2's.
        open.advanced(&v3);
        open.advanced(&v2);
        assert!(open.get("c1").is_none());
        assert_eq!(open.len(), 0);
    }

    #[test]
    fn an_ended_call_read_from_the_store_is_forgotten() {
        let open = OpenCalls::default();
        let v1 = ringing();
        open.created(&v1);
        assert!(open.loaded(&next(&v1, CallStatus::Missed)).is_none());
        assert!(open.get("c1").is_none());
        let held = open.loaded(&v1).expect("an open call read from the store is cached");
        assert_eq!(held.call.version, v1.version);
        assert!(open.get("c1").is_some());
    }

    #[tokio::test]
    async fn a_copy_changed_elsewhere_is_not_used_until_read_again_and_keeps_its_timer() {
        let open = OpenCalls::default();
        let v1 = ringing();
        open.created(&v1);
        let timer = tokio::spawn(std::future::pending::<()>());
        open.set_timer("c1", timer.abort_handle());
        assert_eq!(open.mark_stale("c1"), Some(CallStatus::Ringing));
        assert!(open.get("c1").is_none(), "a stale copy is not handed out");
        assert_eq!(open.timers(), 1, "its timer stays");
        assert_eq!(open.mark_stale("other"), None);
        // Read again (same version: nothing else changed): fresh.
        open.loaded(&v1);
        assert_eq!(open.get("c1").unwrap().call.version, v1.version);
        // Read again at a newer version: that one.
        open.mark_stale("c1");
        let v2 = next(&v1, CallStatus::Active);
        open.loaded(&v2);
        assert_eq!(open.get("c1").unwrap().call.status, CallStatus::Active);
        assert!(!timer.is_finished());
    }

    #[tokio::test]
    async fn a_calls_timer_goes_with_the_call_and_is_replaced_not_doubled() {
        let open = OpenCalls::default();
        let v1 = ringing();
        let sleeper = || tokio::spawn(std::future::pending::<()>());
        let first = sleeper();
        // Not held yet: not adopted.
        open.set_timer("c1", first.abort_handle());
        assert_eq!(open.timers(), 0);
        open.created(&v1);
        open.set_timer("c1", first.abort_handle());
        let second = sleeper();
        open.set_timer("c1", second.abort_handle());
        assert!(first.await.unwrap_err().is_cancelled(), "the replaced timer is stopped");
        assert_eq!(open.timers(), 1);
        // A stale firing (of a replaced timer) does not forget the current one.
        open.timer_fired("c1", tokio::task::spawn(async {}).id());
        assert_eq!(open.timers(), 1);
        // The call ends: its timer is stopped with it.
        let v2 = next(&v1, CallStatus::Missed);
        open.advanced(&v2);
        assert!(
            second.await.unwrap_err().is_cancelled(),
            "the ended call's timer is stopped"
        );
        assert_eq!(open.timers(), 0);
        assert_eq!(open.len(), 0);
    }

    #[tokio::test]
    async fn a_row_from_another_node_replaces_the_copy_and_stops_a_timer_it_outdates() {
        let open = OpenCalls::default();
        let v1 = ringing();
        open.created(&v1);
        let ring = tokio::spawn(std::future::pending::<()>());
        open.set_timer("c1", ring.abort_handle());
        // Same status, same deadlines (say, a session noted): the timer stays.
        let mut v2 = next(&v1, CallStatus::Ringing);
        v2.callee_session = Some("9".into());
        assert_eq!(open.followed(&v2, false), Some(CallStatus::Ringing));
        assert_eq!(open.get("c1").unwrap().call.version, v2.version);
        assert_eq!(open.timers(), 1);
        // Answered elsewhere: the ring timer is outdated and stopped.
        let mut v3 = next(&v2, CallStatus::Active);
        v3.ring_deadline = None;
        assert_eq!(open.followed(&v3, false), Some(CallStatus::Ringing));
        assert!(ring.await.unwrap_err().is_cancelled(), "the ring timer is stopped");
        assert_eq!(open.get("c1").unwrap().call.status, CallStatus::Active);
        // An older row (published late) changes nothing.
        assert_eq!(open.followed(&v2, true), Some(CallStatus::Active));
        assert_eq!(open.get("c1").unwrap().call.version, v3.version);
        // Ended elsewhere: dropped.
        let v4 = next(&v3, CallStatus::Completed);
        assert_eq!(open.followed(&v4, false), Some(CallStatus::Active));
        assert!(open.get("c1").is_none());
        assert_eq!(open.len(), 0);
        // A late open row of the ended call is not adopted when not asked to.
        assert_eq!(open.followed(&v3, false), None);
        assert_eq!(open.len(), 0);
    }

    #[test]
    fn a_row_not_held_is_taken_only_when_adopted_and_a_stale_copy_takes_its_own_version() {
        let open = OpenCalls::default();
        let v1 = ringing();
        assert_eq!(open.followed(&v1, false), None);
        assert!(open.get("c1").is_none(), "not adopted");
        assert_eq!(open.followed(&v1, true), None);
        assert_eq!(open.get("c1").unwrap().call.version, v1.version, "adopted");
        open.mark_stale("c1");
        assert!(open.get("c1").is_none());
        assert_eq!(open.followed(&v1, false), Some(CallStatus::Ringing));
        assert!(
            open.get("c1").is_some(),
            "a stale copy is fresh again with a row of its version"
        );
        // A final row for a call never held: nothing to drop, nothing added.
        let other = OpenCalls::default();
        assert_eq!(other.followed(&next(&v1, CallStatus::Missed), true), None);
        assert_eq!(other.len(), 0);
    }
}
