//! This node's copy of cluster-wide presence: every online user of every node, kept from the states Redis publishes.
//!
//! Each state carries a version from one Redis counter, so states applied
//! out of order (a script's reply and its own broadcast) settle on the
//! newest. A user seen offline keeps a small entry with its version (so a
//! late, older state cannot bring them back) until `prune` forgets it.
//! Reads never wait: `Presence`'s queries answer from here.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::RwLock;
use smallvec::SmallVec;

use super::wire::{Profile, UserState};
use crate::auth::claims::Identity;
use crate::model::ParticipantType;
use crate::presence::{PresenceStatus, agent_view};
use crate::wire::views::AgentView;

/// Offline entries are forgotten this long after the user went offline (ms).
pub const OFFLINE_KEPT_MS: i64 = 60_000;

/// One user, cluster-wide.
#[derive(Clone, Debug)]
pub struct Entry {
    pub identity: Arc<Identity>,
    /// Members holding sessions of the user, with how many each.
    pub members: SmallVec<[(Arc<str>, u32); 2]>,
    pub away: bool,
    pub in_call: bool,
    /// The version of the state this came from (0: written here, not yet confirmed).
    pub version: i64,
    /// Unix ms it went offline (`None` while online).
    pub offline_since: Option<i64>,
}

/// The status of a user online (or not), in a call (or not), away (or not).
pub fn status_from(online: bool, in_call: bool, away: bool) -> PresenceStatus {
    if !online {
        PresenceStatus::Offline
    } else if in_call {
        PresenceStatus::Busy
    } else if away {
        PresenceStatus::Away
    } else {
        PresenceStatus::Available
    }
}

impl Entry {
    pub fn status(&self) -> PresenceStatus {
        status_from(!self.members.is_empty(), self.in_call, self.away)
    }

    /// Sessions of the user on `member`.
    pub fn sessions_on(&self, member: &str) -> u32 {
        self.members.iter().find(|(m, _)| &**m == member).map_or(0, |(_, n)| *n)
    }
}

/// The identity a profile describes.
pub fn identity_of(tenant: &str, user: &str, p: &Profile) -> Option<Identity> {
    Some(Identity {
        user_id: user.into(),
        tenant_id: tenant.into(),
        kind: ParticipantType::parse(&p.k)?,
        first_name: p.f.clone(),
        last_name: p.l.clone(),
        email: p.e.clone(),
        role: p.r.clone(),
    })
}

/// The profile others see of `identity`.
pub fn profile_of(identity: &Identity) -> Profile {
    Profile {
        k: identity.kind.as_str().to_owned(),
        f: identity.first_name.clone(),
        l: identity.last_name.clone(),
        e: identity.email.clone(),
        r: identity.role.clone(),
    }
}

type Users = HashMap<Arc<str>, Entry>;

/// What applying a state changed, for the user it named.
#[derive(Debug, Clone)]
pub struct Applied {
    pub before: PresenceStatus,
    pub after: PresenceStatus,
    pub identity: Arc<Identity>,
}

/// Every tenant's users.
#[derive(Default)]
pub struct Replica {
    tenants: DashMap<Arc<str>, Arc<RwLock<Users>>>,
}

impl Replica {
    fn tenant(&self, tenant: &str) -> Option<Arc<RwLock<Users>>> {
        self.tenants.get(tenant).map(|t| t.value().clone())
    }

    fn tenant_or_new(&self, tenant: &str) -> Arc<RwLock<Users>> {
        if let Some(t) = self.tenant(tenant) {
            return t;
        }
        self.tenants.entry(tenant.into()).or_default().value().clone()
    }

    /// Applies a published state (`None`: offline everywhere) if it is newer than what is held.
    /// `known` is the identity to use when the state has no readable profile.
    pub fn apply(
        &self,
        tenant: &str,
        user: &str,
        version: i64,
        state: Option<UserState>,
        known: Option<&Arc<Identity>>,
        now: i64,
    ) -> Option<Applied> {
        let t = self.tenant_or_new(tenant);
        let mut users = t.write();
        let held = users.get(user);
        if held.is_some_and(|e| e.version >= version && e.version != 0) {
            return None;
        }
        let before = held.map_or(PresenceStatus::Offline, Entry::status);
        let profile = state
            .as_ref()
            .and_then(|s| s.profile.as_deref())
            .and_then(|p| serde_json::from_str::<Profile>(p).ok())
            .and_then(|p| identity_of(tenant, user, &p))
            .map(Arc::new);
        let identity = match (profile, known, held) {
            (Some(i), _, _) => i,
            (None, Some(k), _) => k.clone(),
            (None, None, Some(e)) => e.identity.clone(),
            (None, None, None) => return None,
        };
        let s = state.unwrap_or_default();
        let entry = Entry {
            identity: identity.clone(),
            members: s.members.into_iter().map(|(m, n)| (Arc::from(m), n)).collect(),
            away: s.away,
            in_call: s.in_call,
            version,
            offline_since: None,
        };
        let mut entry = entry;
        if entry.members.is_empty() {
            entry.offline_since = Some(now);
        }
        let after = entry.status();
        users.insert(user.into(), entry);
        Some(Applied {
            before,
            after,
            identity,
        })
    }

    /// Changes an entry in place (a local write Redis has not confirmed yet);
    /// returns the status before and after. A user not held is not created
    /// unless `create` gives their identity.
    pub fn edit(
        &self,
        tenant: &str,
        user: &str,
        create: Option<&Arc<Identity>>,
        f: impl FnOnce(&mut Entry),
        now: i64,
    ) -> Option<Applied> {
        let t = self.tenant_or_new(tenant);
        let mut users = t.write();
        if !users.contains_key(user) {
            let identity = create?.clone();
            users.insert(
                user.into(),
                Entry {
                    identity,
                    members: SmallVec::new(),
                    away: false,
                    in_call: false,
                    version: 0,
                    offline_since: Some(now),
                },
            );
        }
        let e = users.get_mut(user)?;
        let before = e.status();
        f(e);
        if e.members.is_empty() {
            e.offline_since.get_or_insert(now);
        } else {
            e.offline_since = None;
        }
        Some(Applied {
            before,
            after: e.status(),
            identity: e.identity.clone(),
        })
    }

    /// A copy of one user's entry.
    pub fn get(&self, tenant: &str, user: &str) -> Option<Entry> {
        self.tenant(tenant)?.read().get(user).cloned()
    }

    pub fn status_of(&self, tenant: &str, user: &str) -> PresenceStatus {
        self.tenant(tenant)
            .and_then(|t| t.read().get(user).map(Entry::status))
            .unwrap_or(PresenceStatus::Offline)
    }

    pub fn identity(&self, tenant: &str, user: &str) -> Option<Arc<Identity>> {
        let t = self.tenant(tenant)?;
        let users = t.read();
        users
            .get(user)
            .filter(|e| !e.members.is_empty())
            .map(|e| e.identity.clone())
    }

    /// Online agents of a tenant whose status is `available`, by name.
    pub fn available_agents(&self, tenant: &str) -> Vec<AgentView> {
        let Some(t) = self.tenant(tenant) else {
            return Vec::new();
        };
        let users = t.read();
        let mut v: Vec<AgentView> = users
            .values()
            .filter(|e| e.identity.kind == ParticipantType::CrmUser && e.status() == PresenceStatus::Available)
            .map(|e| agent_view(&e.identity, PresenceStatus::Available))
            .collect();
        v.sort_by(|a, b| {
            (&a.first_name, &a.last_name, &a.supabase_user_id).cmp(&(&b.first_name, &b.last_name, &b.supabase_user_id))
        });
        v
    }

    /// Forgets users offline for longer than `OFFLINE_KEPT_MS`.
    pub fn prune(&self, now: i64) {
        for t in self.tenants.iter() {
            t.value()
                .write()
                .retain(|_, e| e.offline_since.is_none_or(|t| now - t < OFFLINE_KEPT_MS));
        }
    }

    /// Replaces everything with a fresh read of Redis (after a reconnect):
    /// `users` are `(tenant, user, state)` of every presence hash, all at `version`.
    /// Returns the users whose status changed.
    pub fn reload(&self, users: Vec<(String, String, UserState)>, version: i64, now: i64) -> Vec<(Arc<str>, Applied)> {
        let mut seen: HashMap<Arc<str>, std::collections::HashSet<String>> = HashMap::new();
        let mut changed = Vec::new();
        for (tenant, user, state) in users {
            let t = self.tenant_or_new(&tenant);
            // A reload overrides every version held: Redis may have restarted, and its counter with it.
            if let Some(e) = t.write().get_mut(user.as_str()) {
                e.version = 0;
            }
            if let Some(a) = self.apply(&tenant, &user, version, Some(state), None, now)
                && a.before != a.after
            {
                changed.push((Arc::from(tenant.as_str()), a));
            }
            seen.entry(tenant.as_str().into()).or_default().insert(user);
        }
        for t in self.tenants.iter() {
            let tenant = t.key().clone();
            let keep = seen.get(&tenant);
            let mut users = t.value().write();
            for (id, e) in users.iter_mut() {
                if keep.is_some_and(|k| k.contains(&**id)) || e.members.is_empty() {
                    continue;
                }
                let before = e.status();
                e.members.clear();
                e.version = version;
                e.offline_since = Some(now);
                changed.push((
                    tenant.clone(),
                    Applied {
                        before,
                        after: PresenceStatus::Offline,
                        identity: e.identity.clone(),
                    },
                ));
            }
        }
        changed
    }
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
