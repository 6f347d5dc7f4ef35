//! Each org's webhook endpoints, remembered for a few seconds, so an event for an org reads them from the database at most once per `ENDPOINT_CACHE_TTL`.
//!
//! Every call event goes through [`super::Outbox::emit`]; without this,
//! each one is a `SELECT` of the org's endpoints, which for most orgs is
//! empty. An org's entry is dropped at once on this node when its endpoints
//! change here; another node sees the change within the TTL. The map is
//! sharded (`DashMap`: no global lock) and bounded: past
//! [`ENDPOINT_CACHE_MAX_ORGS`] entries it is emptied and refilled by use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::model::Millis;
use crate::store::Endpoint;

/// How long an org's endpoints are reused before they are read again.
pub const ENDPOINT_CACHE_TTL_MS: Millis = 5_000;
/// Most orgs remembered at once.
pub const ENDPOINT_CACHE_MAX_ORGS: usize = 10_000;

/// Orgs' endpoints with when they were read.
#[derive(Default)]
pub struct EndpointCache {
    orgs: DashMap<Arc<str>, (Millis, Arc<[Endpoint]>)>,
    /// Bumped by every [`EndpointCache::forget`]: a list read before a change is not kept after it.
    generation: AtomicU64,
}

impl EndpointCache {
    /// The org's endpoints if they were read less than the TTL before `now`.
    pub fn get(&self, org_id: &str, now: Millis) -> Option<Arc<[Endpoint]>> {
        let hit = self.orgs.get(org_id)?;
        let (at, list) = hit.value();
        (now >= *at && now - *at < ENDPOINT_CACHE_TTL_MS).then(|| list.clone())
    }

    /// Take before reading the store; [`EndpointCache::put`] keeps the list only if nothing changed since.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers the org's endpoints as read at `at`, unless an endpoint changed since `generation` was taken.
    pub fn put(&self, org_id: &str, list: Arc<[Endpoint]>, at: Millis, generation: u64) {
        if self.generation() != generation {
            return;
        }
        if self.orgs.len() >= ENDPOINT_CACHE_MAX_ORGS && !self.orgs.contains_key(org_id) {
            self.orgs.clear();
        }
        self.orgs.insert(org_id.into(), (at, list));
    }

    /// Forgets the org's endpoints (they changed on this node).
    pub fn forget(&self, org_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.orgs.remove(org_id);
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            org_id: "t1".into(),
            url: "https://example.invalid/hook".into(),
            secret: "whsec_x".into(),
            events: "call.ended".into(),
            description: None,
            created_at: 0,
        }
    }

    #[test]
    fn entries_live_for_the_ttl_and_are_forgotten_on_change() {
        let c = EndpointCache::default();
        assert!(c.get("t1", 1_000).is_none());
        c.put("t1", vec![endpoint("e1")].into(), 1_000, c.generation());
        assert_eq!(c.get("t1", 1_000).unwrap()[0].id, "e1");
        assert!(c.get("t1", 1_000 + ENDPOINT_CACHE_TTL_MS - 1).is_some());
        assert!(c.get("t1", 1_000 + ENDPOINT_CACHE_TTL_MS).is_none(), "expired");
        assert!(c.get("t1", 999).is_none(), "a clock that went back reads again");
        assert!(c.get("t2", 1_000).is_none(), "per org");
        c.forget("t1");
        assert!(c.get("t1", 1_001).is_none());
        c.put("t2", Vec::new().into(), 5, c.generation());
        assert_eq!(
            c.get("t2", 6).map(|l| l.len()),
            Some(0),
            "an org without endpoints is remembered too"
        );
    }

    #[test]
    fn a_list_read_before_a_change_is_not_kept_after_it() {
        let c = EndpointCache::default();
        let before = c.generation();
        // An endpoint is added while an emit is reading the old list…
        c.forget("t1");
        // …so the old list is dropped, not remembered for a TTL.
        c.put("t1", Vec::new().into(), 10, before);
        assert!(c.get("t1", 10).is_none());
        c.put("t1", vec![endpoint("e2")].into(), 11, c.generation());
        assert_eq!(c.get("t1", 11).unwrap()[0].id, "e2");
    }

    #[test]
    fn the_map_is_bounded() {
        let c = EndpointCache::default();
        for i in 0..ENDPOINT_CACHE_MAX_ORGS {
            c.put(&format!("org-{i}"), Vec::new().into(), 0, 0);
        }
        assert_eq!(c.len(), ENDPOINT_CACHE_MAX_ORGS);
        c.put("org-0", Vec::new().into(), 1, 0);
        assert_eq!(c.len(), ENDPOINT_CACHE_MAX_ORGS, "a known org replaces its entry");
        c.put("one-more", Vec::new().into(), 1, 0);
        assert_eq!(c.len(), 1, "a new org past the bound starts over");
        assert!(c.get("one-more", 1).is_some());
    }
}
