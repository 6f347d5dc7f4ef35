//! Who is connected, per tenant: each user's live sessions, availability and in-call flag.
//!
//! Tenants sit in a `DashMap` (sharded, no global lock); each tenant's users sit
//! behind that tenant's own `RwLock`, taken only for short, non-async work:
//! delivery is a `try_send` on each session's bounded queue. A full queue
//! means a slow consumer: its session is told to close, nobody waits for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use parking_lot::RwLock;
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;

use crate::auth::claims::Identity;
use crate::call::model::ParticipantType;
use crate::cluster::Outbound;
use crate::signal::protocol::Availability;
use crate::views::AgentView;

/// A session id, unique within this node (and, with the random start, across nodes).
pub type SessionId = u64;

/// What the registry holds of a socket session: its queue and its kill switch.
///
/// The queue is a bounded `flume` channel: unlike tokio's, it allocates its
/// buffer lazily, which saves ~1.5 KB per idle socket.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: SessionId,
    tx: flume::Sender<Outbound>,
    /// Cancelled when the session must close (its queue overflowed).
    kill: CancellationToken,
}

impl SessionHandle {
    pub fn new(id: SessionId, tx: flume::Sender<Outbound>, kill: CancellationToken) -> Self {
        Self { id, tx, kill }
    }

    /// Queues a frame without waiting. A full queue kills the session.
    pub fn deliver(&self, frame: &Outbound) -> bool {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                self.kill.cancel();
                false
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        }
    }
}

/// An agent's status as others see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceStatus {
    Available,
    Away,
    Busy,
    Offline,
}

impl PresenceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Away => "away",
            Self::Busy => "busy",
            Self::Offline => "offline",
        }
    }
}

struct UserEntry {
    identity: Arc<Identity>,
    sessions: SmallVec<[SessionHandle; 2]>,
    availability: Availability,
    in_call: bool,
}

impl UserEntry {
    fn status(&self) -> PresenceStatus {
        if self.sessions.is_empty() {
            PresenceStatus::Offline
        } else if self.in_call {
            PresenceStatus::Busy
        } else if self.availability == Availability::Away {
            PresenceStatus::Away
        } else {
            PresenceStatus::Available
        }
    }
}

#[derive(Default)]
struct Tenant {
    users: HashMap<Arc<str>, UserEntry>,
}

/// An agent whose visible status changed: broadcast it to the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub tenant_id: Arc<str>,
    /// The status before the change.
    pub before: PresenceStatus,
    pub agent: AgentView,
}

/// What `disconnect` observed.
#[derive(Debug, Default)]
pub struct SessionChange {
    /// The user's last session is gone.
    pub edge: bool,
    pub presence: Option<PresenceChange>,
}

/// The presence registry of this node.
#[derive(Default)]
pub struct Registry {
    tenants: DashMap<Arc<str>, Arc<RwLock<Tenant>>>,
    sessions: AtomicUsize,
}

fn agent_view(identity: &Identity, status: PresenceStatus) -> AgentView {
    AgentView {
        supabase_user_id: identity.user_id.to_string(),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        email: identity.email.clone(),
        role: identity.role.clone(),
        status: status.as_str(),
    }
}

fn change(identity: &Identity, before: PresenceStatus, after: PresenceStatus) -> Option<PresenceChange> {
    (identity.kind == ParticipantType::CrmUser && before != after).then(|| PresenceChange {
        tenant_id: identity.tenant_id.clone(),
        before,
        agent: agent_view(identity, after),
    })
}

impl Registry {
    fn tenant(&self, tenant_id: &str) -> Option<Arc<RwLock<Tenant>>> {
        self.tenants.get(tenant_id).map(|t| t.value().clone())
    }

    fn tenant_or_new(&self, tenant_id: &Arc<str>) -> Arc<RwLock<Tenant>> {
        if let Some(t) = self.tenant(tenant_id) {
            return t;
        }
        self.tenants.entry(tenant_id.clone()).or_default().value().clone()
    }

    /// Sockets currently registered on this node.
    pub fn session_count(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Registers a session. Returns whether it is the user's first and the
    /// status before it, for `change_since` once the caller has looked up
    /// whether the user is in a call.
    pub fn connect(&self, identity: &Arc<Identity>, handle: SessionHandle) -> (bool, PresenceStatus) {
        let tenant = self.tenant_or_new(&identity.tenant_id);
        let mut t = tenant.write();
        let entry = t.users.entry(identity.user_id.clone()).or_insert_with(|| UserEntry {
            identity: identity.clone(),
            sessions: SmallVec::new(),
            availability: Availability::Available,
            in_call: false,
        });
        let before = entry.status();
        let first = entry.sessions.is_empty();
        // The newest token's profile wins (names may have changed).
        entry.identity = identity.clone();
        entry.sessions.push(handle);
        self.sessions.fetch_add(1, Ordering::Relaxed);
        (first, before)
    }

    /// The agent's visible change since it had status `before`, if any.
    pub fn change_since(&self, identity: &Identity, before: PresenceStatus) -> Option<PresenceChange> {
        let tenant = self.tenant(&identity.tenant_id)?;
        let t = tenant.read();
        let now = t
            .users
            .get(&identity.user_id)
            .map_or(PresenceStatus::Offline, UserEntry::status);
        change(identity, before, now)
    }

    /// Removes a session. Users without sessions and not in a call are forgotten.
    pub fn disconnect(&self, identity: &Identity, session: SessionId) -> SessionChange {
        let Some(tenant) = self.tenant(&identity.tenant_id) else {
            return SessionChange::default();
        };
        let mut t = tenant.write();
        let Some(entry) = t.users.get_mut(&identity.user_id) else {
            return SessionChange::default();
        };
        let before = entry.status();
        let len = entry.sessions.len();
        entry.sessions.retain(|s| s.id != session);
        if entry.sessions.len() == len {
            return SessionChange::default();
        }
        self.sessions.fetch_sub(1, Ordering::Relaxed);
        let edge = entry.sessions.is_empty();
        let presence = change(&entry.identity, before, entry.status());
        if edge {
            t.users.remove(&identity.user_id);
        }
        // Empty tenants stay: they are small, and removing them races with connects.
        SessionChange { edge, presence }
    }

    /// Sets an agent's chosen availability.
    pub fn set_availability(&self, identity: &Identity, availability: Availability) -> Option<PresenceChange> {
        let tenant = self.tenant(&identity.tenant_id)?;
        let mut t = tenant.write();
        let entry = t.users.get_mut(&identity.user_id)?;
        let before = entry.status();
        entry.availability = availability;
        change(&entry.identity, before, entry.status())
    }

    /// Marks a connected user as in a call (or not). No-op for users not connected here.
    pub fn set_in_call(&self, tenant_id: &str, user_id: &str, in_call: bool) -> Option<PresenceChange> {
        let tenant = self.tenant(tenant_id)?;
        let mut t = tenant.write();
        let entry = t.users.get_mut(user_id)?;
        let before = entry.status();
        entry.in_call = in_call;
        change(&entry.identity, before, entry.status())
    }

    /// Queues `frame` on every session of a user but `except`. Returns how many took it.
    pub fn deliver_user(&self, tenant_id: &str, user_id: &str, except: Option<SessionId>, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.users.get(user_id).map_or(0, |u| {
            u.sessions
                .iter()
                .filter(|s| Some(s.id) != except)
                .filter(|s| s.deliver(frame))
                .count()
        })
    }

    /// Queues `frame` on one session of a user, or on all of them when it is gone.
    pub fn deliver_session_or_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        session: SessionId,
        frame: &Outbound,
    ) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        let Some(u) = t.users.get(user_id) else {
            return 0;
        };
        match u.sessions.iter().find(|s| s.id == session) {
            Some(s) => usize::from(s.deliver(frame)),
            None => u.sessions.iter().filter(|s| s.deliver(frame)).count(),
        }
    }

    /// Queues `frame` on one session of a user only. Returns whether it took it.
    pub fn deliver_session(&self, tenant_id: &str, user_id: &str, session: SessionId, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.users
            .get(user_id)
            .and_then(|u| u.sessions.iter().find(|s| s.id == session))
            .map_or(0, |s| usize::from(s.deliver(frame)))
    }

    /// Queues `frame` on every session of the tenant (presence changes).
    pub fn broadcast(&self, tenant_id: &str, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.users
            .values()
            .flat_map(|u| u.sessions.iter())
            .filter(|s| s.deliver(frame))
            .count()
    }

    /// Connected agents of a tenant whose status is `available`.
    pub fn available_agents(&self, tenant_id: &str) -> Vec<AgentView> {
        let Some(tenant) = self.tenant(tenant_id) else {
            return Vec::new();
        };
        let t = tenant.read();
        let mut v: Vec<AgentView> = t
            .users
            .values()
            .filter(|u| u.identity.kind == ParticipantType::CrmUser && u.status() == PresenceStatus::Available)
            .map(|u| agent_view(&u.identity, PresenceStatus::Available))
            .collect();
        v.sort_by(|a, b| {
            (&a.first_name, &a.last_name, &a.supabase_user_id).cmp(&(&b.first_name, &b.last_name, &b.supabase_user_id))
        });
        v
    }

    /// The identity of a user connected to this node (fresh from their token).
    pub fn identity(&self, tenant_id: &str, user_id: &str) -> Option<Arc<Identity>> {
        let tenant = self.tenant(tenant_id)?;
        let t = tenant.read();
        t.users.get(user_id).map(|u| u.identity.clone())
    }

    /// The user's status as others see it (`Offline` without a session on this node).
    pub fn status_of(&self, tenant_id: &str, user_id: &str) -> PresenceStatus {
        self.tenant(tenant_id)
            .and_then(|t| t.read().users.get(user_id).map(UserEntry::status))
            .unwrap_or(PresenceStatus::Offline)
    }

    /// Whether the user has a live session on this node.
    pub fn is_online(&self, tenant_id: &str, user_id: &str) -> bool {
        self.tenant(tenant_id)
            .is_some_and(|t| t.read().users.get(user_id).is_some_and(|u| !u.sessions.is_empty()))
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
