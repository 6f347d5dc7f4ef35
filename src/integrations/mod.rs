//! Provider integrations (issue #12): connecting an org's RingCentral account by OAuth or its MightyCall account by key, and syncing the call log into the CallLog.
//!
//! Tokens are sealed at rest (`providers::seal`). A sync runs only under the
//! integration's lease in the database, so across every node one sync at a
//! time spends the (single-use) refresh token. `sync.rs` is the job.

mod matching;
pub mod settings;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::cluster::{Bus, Envelope, Outbound, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::model::Millis;
use crate::providers::oauth_state;
use crate::providers::seal::Sealer;
use crate::providers::{Auth, CallLogProvider, ConnectMethod, KeyCredentials, ProviderFailure, ProviderKind, Tokens};
use crate::store::{IntegrationRow, Store};
use crate::webhook::EventSink;

pub use settings::SyncSettings;
pub use sync::SyncReport;

/// What every member sees of an integration (never a token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub org_id: String,
    pub provider: String,
    /// `active` | `needs_reconnect`.
    pub status: String,
    pub needs_reconnect: bool,
    pub account_id: Option<String>,
    /// A sync holds the lease now.
    pub syncing: bool,
    /// When the last sync finished or failed (Unix ms).
    pub last_sync_at: Option<Millis>,
    pub last_error: Option<String>,
    /// Calls that started before this were fetched (Unix ms).
    pub synced_to: Option<Millis>,
    /// The running or last sync's figures (`SyncReport`).
    #[schema(value_type = Option<Object>)]
    pub progress: Option<serde_json::Value>,
    pub connected_by: String,
    pub connected_at: Millis,
}

impl IntegrationView {
    fn of(r: &IntegrationRow, now: Millis) -> Self {
        Self {
            org_id: r.org_id.clone(),
            provider: r.provider.clone(),
            status: r.status.clone(),
            needs_reconnect: r.status == "needs_reconnect",
            account_id: r.account_id.clone(),
            syncing: r.lease_until.is_some_and(|u| u > now),
            last_sync_at: r.last_sync_at,
            last_error: r.last_error.clone(),
            synced_to: r.synced_to,
            progress: r.progress.as_deref().and_then(|p| serde_json::from_str(p).ok()),
            connected_by: r.connected_by.clone(),
            connected_at: r.created_at,
        }
    }
}

/// The integrations service.
pub struct Integrations {
    store: Store,
    bus: Arc<dyn Bus>,
    sealer: Option<Sealer>,
    providers: HashMap<ProviderKind, Arc<dyn CallLogProvider>>,
    settings: SyncSettings,
    /// This process's name on the leases it takes.
    lease_owner: String,
    /// Webhooks out: `integration.needs_reconnect`.
    events: Arc<dyn EventSink>,
}

fn unavailable(provider: ProviderKind) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!(
            "{} is not configured on this server (docs/integrations.md)",
            provider.as_str()
        ),
    )
}

/// The other connect route was used: OAuth providers take `GET …/connect`, key providers `POST …/connect`.
fn wrong_method(provider: ProviderKind) -> Error {
    let p = provider.as_str();
    let message = match provider.connect_method() {
        ConnectMethod::OAuthCode => {
            format!("{p} connects by OAuth: GET /api/integrations/{p}/connect, then the callback")
        }
        ConnectMethod::ApiKey => {
            format!("{p} connects with the org's key: POST /api/integrations/{p}/connect {{apiKey, userKey}}")
        }
    };
    Error::new(ErrorCode::InvalidRequest, message)
}

fn not_connected() -> Error {
    Error::new(ErrorCode::NotFound, "the org has no such integration")
}

impl Integrations {
    pub fn new(
        store: Store,
        bus: Arc<dyn Bus>,
        sealer: Option<Sealer>,
        providers: Vec<Arc<dyn CallLogProvider>>,
        settings: SyncSettings,
        node_id: &str,
        events: Arc<dyn EventSink>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            bus,
            sealer,
            providers: providers.into_iter().map(|p| (p.kind(), p)).collect(),
            settings,
            lease_owner: format!("{node_id}.{}", uuid::Uuid::new_v4().simple()),
            events,
        })
    }

    /// The provider and the sealer, or `503 unavailable`.
    fn configured(&self, provider: ProviderKind) -> Result<(&Arc<dyn CallLogProvider>, &Sealer)> {
        match (self.providers.get(&provider), &self.sealer) {
            (Some(p), Some(s)) => Ok((p, s)),
            _ => Err(unavailable(provider)),
        }
    }

    /// Where the org admin's browser goes to grant access; the state names the org and expires.
    pub fn connect_url(&self, provider: ProviderKind, org_id: &str, admin: &str) -> Result<String> {
        let (p, sealer) = self.configured(provider)?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let state = oauth_state::issue(sealer.state_key(), org_id, admin, provider.as_str(), &nonce, now_ms());
        p.authorize_url(&state).ok_or_else(|| wrong_method(provider))
    }

    /// Connects a provider that takes the org's own key: a token is issued
    /// with it (so a wrong key is refused now, not at the first sync), then the
    /// key and the tokens are sealed and stored.
    pub async fn connect_with_key(
        &self,
        provider: ProviderKind,
        org_id: &str,
        admin: &str,
        key: KeyCredentials,
    ) -> Result<IntegrationView> {
        let (p, sealer) = self.configured(provider)?;
        if provider.connect_method() != ConnectMethod::ApiKey {
            return Err(wrong_method(provider));
        }
        let now = now_ms();
        let tokens = p.issue(&key, now).await.map_err(|f| match f {
            ProviderFailure::Refused(m) => Error::new(
                ErrorCode::InvalidRequest,
                format!("{} refused the key: {m}", provider.as_str()),
            ),
            f => provider_error(f),
        })?;
        let auth = Auth {
            access_token: &tokens.access_token,
            key: Some(&key),
        };
        let account = p.account_id(auth).await.map_err(provider_error)?;
        let sealed_key = sealer.seal(&serde_json::to_string(&key).map_err(|e| Error::Internal(e.into()))?);
        let row = new_row(org_id, provider, account, &tokens, sealer, admin, Some(sealed_key), now);
        self.store.connect_integration(&row).await?;
        tracing::info!(org = %org_id, provider = provider.as_str(), "integration connected");
        self.view(org_id, provider).await
    }

    /// The provider's redirect back: the state is checked, the code exchanged, the account read, the tokens sealed and stored.
    pub async fn callback(&self, provider: ProviderKind, code: &str, state: &str) -> Result<IntegrationView> {
        let (p, sealer) = self.configured(provider)?;
        let now = now_ms();
        let claims = oauth_state::verify(sealer.state_key(), state, provider.as_str(), now)
            .map_err(|e| Error::new(ErrorCode::InvalidRequest, e.to_string()))?;
        if provider.connect_method() != ConnectMethod::OAuthCode {
            return Err(wrong_method(provider));
        }
        let tokens = p.exchange_code(code, now).await.map_err(provider_error)?;
        let auth = Auth {
            access_token: &tokens.access_token,
            key: None,
        };
        let account = p.account_id(auth).await.map_err(provider_error)?;
        let row = new_row(&claims.org, provider, account, &tokens, sealer, &claims.sub, None, now);
        self.store.connect_integration(&row).await?;
        tracing::info!(org = %claims.org, provider = provider.as_str(), "integration connected");
        self.view(&claims.org, provider).await
    }

    /// One integration's status.
    pub async fn view(&self, org_id: &str, provider: ProviderKind) -> Result<IntegrationView> {
        let row = self
            .store
            .integration(org_id, provider.as_str())
            .await?
            .ok_or_else(not_connected)?;
        Ok(IntegrationView::of(&row, now_ms()))
    }

    /// The org's integrations (every org's for `None`).
    pub async fn list(&self, org_id: Option<&str>) -> Result<Vec<IntegrationView>> {
        let now = now_ms();
        Ok(self
            .store
            .integrations(org_id)
            .await?
            .iter()
            .map(|r| IntegrationView::of(r, now))
            .collect())
    }

    /// Disconnects; `404` if it was not connected. Synced calls stay in the CallLog.
    pub async fn disconnect(&self, org_id: &str, provider: ProviderKind) -> Result<()> {
        if self.store.delete_integration(org_id, provider.as_str()).await? {
            Ok(())
        } else {
            Err(not_connected())
        }
    }

    /// Maps (or unmaps) a provider extension to a member of the org.
    pub async fn set_extension(
        &self,
        org_id: &str,
        provider: ProviderKind,
        ext: &str,
        user: Option<&str>,
    ) -> Result<()> {
        self.store
            .set_extension(org_id, provider.as_str(), ext, user, now_ms())
            .await
    }

    pub async fn extensions(&self, org_id: &str, provider: ProviderKind) -> Result<Vec<(String, String)>> {
        self.store.extensions(org_id, provider.as_str()).await
    }

    /// Runs a sync now and returns its figures; `409 conflict` if one is running (on any node).
    pub async fn sync_now(&self, org_id: &str, provider: ProviderKind) -> Result<SyncReport> {
        self.configured(provider)?;
        let row = self
            .store
            .integration(org_id, provider.as_str())
            .await?
            .ok_or_else(not_connected)?;
        if row.status != "active" {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the integration needs a reconnect (GET /api/integrations/{provider}/connect)",
            ));
        }
        match self.sync(&row.id).await? {
            Some(report) => Ok(report),
            None => Err(Error::new(
                ErrorCode::Conflict,
                "a sync of this integration is already running",
            )),
        }
    }

    /// Syncs every due integration, every `settings.tick`, until `shutdown`.
    pub async fn run_scheduler(self: Arc<Self>, shutdown: CancellationToken) {
        if self.sealer.is_none() || self.providers.is_empty() {
            return;
        }
        // The first look comes one tick after start, not at once: a restart does not sync everything at the same moment.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + self.settings.tick, self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            let due = match self
                .store
                .due_integrations(now - self.settings.interval.as_millis() as i64, now, DUE_PER_TICK)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    e.log_if_internal();
                    continue;
                }
            };
            for id in due {
                if shutdown.is_cancelled() {
                    return;
                }
                if let Err(e) = self.sync(&id).await {
                    e.log_if_internal();
                }
            }
        }
    }

    /// Tells the org's admins (every admin socket, on every node) and the org's webhook endpoints that it needs a reconnect.
    async fn tell_needs_reconnect(&self, row: &IntegrationRow, error: &str) {
        tracing::warn!(org = %row.org_id, provider = %row.provider, error, "integration needs a reconnect");
        let frame = serde_json::json!({
            "type": "integration.status",
            "provider": row.provider,
            "status": "needs_reconnect",
            "error": error,
        })
        .to_string();
        self.bus.publish(Envelope {
            tenant_id: row.org_id.as_str().into(),
            target: Target::Admins,
            frame: Outbound::One(frame.into()),
        });
        let data = serde_json::json!({"provider": row.provider, "accountId": row.account_id, "error": error});
        self.events.emit(&row.org_id, "integration.needs_reconnect", data).await;
    }
}

/// Most integrations one scheduler tick starts.
pub const DUE_PER_TICK: i64 = 20;

/// A freshly connected integration's row, its tokens sealed.
#[allow(clippy::too_many_arguments)]
fn new_row(
    org_id: &str,
    provider: ProviderKind,
    account: String,
    tokens: &Tokens,
    sealer: &Sealer,
    admin: &str,
    credentials: Option<String>,
    now: Millis,
) -> IntegrationRow {
    IntegrationRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.to_owned(),
        provider: provider.as_str().to_owned(),
        status: "active".into(),
        account_id: Some(account),
        access_token: sealer.seal(&tokens.access_token),
        refresh_token: tokens.refresh_token.as_deref().map(|t| sealer.seal(t)),
        access_expires_at: tokens.expires_at,
        synced_to: None,
        last_sync_at: None,
        last_error: None,
        progress: None,
        lease_owner: None,
        lease_until: None,
        connected_by: admin.to_owned(),
        created_at: now,
        updated_at: now,
        credentials,
    }
}

/// A provider's refusal as the API's error (`502 provider_error`), naming no token.
fn provider_error(f: ProviderFailure) -> Error {
    Error::new(ErrorCode::ProviderError, format!("the provider: {f}"))
}
