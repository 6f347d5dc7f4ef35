//! Presence on one node: each user's sessions (by id), availability and in-call flag, per tenant.
//!
//! Tenants sit in a `DashMap` (sharded, no global lock); each tenant's users
//! sit behind that tenant's own `RwLock`, taken only for short, non-async work.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use smallvec::SmallVec;

use super::Presence;
use super::status::{PresenceChange, PresenceStatus, SessionChange, agent_view, change};
use crate::auth::claims::Identity;
use crate::model::{ParticipantType, SessionId};
use crate::wire::protocol::Availability;
use crate::wire::views::AgentView;

struct UserEntry {
    identity: Arc<Identity>,
    sessions: SmallVec<[SessionId; 2]>,
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

/// Presence when this node is the whole deployment.
#[derive(Default)]
pub struct LocalPresence {
    tenants: DashMap<Arc<str>, Arc<RwLock<Tenant>>>,
}

impl LocalPresence {
    fn tenant(&self, tenant_id: &str) -> Option<Arc<RwLock<Tenant>>> {
        self.tenants.get(tenant_id).map(|t| t.value().clone())
    }

    fn tenant_or_new(&self, tenant_id: &Arc<str>) -> Arc<RwLock<Tenant>> {
        if let Some(t) = self.tenant(tenant_id) {
            return t;
        }
        self.tenants.entry(tenant_id.clone()).or_default().value().clone()
    }

    /// Registers a session; returns the status before it.
    pub fn open(&self, identity: &Arc<Identity>, session: SessionId) -> PresenceStatus {
        let tenant = self.tenant_or_new(&identity.tenant_id);
        let mut t = tenant.write();
        let entry = t.users.entry(identity.user_id.clone()).or_insert_with(|| UserEntry {
            identity: identity.clone(),
            sessions: SmallVec::new(),
            availability: Availability::Available,
            in_call: false,
        });
        let before = entry.status();
        // The newest token's profile wins (names may have changed).
        entry.identity = identity.clone();
        entry.sessions.push(session);
        before
    }

    /// Removes a session. Users without sessions are forgotten.
    pub fn close(&self, identity: &Identity, session: SessionId) -> SessionChange {
        let Some(tenant) = self.tenant(&identity.tenant_id) else {
            return SessionChange::default();
        };
        let mut t = tenant.write();
        let Some(entry) = t.users.get_mut(&identity.user_id) else {
            return SessionChange::default();
        };
        let before = entry.status();
        let len = entry.sessions.len();
        entry.sessions.retain(|s| *s != session);
        if entry.sessions.len() == len {
            return SessionChange::default();
        }
        let edge = entry.sessions.is_empty();
        let presence = change(&entry.identity, before, entry.status());
        if edge {
            t.users.remove(&identity.user_id);
        }
        // Empty tenants stay: they are small, and removing them races with opens.
        SessionChange { edge, presence }
    }
}

impl Presence for LocalPresence {
    fn session_opened<'a>(&'a self, identity: &'a Arc<Identity>, session: SessionId) -> BoxFuture<'a, PresenceStatus> {
        let before = self.open(identity, session);
        Box::pin(std::future::ready(before))
    }

    fn session_closed<'a>(&'a self, identity: &'a Identity, session: SessionId) -> BoxFuture<'a, SessionChange> {
        let change = self.close(identity, session);
        Box::pin(std::future::ready(change))
    }

    fn change_since(&self, identity: &Identity, before: PresenceStatus) -> Option<PresenceChange> {
        let tenant = self.tenant(&identity.tenant_id)?;
        let t = tenant.read();
        let now = t
            .users
            .get(&identity.user_id)
            .map_or(PresenceStatus::Offline, UserEntry::status);
        change(identity, before, now)
    }

    fn set_availability(&self, identity: &Identity, availability: Availability) -> Option<PresenceChange> {
        let tenant = self.tenant(&identity.tenant_id)?;
        let mut t = tenant.write();
        let entry = t.users.get_mut(&identity.user_id)?;
        let before = entry.status();
        entry.availability = availability;
        change(&entry.identity, before, entry.status())
    }

    fn set_in_call(&self, tenant_id: &str, user_id: &str, in_call: bool) -> Option<PresenceChange> {
        let tenant = self.tenant(tenant_id)?;
        let mut t = tenant.write();
        let entry = t.users.get_mut(user_id)?;
        let before = entry.status();
        entry.in_call = in_call;
        change(&entry.identity, before, entry.status())
    }

    fn available_agents(&self, tenant_id: &str) -> Vec<AgentView> {
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

    fn identity(&self, tenant_id: &str, user_id: &str) -> Option<Arc<Identity>> {
        let tenant = self.tenant(tenant_id)?;
        let t = tenant.read();
        t.users.get(user_id).map(|u| u.identity.clone())
    }

    fn status_of(&self, tenant_id: &str, user_id: &str) -> PresenceStatus {
        self.tenant(tenant_id)
            .and_then(|t| t.read().users.get(user_id).map(UserEntry::status))
            .unwrap_or(PresenceStatus::Offline)
    }

    fn is_online(&self, tenant_id: &str, user_id: &str) -> bool {
        self.tenant(tenant_id)
            .is_some_and(|t| t.read().users.get(user_id).is_some_and(|u| !u.sessions.is_empty()))
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
