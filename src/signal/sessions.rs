//! This node's socket table: each user's live sessions, per tenant, and delivery to them.
//!
//! Only delivery lives here; who is online, available or in a call is
//! `Presence`'s. Tenants sit in a `DashMap` (sharded, no global lock); each
//! tenant's users sit behind that tenant's own `RwLock`, taken only for
//! short, non-async work: delivery is a `try_send` on each session's bounded
//! queue. A full queue means a slow consumer: its session is told to close,
//! nobody waits for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use parking_lot::RwLock;
use smallvec::SmallVec;
use tokio_util::sync::CancellationToken;

use crate::cluster::{LocalDelivery, Outbound};
use crate::model::SessionId;

/// What the table holds of a socket session: its queue, its kill switch, and whether its token is an admin's.
///
/// The queue is a bounded `flume` channel: unlike tokio's, it allocates its
/// buffer lazily, which saves ~1.5 KB per idle socket.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: SessionId,
    tx: flume::Sender<Outbound>,
    /// Cancelled when the session must close (its queue overflowed).
    kill: CancellationToken,
    /// The token's role is an admin's ([`crate::cluster::Target::Admins`]).
    admin: bool,
}

impl SessionHandle {
    pub fn new(id: SessionId, tx: flume::Sender<Outbound>, kill: CancellationToken, admin: bool) -> Self {
        Self { id, tx, kill, admin }
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

type Users = HashMap<Arc<str>, SmallVec<[SessionHandle; 2]>>;

/// The sockets of this node.
#[derive(Default)]
pub struct Sessions {
    tenants: DashMap<Arc<str>, Arc<RwLock<Users>>>,
    count: AtomicUsize,
    /// Bumped when every session must close because this node rejoined the
    /// cluster: a session killed under a newer epoch than its own closes with 1012.
    epoch: AtomicU64,
}

impl Sessions {
    fn tenant(&self, tenant_id: &str) -> Option<Arc<RwLock<Users>>> {
        self.tenants.get(tenant_id).map(|t| t.value().clone())
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Closes every session (1012): this node rejoined the cluster under a new incarnation.
    pub fn evict_all(&self) -> usize {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let mut n = 0;
        for t in self.tenants.iter() {
            for list in t.value().read().values() {
                for s in list {
                    s.kill.cancel();
                    n += 1;
                }
            }
        }
        n
    }

    /// Tenants with sessions on this node.
    pub fn tenants(&self) -> Vec<Arc<str>> {
        self.tenants
            .iter()
            .filter(|t| !t.value().read().is_empty())
            .map(|t| t.key().clone())
            .collect()
    }

    /// Sockets currently open on this node.
    pub fn session_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Adds a socket of `user_id`.
    pub fn add(&self, tenant_id: &Arc<str>, user_id: &Arc<str>, handle: SessionHandle) {
        let tenant = match self.tenant(tenant_id) {
            Some(t) => t,
            None => self.tenants.entry(tenant_id.clone()).or_default().value().clone(),
        };
        tenant.write().entry(user_id.clone()).or_default().push(handle);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes a socket; false if it was not there.
    pub fn remove(&self, tenant_id: &str, user_id: &str, session: SessionId) -> bool {
        let Some(tenant) = self.tenant(tenant_id) else {
            return false;
        };
        let mut t = tenant.write();
        let Some(list) = t.get_mut(user_id) else {
            return false;
        };
        let len = list.len();
        list.retain(|s| s.id != session);
        if list.len() == len {
            return false;
        }
        if list.is_empty() {
            t.remove(user_id);
        }
        // Empty tenants stay: they are small, and removing them races with adds.
        self.count.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

impl LocalDelivery for Sessions {
    fn deliver_user(&self, tenant_id: &str, user_id: &str, except: Option<SessionId>, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.get(user_id).map_or(0, |list| {
            list.iter()
                .filter(|s| Some(s.id) != except)
                .filter(|s| s.deliver(frame))
                .count()
        })
    }

    fn deliver_session_or_user(&self, tenant_id: &str, user_id: &str, session: SessionId, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        let Some(list) = t.get(user_id) else {
            return 0;
        };
        match list.iter().find(|s| s.id == session) {
            Some(s) => usize::from(s.deliver(frame)),
            None => list.iter().filter(|s| s.deliver(frame)).count(),
        }
    }

    fn deliver_session(&self, tenant_id: &str, user_id: &str, session: SessionId, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.get(user_id)
            .and_then(|list| list.iter().find(|s| s.id == session))
            .map_or(0, |s| usize::from(s.deliver(frame)))
    }

    fn broadcast(&self, tenant_id: &str, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.values()
            .flat_map(|list| list.iter())
            .filter(|s| s.deliver(frame))
            .count()
    }

    fn broadcast_admins(&self, tenant_id: &str, frame: &Outbound) -> usize {
        let Some(tenant) = self.tenant(tenant_id) else {
            return 0;
        };
        let t = tenant.read();
        t.values()
            .flat_map(|list| list.iter())
            .filter(|s| s.admin && s.deliver(frame))
            .count()
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
