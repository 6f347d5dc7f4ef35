//! Who is in each open call, kept in memory so relaying `rtc.signal` needs no query.

use std::sync::Arc;

use dashmap::DashMap;

use super::model::{Call, Side};
use crate::presence::SessionId;

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

/// Routes of open calls by id.
#[derive(Default)]
pub struct Routes {
    by_call: DashMap<String, Route>,
}

impl Routes {
    pub fn upsert(&self, call: &Call) {
        self.by_call.insert(call.id.clone(), Route::of(call));
    }

    pub fn get(&self, call_id: &str) -> Option<Route> {
        self.by_call.get(call_id).map(|r| r.value().clone())
    }

    pub fn remove(&self, call_id: &str) {
        self.by_call.remove(call_id);
    }

    pub fn len(&self) -> usize {
        self.by_call.len()
    }
}
