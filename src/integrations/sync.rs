//! One sync of one integration: lease, refresh when due, page through the window, upsert each record, report.
//!
//! Correct where hand-written syncs are not: pages follow the next-page
//! link until there is none (no total is needed); windows overlap the
//! last one; records are deduped on (provider, external id) and an updated
//! record replaces the stored row; `401` refreshes once; `429` waits its
//! `Retry-After`; a refused refresh marks the integration `needs_reconnect`.
//! The cursor moves only when the whole window was read.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use super::Integrations;
use super::matching::Matcher;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::model::Millis;
use crate::providers::seal::Sealer;
use crate::providers::synced::{RowTarget, SyncedCall, call_row, same_content};
use crate::providers::{Auth, CallLogProvider, KeyCredentials, ProviderFailure, Tokens};
use crate::store::IntegrationRow;

/// What a sync did: the figures shown on the integration and returned by `POST …/sync`.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// `running` | `done` | `failed` | `needs_reconnect`.
    pub state: String,
    pub window_from: Millis,
    pub window_to: Millis,
    pub pages: u32,
    /// Records read, duplicates included.
    pub records: u32,
    pub inserted: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Records seen twice in one sync (the same record on two pages).
    pub duplicates: u32,
    /// Records left out (calls still in progress, faxes, unparsable ones).
    pub skipped: u32,
    /// Records whose id another org's integration already holds.
    pub conflicts: u32,
    /// HTTP requests made to the provider (token requests included).
    pub requests: u32,
    pub refreshes: u32,
    pub rate_limited: u32,
    pub elapsed_ms: u64,
    /// Requests per minute over the sync.
    pub requests_per_minute: f64,
    pub error: Option<String>,
}

/// How a sync stopped early.
enum Stop {
    /// The lease went to another node (it was too slow): it writes nothing more.
    LeaseLost,
    NeedsReconnect(String),
    Failed(String),
    Store(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Store(e)
    }
}

/// A sync's working state.
struct Run<'a> {
    svc: &'a Integrations,
    /// This run's name on the lease.
    owner: String,
    provider: &'a dyn CallLogProvider,
    sealer: &'a Sealer,
    row: IntegrationRow,
    tokens: Tokens,
    /// The org's own key, for providers that connect by one.
    key: Option<KeyCredentials>,
    report: SyncReport,
    seen: HashSet<String>,
    last_request: Option<Instant>,
}

impl Integrations {
    /// Syncs integration `id` if this node gets its lease; `None` when another holds it.
    pub(super) async fn sync(&self, id: &str) -> Result<Option<SyncReport>> {
        let now = now_ms();
        let lease_until = now + self.settings.lease_ttl.as_millis() as i64;
        // Each run its own name: two runs in one process exclude each other too.
        let owner = format!("{}.{}", self.lease_owner, uuid::Uuid::new_v4().simple());
        if !self.store.take_lease(id, &owner, now, lease_until).await? {
            return Ok(None);
        }
        let Some(row) = self.store.integration_by_id(id).await? else {
            return Ok(None);
        };
        let Some(kind) = crate::providers::ProviderKind::parse(&row.provider) else {
            self.store.release_lease(id, &owner).await?;
            return Ok(None);
        };
        let (provider, sealer) = match self.configured(kind) {
            Ok(c) => c,
            Err(e) => {
                self.store.release_lease(id, &owner).await?;
                return Err(e);
            }
        };
        let opened = open_tokens(sealer, &row).and_then(|t| Ok((t, open_key(sealer, &row)?)));
        let (tokens, key) = match opened {
            Ok(t) => t,
            Err(msg) => {
                self.store.mark_needs_reconnect(id, &owner, &msg, now).await?;
                self.tell_needs_reconnect(&row, &msg).await;
                return Ok(Some(SyncReport {
                    state: "needs_reconnect".into(),
                    error: Some(msg),
                    ..SyncReport::default()
                }));
            }
        };
        let (from, to) = self.settings.window(row.synced_to, now);
        let mut run = Run {
            svc: self,
            owner,
            provider: provider.as_ref(),
            sealer,
            row,
            tokens,
            key,
            report: SyncReport {
                state: "running".into(),
                window_from: from,
                window_to: to,
                ..SyncReport::default()
            },
            seen: HashSet::new(),
            last_request: None,
        };
        let started = Instant::now();
        let outcome = run.pages().await;
        run.report.elapsed_ms = started.elapsed().as_millis() as u64;
        let minutes = (run.report.elapsed_ms as f64 / 60_000.0).max(1.0 / 60.0);
        run.report.requests_per_minute = (f64::from(run.report.requests) / minutes * 10.0).round() / 10.0;
        let (id, owner, now) = (run.row.id.clone(), run.owner.clone(), now_ms());
        let owner = owner.as_str();
        match outcome {
            Ok(()) => {
                run.report.state = "done".into();
                let progress = to_json(&run.report);
                self.store.finish_sync(&id, owner, to, &progress, now).await?;
                tracing::info!(org = %run.row.org_id, provider = %run.row.provider, pages = run.report.pages,
                    records = run.report.records, inserted = run.report.inserted, updated = run.report.updated,
                    elapsed_ms = run.report.elapsed_ms, "sync done");
            }
            Err(Stop::LeaseLost) => {
                run.report.state = "failed".into();
                run.report.error = Some("the sync's lease passed to another node".into());
            }
            Err(Stop::NeedsReconnect(msg)) => {
                run.report.state = "needs_reconnect".into();
                run.report.error = Some(msg.clone());
                self.store
                    .sync_progress(&id, owner, &to_json(&run.report), now, now)
                    .await?;
                self.store.mark_needs_reconnect(&id, owner, &msg, now).await?;
                self.tell_needs_reconnect(&run.row, &msg).await;
            }
            Err(Stop::Failed(msg)) => {
                run.report.state = "failed".into();
                run.report.error = Some(msg.clone());
                tracing::warn!(org = %run.row.org_id, provider = %run.row.provider, error = %msg, "sync failed");
                self.store
                    .fail_sync(&id, owner, &to_json(&run.report), &msg, now)
                    .await?;
            }
            Err(Stop::Store(e)) => {
                let _ = self.store.release_lease(&id, owner).await;
                return Err(e);
            }
        }
        Ok(Some(run.report))
    }
}

fn to_json(r: &SyncReport) -> String {
    serde_json::to_string(r).unwrap_or_else(|_| "{}".into())
}

const CANNOT_OPEN: &str = "the stored tokens cannot be opened (SWITCHBOARD_ENCRYPTION_KEY changed?)";

fn open_key(sealer: &Sealer, row: &IntegrationRow) -> std::result::Result<Option<KeyCredentials>, String> {
    row.credentials
        .as_deref()
        .map(|c| {
            let json = sealer.open(c).map_err(|_| CANNOT_OPEN.to_owned())?;
            serde_json::from_str(&json).map_err(|_| CANNOT_OPEN.to_owned())
        })
        .transpose()
}

fn open_tokens(sealer: &Sealer, row: &IntegrationRow) -> std::result::Result<Tokens, String> {
    let bad = |_| CANNOT_OPEN.to_owned();
    Ok(Tokens {
        access_token: sealer.open(&row.access_token).map_err(bad)?,
        refresh_token: row
            .refresh_token
            .as_deref()
            .map(|t| sealer.open(t))
            .transpose()
            .map_err(bad)?,
        expires_at: row.access_expires_at,
    })
}

impl Run<'_> {
    /// Reads every page of the window.
    async fn pages(&mut self) -> std::result::Result<(), Stop> {
        let margin = self.svc.settings.refresh_margin.as_millis() as i64;
        if self.tokens.expires_at - now_ms() < margin {
            self.refresh().await?;
        }
        let first = self.provider.first_page(self.report.window_from, self.report.window_to);
        let mut url = Some(first);
        let svc = self.svc;
        let mut matcher = Matcher::new(&svc.store, &self.row.org_id, &self.row.provider).await?;
        while let Some(u) = url.take() {
            if self.report.pages >= self.svc.settings.max_pages {
                return Err(Stop::Failed(format!("stopped after {} pages", self.report.pages)));
            }
            if !self.provider.owns(&u) {
                return Err(Stop::Failed(
                    "the provider's next-page link leaves its API; not followed".into(),
                ));
            }
            let page = self.fetch(&u).await?;
            self.report.pages += 1;
            self.report.skipped += page.skipped.len() as u32;
            for (synced, raw) in &page.records {
                self.report.records += 1;
                if !self.seen.insert(synced.external_id.clone()) {
                    self.report.duplicates += 1;
                    continue;
                }
                self.upsert(&mut matcher, synced, raw).await?;
            }
            self.progress().await?;
            url = page
                .next
                .filter(|_| !page.records.is_empty() || !page.skipped.is_empty());
        }
        Ok(())
    }

    /// One page: paced to the budget, `429` waited out, `401` refreshed once.
    async fn fetch(&mut self, url: &str) -> std::result::Result<crate::providers::Page, Stop> {
        let mut refreshed = false;
        loop {
            self.pace().await;
            self.report.requests += 1;
            let auth = Auth {
                access_token: &self.tokens.access_token,
                key: self.key.as_ref(),
            };
            match self.provider.page(auth, url).await {
                Ok(p) => {
                    if p.rate.remaining == Some(0) {
                        // The budget is spent: the next request waits the window out.
                        let wait = p.rate.window_ms.unwrap_or(60_000).max(0) as u64;
                        let wait = std::time::Duration::from_millis(wait).min(self.svc.settings.max_retry_after);
                        self.last_request = Some(Instant::now() + wait);
                    }
                    return Ok(p.page);
                }
                Err(ProviderFailure::Unauthorized) if !refreshed => {
                    refreshed = true;
                    self.refresh().await?;
                }
                Err(ProviderFailure::Unauthorized) => {
                    return Err(Stop::NeedsReconnect("the provider refuses fresh tokens".into()));
                }
                Err(ProviderFailure::RateLimited { retry_after_ms }) => {
                    self.report.rate_limited += 1;
                    let wait = std::time::Duration::from_millis(retry_after_ms.max(0) as u64);
                    if self.report.rate_limited > self.svc.settings.max_rate_limited
                        || wait > self.svc.settings.max_retry_after
                    {
                        return Err(Stop::Failed(format!(
                            "rate limited by the provider (Retry-After {} s); the next run resumes",
                            wait.as_secs()
                        )));
                    }
                    self.progress().await?;
                    tokio::time::sleep(wait).await;
                }
                Err(ProviderFailure::Refused(m)) => return Err(Stop::NeedsReconnect(m)),
                Err(ProviderFailure::Failed(m)) => return Err(Stop::Failed(m)),
            }
        }
    }

    /// Waits until the per-minute budget allows the next request.
    async fn pace(&mut self) {
        let gap = self.svc.settings.request_gap();
        if let Some(last) = self.last_request {
            let next = last + gap;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        self.last_request = Some(Instant::now());
    }

    /// Spends the refresh token under the lease and stores the new pair before anything else.
    async fn refresh(&mut self) -> std::result::Result<(), Stop> {
        let refresh = self.tokens.refresh_token.clone();
        // Renew the lease first: no other node may take it while the token is in flight.
        self.progress().await?;
        self.pace().await;
        self.report.requests += 1;
        self.report.refreshes += 1;
        let now = now_ms();
        let fresh = match self.provider.refresh(self.key.as_ref(), refresh.as_deref(), now).await {
            Ok(t) => t,
            Err(ProviderFailure::Refused(m)) => return Err(Stop::NeedsReconnect(format!("refresh refused: {m}"))),
            Err(f) => return Err(Stop::Failed(f.to_string())),
        };
        let fresh = Tokens {
            // Some providers keep the refresh token: keep ours then.
            refresh_token: fresh.refresh_token.or(refresh),
            ..fresh
        };
        let sealed_access = self.sealer.seal(&fresh.access_token);
        let sealed_refresh = fresh.refresh_token.as_deref().map(|t| self.sealer.seal(t));
        let saved = self
            .svc
            .store
            .save_tokens(
                &self.row.id,
                &self.owner,
                &sealed_access,
                sealed_refresh.as_deref(),
                fresh.expires_at,
                now_ms(),
            )
            .await?;
        if !saved {
            tracing::error!(org = %self.row.org_id, provider = %self.row.provider,
                "refreshed tokens could not be stored: the lease was lost");
            return Err(Stop::LeaseLost);
        }
        self.tokens = fresh;
        Ok(())
    }

    /// Writes the figures so far and renews the lease.
    async fn progress(&mut self) -> std::result::Result<(), Stop> {
        let now = now_ms();
        let until = now + self.svc.settings.lease_ttl.as_millis() as i64;
        let json = to_json(&self.report);
        if self
            .svc
            .store
            .sync_progress(&self.row.id, &self.owner, &json, until, now)
            .await?
        {
            Ok(())
        } else {
            Err(Stop::LeaseLost)
        }
    }

    /// Inserts the record's row, or replaces the stored one if the record changed.
    async fn upsert(
        &mut self,
        matcher: &mut Matcher<'_>,
        s: &SyncedCall,
        raw: &serde_json::Value,
    ) -> std::result::Result<(), Stop> {
        let store = &self.svc.store;
        let provider = self.row.provider.as_str();
        let (member, number_id) = matcher.find(s).await?;
        let org = self.row.org_id.as_str();
        for _ in 0..3 {
            let stored = store.phone_call_by_external(provider, &s.external_id).await?;
            let (id, version) = match &stored {
                Some(c) if c.tenant_id != org => {
                    self.report.conflicts += 1;
                    return Ok(());
                }
                Some(c) => (c.id.clone(), c.version + 1),
                None => (new_call_id(s.started_at), 0),
            };
            let row = call_row(
                s,
                &RowTarget {
                    id: &id,
                    org_id: org,
                    provider,
                    member: member.as_deref(),
                    phone_number_id: number_id.as_deref(),
                    node_id: &self.svc.lease_owner,
                    version,
                },
            );
            let written = match &stored {
                Some(c) if same_content(c, &row) => {
                    self.report.unchanged += 1;
                    true
                }
                Some(_) => {
                    let ok = store.update_phone_call(&row).await?;
                    if ok {
                        self.report.updated += 1;
                    }
                    ok
                }
                None => {
                    let ok = store.insert_phone_call(&row).await?;
                    if ok {
                        self.report.inserted += 1;
                    }
                    ok
                }
            };
            if written {
                store
                    .keep_provider_record(provider, &s.external_id, org, &id, &raw.to_string(), now_ms())
                    .await?;
                return Ok(());
            }
            // Someone else wrote the record meanwhile: read it again.
        }
        Err(Stop::Failed(format!(
            "record {} kept changing under the sync",
            s.external_id
        )))
    }
}

/// A UUIDv7 whose time is the call's start, so synced calls sort among the others by when they happened.
fn new_call_id(started_at: Millis) -> String {
    let ms = started_at.max(0) as u64;
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
    uuid::Uuid::new_v7(ts).to_string()
}
