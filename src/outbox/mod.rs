//! Signed webhooks out (issue #12, docs/webhooks.md): endpoints, events stored in a persistent outbox, and their delivery.
//!
//! [`Outbox::emit`] (the [`EventSink`] the phone service, the integrations
//! and the in-app call stream feed) writes one row per subscribed endpoint
//! before anything is sent. `deliver.rs` sends due rows, each attempt under
//! a per-row lease so one node sends it, signs it as Standard Webhooks
//! says, logs it, and schedules the next on failure. Rows survive a
//! restart: delivery is at least once, and `webhook-id` lets a receiver
//! drop a repeat.

mod deliver;
pub mod endpoint_cache;
pub mod settings;

use std::sync::Arc;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{Endpoint, OutboxRow, Store};
use crate::webhook::signature::{SECRET_BYTES, secret_from};
use crate::webhook::{EVENT_TYPES, EventSink};
use crate::wire::views::iso;
use endpoint_cache::EndpointCache;

pub use settings::OutboxSettings;

/// Endpoints one org may have.
pub const MAX_ENDPOINTS_PER_ORG: usize = 20;
/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;

/// The webhooks service.
pub struct Outbox {
    store: Store,
    http: reqwest::Client,
    settings: OutboxSettings,
    /// This process's name on the rows it leases.
    owner: String,
    /// Woken by each emit, so a new message goes out at once.
    wake: Notify,
    /// Each org's endpoints, read at most once per TTL by the emits.
    endpoints: EndpointCache,
}

impl Outbox {
    pub fn new(store: Store, settings: OutboxSettings, node_id: &str) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.request_timeout)
            .build()?;
        Ok(Arc::new(Self {
            store,
            http,
            settings,
            owner: format!("{node_id}.{}", uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
            endpoints: EndpointCache::default(),
        }))
    }

    /// Adds an endpoint for `events` (all when empty); its secret is in the answer, and only there.
    pub async fn create_endpoint(
        &self,
        org_id: &str,
        url: &str,
        events: &[String],
        description: Option<String>,
    ) -> Result<Endpoint> {
        let bad = |m: String| Error::new(ErrorCode::InvalidRequest, m);
        let parsed = reqwest::Url::parse(url).map_err(|_| bad("`url` is not a URL".into()))?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() || url.len() > MAX_URL_LEN {
            return Err(bad(format!(
                "`url` is an http(s) URL of at most {MAX_URL_LEN} characters"
            )));
        }
        for e in events {
            if !EVENT_TYPES.contains(&e.as_str()) {
                return Err(bad(format!("unknown event `{e}`; one of {}", EVENT_TYPES.join(", "))));
            }
        }
        if self.store.endpoints(org_id).await?.len() >= MAX_ENDPOINTS_PER_ORG {
            return Err(bad(format!("at most {MAX_ENDPOINTS_PER_ORG} endpoints an org")));
        }
        let mut key = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut key);
        let mut wanted: Vec<&str> = if events.is_empty() {
            EVENT_TYPES.to_vec()
        } else {
            events.iter().map(String::as_str).collect()
        };
        wanted.sort_unstable();
        wanted.dedup();
        let e = Endpoint {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org_id.to_owned(),
            url: url.to_owned(),
            secret: secret_from(&key),
            events: wanted.join(" "),
            description,
            created_at: now_ms(),
        };
        self.store.insert_endpoint(&e).await?;
        self.endpoints.forget(org_id);
        Ok(e)
    }

    /// Deletes the org's endpoint `id` (its pending messages become `failed`); false if there was none.
    pub async fn delete_endpoint(&self, org_id: &str, id: &str) -> Result<bool> {
        let deleted = self.store.delete_endpoint(org_id, id).await?;
        self.endpoints.forget(org_id);
        Ok(deleted)
    }

    /// Whether any of the org's endpoints takes `event`: the feed asks before it builds the event's body. A store error says yes (`emit` then logs it).
    pub async fn wants(&self, org_id: &str, event: &str) -> bool {
        self.org_endpoints(org_id)
            .await
            .map_or(true, |list| list.iter().any(|e| e.wants(event)))
    }

    /// The org's endpoints: remembered ones if read within the TTL, else the store's.
    async fn org_endpoints(&self, org_id: &str) -> Result<Arc<[Endpoint]>> {
        let now = now_ms();
        if let Some(list) = self.endpoints.get(org_id, now) {
            return Ok(list);
        }
        let generation = self.endpoints.generation();
        let list: Arc<[Endpoint]> = self.store.endpoints(org_id).await?.into();
        self.endpoints.put(org_id, list.clone(), now, generation);
        Ok(list)
    }

    /// The org's endpoint `id`, or `404`.
    pub async fn endpoint_of(&self, org_id: &str, id: &str) -> Result<Endpoint> {
        match self.store.endpoint(id).await? {
            Some(e) if e.org_id == org_id => Ok(e),
            _ => Err(Error::new(ErrorCode::NotFound, "no such webhook endpoint")),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Delivers due messages until `shutdown`: at each emit, and every `settings.tick`.
    pub async fn run(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.tick) => {}
            }
            self.deliver_due().await;
        }
    }
}

#[async_trait::async_trait]
impl EventSink for Outbox {
    async fn emit(&self, org_id: &str, event: &str, data: serde_json::Value) {
        let endpoints = match self.org_endpoints(org_id).await {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(org = org_id, event, error = %e, "webhook event not stored");
                return;
            }
        };
        let wanted: Vec<&Endpoint> = endpoints.iter().filter(|e| e.wants(event)).collect();
        if wanted.is_empty() {
            return;
        }
        let now = now_ms();
        let msg_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let payload = serde_json::json!({"type": event, "timestamp": iso(now), "data": data}).to_string();
        for e in wanted {
            let row = OutboxRow {
                msg_id: msg_id.clone(),
                endpoint_id: e.id.clone(),
                org_id: org_id.to_owned(),
                event_type: event.to_owned(),
                payload: payload.clone(),
                state: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
                delivered_at: None,
            };
            if let Err(err) = self.store.enqueue(&row).await {
                tracing::error!(org = org_id, event, endpoint = %e.id, error = %err, "webhook event not stored");
            }
        }
        self.wake.notify_one();
    }
}
