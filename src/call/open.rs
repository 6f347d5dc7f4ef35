//! Open calls as this node last wrote or read them, with their routes, so a
//! transition or a relayed `rtc.signal` needs no query.
//!
//! The store stays the authority: a transition made from a cached copy is
//! still a conditional update on the row's version, so a stale copy costs one
//! retry, never a wrong write. What this module guarantees is that the cache
//! never goes backwards: an entry is only replaced by a newer version, and a
//! late update for a call that already ended here cannot bring it back.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

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

/// Open calls by id.
#[derive(Default)]
pub struct OpenCalls {
    by_id: DashMap<String, Arc<OpenCall>>,
}

impl OpenCalls {
    pub fn get(&self, call_id: &str) -> Option<Arc<OpenCall>> {
        self.by_id.get(call_id).map(|c| c.value().clone())
    }

    /// A call this node just created.
    pub fn created(&self, call: &Call) {
        self.by_id.insert(call.id.clone(), OpenCall::new(call.clone()));
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
                if e.get().call.version < call.version {
                    e.insert(OpenCall::new(call.clone()));
                }
                e.get().clone()
            }
            Entry::Vacant(e) => e.insert(OpenCall::new(call.clone())).clone(),
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
                .remove_if(&call.id, |_, held| held.call.version <= call.version);
            return;
        }
        if let Some(mut held) = self.by_id.get_mut(&call.id)
            && held.call.version < call.version
        {
            *held = OpenCall::new(call.clone());
        }
    }

    /// The store says the call is over (or gone): drop any copy.
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
}
