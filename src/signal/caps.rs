//! The per-user cap on signaling sockets: a slot is taken before the upgrade and given back when the session ends.
//!
//! Counting here, not in the presence registry, makes the check and the
//! reservation one step: two upgrades racing for the last slot cannot both
//! win. The cap is `SWITCHBOARD_MAX_SOCKETS_PER_USER` (0: none).
//!
//! Users are keyed by a 64-bit hash of (tenant, user): 12 bytes per user
//! instead of two strings (a collision, about one in 10¹⁹ per pair, would
//! only make two users share a cap).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use dashmap::DashMap;

/// Sockets per (tenant, user) on this node.
#[derive(Default)]
pub struct SocketCaps {
    counts: DashMap<u64, u32>,
    hasher: std::collections::hash_map::RandomState,
}

/// A taken slot; dropping it gives the slot back.
pub struct SocketSlot {
    caps: Option<Arc<SocketCaps>>,
    key: u64,
}

impl SocketCaps {
    fn key(&self, tenant: &str, user: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        tenant.hash(&mut h);
        user.hash(&mut h);
        h.finish()
    }

    /// Takes a slot for the user unless they already hold `max` (0: no limit).
    pub fn acquire(self: &Arc<Self>, tenant: &str, user: &str, max: usize) -> Option<SocketSlot> {
        let key = self.key(tenant, user);
        if max == 0 {
            return Some(SocketSlot { caps: None, key });
        }
        let mut n = self.counts.entry(key).or_insert(0);
        if *n as usize >= max {
            return None;
        }
        *n += 1;
        Some(SocketSlot {
            caps: Some(self.clone()),
            key,
        })
    }

    /// Sockets the user holds now.
    pub fn held(&self, tenant: &str, user: &str) -> usize {
        self.counts.get(&self.key(tenant, user)).map_or(0, |n| *n as usize)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Some(caps) = &self.caps {
            caps.counts.remove_if_mut(&self.key, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_given_back() {
        let caps = Arc::new(SocketCaps::default());
        let (t, u, v) = ("t", "u", "v");
        let a = caps.acquire(t, u, 2).unwrap();
        let b = caps.acquire(t, u, 2).unwrap();
        assert!(caps.acquire(t, u, 2).is_none(), "third socket over the cap");
        assert!(caps.acquire(t, v, 2).is_some(), "another user has their own");
        assert!(caps.acquire("t2", u, 2).is_some(), "the same id in another tenant too");
        assert_eq!(caps.held("t", "u"), 2);
        drop(a);
        assert_eq!(caps.held("t", "u"), 1);
        let _c = caps.acquire(t, u, 2).expect("a slot was given back");
        drop(b);
        assert_eq!(caps.held("t", "u"), 1);
        assert!(caps.acquire(t, u, 0).is_some(), "0 means no limit");
        drop(_c);
        assert!(caps.counts.is_empty(), "no entry is left for users without sockets");
    }
}
