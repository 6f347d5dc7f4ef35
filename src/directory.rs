//! The participant directory: upserted from token claims, provisioned by admins, looked up to place calls.
//!
//! Every authenticated request or socket "upserts" its identity; to keep that
//! off the database on the hot path, the directory remembers a fingerprint
//! of the last profile it wrote per user and skips identical writes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use dashmap::DashMap;

use crate::auth::claims::Identity;
use crate::error::Result;
use crate::model::Millis;
use crate::store::{Participant, Store};

/// Profiles remembered by `ensure`; past this the memory is dropped and rebuilt
/// (a dropped entry only costs one extra upsert).
pub const WRITTEN_CACHE_MAX: usize = 1_000_000;

/// The directory over the store.
pub struct Directory {
    store: Store,
    /// `tenant \x1f user` → fingerprint of the profile last written.
    written: DashMap<String, u64>,
}

fn key(tenant_id: &str, user_id: &str) -> String {
    let mut k = String::with_capacity(tenant_id.len() + user_id.len() + 1);
    k.push_str(tenant_id);
    k.push('\u{1f}');
    k.push_str(user_id);
    k
}

fn fingerprint(id: &Identity) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl Directory {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            written: DashMap::new(),
        }
    }

    /// Makes sure the directory row matches the token's claims.
    pub async fn ensure(&self, id: &Identity, now: Millis) -> Result<()> {
        let k = key(&id.tenant_id, &id.user_id);
        let fp = fingerprint(id);
        if self.written.get(&k).is_some_and(|v| *v == fp) {
            return Ok(());
        }
        self.store
            .upsert_participant(&Participant {
                tenant_id: id.tenant_id.to_string(),
                user_id: id.user_id.to_string(),
                kind: id.kind,
                first_name: id.first_name.clone(),
                last_name: id.last_name.clone(),
                email: id.email.clone(),
                role: id.role.clone(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        if self.written.len() >= WRITTEN_CACHE_MAX {
            self.written.clear();
        }
        self.written.insert(k, fp);
        Ok(())
    }

    /// Writes an admin-provisioned row.
    pub async fn provision(&self, p: &Participant) -> Result<()> {
        self.store.upsert_participant(p).await?;
        // The next token of this user rewrites the row from its claims.
        self.written.remove(&key(&p.tenant_id, &p.user_id));
        Ok(())
    }

    pub async fn lookup(&self, tenant_id: &str, user_id: &str) -> Result<Option<Participant>> {
        self.store.get_participant(tenant_id, user_id).await
    }
}
