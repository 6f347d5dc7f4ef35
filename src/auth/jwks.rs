//! The Supabase project's published signing keys: fetched, cached, refetched on an unknown `kid`.
//!
//! Rules (docs/api.md, "Authentication"):
//! - the key set is fetched at start and whenever it is older than
//!   `max_age`, or a token names a `kid` it does not hold; at most one fetch
//!   runs at a time, and a fetch starts at most once per `min_refetch`;
//! - a failed fetch keeps the cached keys (the JWKS endpoint being down
//!   stops nothing that worked), and is logged once per failure streak;
//! - a successful fetch replaces the set whole: a key the project rotated
//!   out stops verifying at the next successful fetch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::keys::{KeySet, VerifyKey, parse_jwks};

/// Default `SUPABASE_JWKS_MAX_AGE_SECS`: Supabase's own edge caches the key set for 10 minutes.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Default `SUPABASE_JWKS_MIN_REFETCH_SECS`: the least time between two fetches.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// A JWKS request that takes longer than this has failed.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read.
pub const JWKS_MAX_BYTES: usize = 256 * 1024;

/// How the key set is kept.
#[derive(Clone, Debug)]
pub struct JwksSettings {
    pub url: String,
    pub max_age: Duration,
    pub min_refetch: Duration,
}

/// The outcome of looking a `kid` up.
#[derive(Debug)]
pub enum Lookup {
    Found(VerifyKey),
    /// The key set was fetched and does not hold it.
    Unknown,
    /// No key set could be fetched yet (and this `kid` is not cached).
    Unavailable,
}

struct Cached {
    keys: KeySet,
    /// When `keys` was fetched (None: never).
    fetched: Option<Instant>,
    /// When the last fetch started, successful or not.
    attempted: Option<Instant>,
    /// The last fetch failed (for logging a failure streak once).
    failing: bool,
}

/// The cache. Cheap to share behind an `Arc`.
pub struct Jwks {
    settings: JwksSettings,
    client: reqwest::Client,
    cached: RwLock<Cached>,
    /// Single flight: one fetch at a time; others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    pub fn new(settings: JwksSettings) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            settings,
            client,
            cached: RwLock::new(Cached {
                keys: KeySet::default(),
                fetched: None,
                attempted: None,
                failing: false,
            }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Whether a key set was ever fetched (for `/readyz`-style reporting).
    pub fn loaded(&self) -> bool {
        self.cached.read().fetched.is_some()
    }

    /// The key for `kid`: from the cache, or after a refetch when the cache
    /// lacks it or is stale (and no fetch started within `min_refetch`).
    pub async fn key(&self, kid: &str) -> Lookup {
        let (hit, stale) = {
            let c = self.cached.read();
            let stale = c.fetched.is_none_or(|t| t.elapsed() >= self.settings.max_age);
            (c.keys.get(kid).cloned(), stale)
        };
        if let Some(key) = &hit
            && !stale
        {
            return Lookup::Found(key.clone());
        }
        self.refresh_if_due().await;
        let c = self.cached.read();
        match c.keys.get(kid) {
            Some(k) => Lookup::Found(k.clone()),
            None if c.fetched.is_some() => Lookup::Unknown,
            None => Lookup::Unavailable,
        }
    }

    /// Fetches the key set unless a fetch started less than `min_refetch` ago.
    /// Returns whether the cache changed.
    pub async fn refresh_if_due(&self) -> bool {
        let _flight = self.fetching.lock().await;
        {
            let c = self.cached.read();
            if c.attempted.is_some_and(|t| t.elapsed() < self.settings.min_refetch) {
                return false;
            }
        }
        self.cached.write().attempted = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let mut c = self.cached.write();
                if c.failing {
                    tracing::info!(url = %self.settings.url, keys = keys.len(), "JWKS reachable again");
                }
                c.keys = keys;
                c.fetched = Some(Instant::now());
                c.failing = false;
                true
            }
            Err(why) => {
                let mut c = self.cached.write();
                if !c.failing {
                    tracing::warn!(url = %self.settings.url, error = %why, cached_keys = c.keys.len(), "cannot fetch the JWKS; keeping the cached keys");
                }
                c.failing = true;
                false
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let resp = self
            .client
            .get(&self.settings.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", without_url(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > JWKS_MAX_BYTES as u64) {
            return Err("document too large".into());
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the body: {}", without_url(&e)))?;
        if body.len() > JWKS_MAX_BYTES {
            return Err("document too large".into());
        }
        let (keys, skipped) = parse_jwks(&body)?;
        for why in skipped {
            tracing::debug!(url = %self.settings.url, "JWKS: skipped {why}");
        }
        Ok(keys)
    }
}

/// reqwest's error text without the URL it repeats (the log line has it).
fn without_url(e: &reqwest::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(src) = inner.source() {
        inner = src;
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect ({inner})")
    } else {
        inner.to_string()
    }
}
