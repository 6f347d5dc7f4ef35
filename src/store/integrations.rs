//! Provider integrations: one row per (org, provider) with sealed tokens, the sync cursor and the lease; raw provider records; extension mapping.
//!
//! The lease is the single-flight: a node syncs (and so spends a refresh
//! token) only while `lease_owner` is itself and `lease_until` is ahead; every
//! write of a sync is conditional on still holding it.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::Result;
use crate::model::Millis;

/// An integration as stored (tokens still sealed). No `Debug`: it holds secrets, even if sealed.
#[derive(Clone, FromRow)]
pub struct IntegrationRow {
    pub id: String,
    pub org_id: String,
    pub provider: String,
    /// `active` | `needs_reconnect`.
    pub status: String,
    pub account_id: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub access_expires_at: Millis,
    pub synced_to: Option<Millis>,
    pub last_sync_at: Option<Millis>,
    pub last_error: Option<String>,
    pub progress: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Millis>,
    pub connected_by: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The org's own key (sealed JSON), for providers that connect by one.
    pub credentials: Option<String>,
}

const COLS: &str = "id, org_id, provider, status, account_id, access_token, refresh_token, access_expires_at, \
     synced_to, last_sync_at, last_error, progress, lease_owner, lease_until, connected_by, created_at, updated_at, credentials";

// A reconnect to the same account keeps the cursor; another account starts over.
const CONNECT: &str = "INSERT INTO integrations (id, org_id, provider, status, account_id, access_token, \
     refresh_token, access_expires_at, connected_by, created_at, updated_at, credentials) \
     VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $9, $10) \
     ON CONFLICT (org_id, provider) DO UPDATE SET status = 'active', \
     synced_to = CASE WHEN integrations.account_id = excluded.account_id THEN integrations.synced_to ELSE NULL END, \
     account_id = excluded.account_id, access_token = excluded.access_token, \
     refresh_token = excluded.refresh_token, access_expires_at = excluded.access_expires_at, \
     last_error = NULL, connected_by = excluded.connected_by, updated_at = excluded.updated_at, \
     credentials = excluded.credentials";
static BY_ORG: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLS} FROM integrations WHERE org_id = $1 AND provider = $2"));
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {COLS} FROM integrations WHERE id = $1"));
static LIST: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLS} FROM integrations WHERE ($1 IS NULL OR org_id = $1) ORDER BY org_id, provider")
});
const DELETE: &str = "DELETE FROM integrations WHERE org_id = $1 AND provider = $2";
// Free, or left by a run that stopped renewing it; a running sync renews through `PROGRESS`.
const TAKE_LEASE: &str = "UPDATE integrations SET lease_owner = $2, lease_until = $4 WHERE id = $1 \
     AND status = 'active' AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $3)";
const RELEASE_LEASE: &str =
    "UPDATE integrations SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
const SAVE_TOKENS: &str = "UPDATE integrations SET access_token = $3, refresh_token = $4, access_expires_at = $5, \
     updated_at = $6 WHERE id = $1 AND lease_owner = $2";
const NEEDS_RECONNECT: &str = "UPDATE integrations SET status = 'needs_reconnect', last_error = $3, updated_at = $4, \
     lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
const PROGRESS: &str =
    "UPDATE integrations SET progress = $3, lease_until = $4, updated_at = $5 WHERE id = $1 AND lease_owner = $2";
const FINISH: &str = "UPDATE integrations SET synced_to = $3, progress = $4, last_sync_at = $5, last_error = NULL, \
     updated_at = $5, lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
const FAIL: &str = "UPDATE integrations SET progress = $3, last_sync_at = $4, last_error = $5, updated_at = $4, \
     lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2";
const DUE: &str = "SELECT id FROM integrations WHERE status = 'active' AND (last_sync_at IS NULL OR last_sync_at < $1) \
     AND (lease_until IS NULL OR lease_until < $2) ORDER BY last_sync_at NULLS FIRST LIMIT $3";
const UPSERT_RECORD: &str = "INSERT INTO provider_records (provider, external_id, org_id, call_id, payload, fetched_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, external_id) DO UPDATE SET \
     payload = excluded.payload, fetched_at = excluded.fetched_at, call_id = excluded.call_id \
     WHERE provider_records.org_id = excluded.org_id";
const SET_EXTENSION: &str = "INSERT INTO provider_extensions (org_id, provider, extension, user_id, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, provider, extension) DO UPDATE SET user_id = excluded.user_id";
const DROP_EXTENSION: &str = "DELETE FROM provider_extensions WHERE org_id = $1 AND provider = $2 AND extension = $3";

impl Store {
    /// Connects (or reconnects) `provider` for the row's org with fresh tokens.
    pub async fn connect_integration(&self, r: &IntegrationRow) -> Result<()> {
        let stmt = Statement::new(
            CONNECT,
            [
                (&r.id).into(),
                (&r.org_id).into(),
                (&r.provider).into(),
                (&r.account_id).into(),
                (&r.access_token).into(),
                (&r.refresh_token).into(),
                r.access_expires_at.into(),
                (&r.connected_by).into(),
                r.created_at.into(),
                (&r.credentials).into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// The org's integration with `provider`.
    pub async fn integration(&self, org_id: &str, provider: &str) -> Result<Option<IntegrationRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(BY_ORG.as_str())
            .bind(org_id)
            .bind(provider)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn integration_by_id(&self, id: &str) -> Result<Option<IntegrationRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(BY_ID.as_str()).bind(id).fetch_optional(pool).await)?)
    }

    /// The org's integrations (every org's for `None`), by provider.
    pub async fn integrations(&self, org_id: Option<&str>) -> Result<Vec<IntegrationRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(LIST.as_str()).bind(org_id).fetch_all(pool).await)?)
    }

    /// Disconnects; false if it was not connected.
    pub async fn delete_integration(&self, org_id: &str, provider: &str) -> Result<bool> {
        Ok(self
            .exec(Statement::new(DELETE, [org_id.into(), provider.into()]))
            .await?
            == Executed::Rows(1))
    }

    /// Takes the sync lease until `until` for one run (`owner` names the run); false if a run holds it, or the integration is not active.
    pub async fn take_lease(&self, id: &str, owner: &str, now: Millis, until: Millis) -> Result<bool> {
        let stmt = Statement::new(TAKE_LEASE, [id.into(), owner.into(), now.into(), until.into()]);
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<()> {
        self.exec(Statement::new(RELEASE_LEASE, [id.into(), owner.into()]))
            .await?;
        Ok(())
    }

    /// Stores refreshed (sealed) tokens; false if the lease was lost meanwhile.
    pub async fn save_tokens(
        &self,
        id: &str,
        owner: &str,
        access: &str,
        refresh: Option<&str>,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool> {
        let stmt = Statement::new(
            SAVE_TOKENS,
            [
                id.into(),
                owner.into(),
                access.into(),
                refresh.into(),
                expires_at.into(),
                now.into(),
            ],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// The provider refused the grant: only a reconnect helps. Releases the lease.
    pub async fn mark_needs_reconnect(&self, id: &str, owner: &str, error: &str, now: Millis) -> Result<bool> {
        let stmt = Statement::new(NEEDS_RECONNECT, [id.into(), owner.into(), error.into(), now.into()]);
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// Writes a running sync's progress and extends its lease; false if the lease was lost.
    pub async fn sync_progress(
        &self,
        id: &str,
        owner: &str,
        progress: &str,
        until: Millis,
        now: Millis,
    ) -> Result<bool> {
        let stmt = Statement::new(
            PROGRESS,
            [id.into(), owner.into(), progress.into(), until.into(), now.into()],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// A finished sync: the cursor moves to `synced_to`; the lease is released.
    pub async fn finish_sync(
        &self,
        id: &str,
        owner: &str,
        synced_to: Millis,
        progress: &str,
        now: Millis,
    ) -> Result<bool> {
        let stmt = Statement::new(
            FINISH,
            [id.into(), owner.into(), synced_to.into(), progress.into(), now.into()],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// A failed sync: the cursor stays; the error is shown; the lease is released.
    pub async fn fail_sync(&self, id: &str, owner: &str, progress: &str, error: &str, now: Millis) -> Result<bool> {
        let stmt = Statement::new(
            FAIL,
            [id.into(), owner.into(), progress.into(), now.into(), error.into()],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// Active integrations whose last sync is older than `synced_before` and that no node is syncing now.
    pub async fn due_integrations(&self, synced_before: Millis, now: Millis, limit: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_read!(self, pool => sqlx::query_as(DUE)
            .bind(synced_before)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Keeps the provider's record as it came, beside its CallLog row.
    pub async fn keep_provider_record(
        &self,
        provider: &str,
        external_id: &str,
        org_id: &str,
        call_id: &str,
        payload: &str,
        now: Millis,
    ) -> Result<()> {
        let stmt = Statement::new(
            UPSERT_RECORD,
            [
                provider.into(),
                external_id.into(),
                org_id.into(),
                call_id.into(),
                payload.into(),
                now.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// The raw record kept for `(provider, external_id)`.
    pub async fn provider_record(&self, provider: &str, external_id: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = on_read!(self, pool => sqlx::query_as(
            "SELECT payload FROM provider_records WHERE provider = $1 AND external_id = $2")
            .bind(provider)
            .bind(external_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(p,)| p))
    }

    /// Maps a provider extension to a member (`None`: unmaps it).
    pub async fn set_extension(
        &self,
        org_id: &str,
        provider: &str,
        extension: &str,
        user_id: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        let stmt = match user_id {
            Some(u) => Statement::new(
                SET_EXTENSION,
                [org_id.into(), provider.into(), extension.into(), u.into(), now.into()],
            ),
            None => Statement::new(DROP_EXTENSION, [org_id.into(), provider.into(), extension.into()]),
        };
        self.exec(stmt).await?;
        Ok(())
    }

    /// The org's extension → member map for `provider`.
    pub async fn extensions(&self, org_id: &str, provider: &str) -> Result<Vec<(String, String)>> {
        Ok(on_read!(self, pool => sqlx::query_as(
            "SELECT extension, user_id FROM provider_extensions WHERE org_id = $1 AND provider = $2 ORDER BY extension")
            .bind(org_id)
            .bind(provider)
            .fetch_all(pool)
            .await)?)
    }
}
