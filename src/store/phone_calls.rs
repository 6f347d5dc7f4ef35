//! Phone calls in the CallLog: inserted and advanced by provider callbacks, read through the caller's scope.

use std::sync::LazyLock;

use super::calls::{CallRow, insert_call, rows_to_calls, select, update_phone_call};
use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::Result;
use crate::model::{Call, Millis, Scope};

static BY_EXTERNAL: LazyLock<String> =
    LazyLock::new(|| select("FROM calls c WHERE c.provider = $1 AND c.external_id = $2"));

/// `$1` org (NULL: any), `$2` member (NULL: any): a member sees the calls they
/// were part of and the phone calls of the numbers assigned to them.
const VISIBLE: &str = "($1 IS NULL OR c.tenant_id = $1) AND ($2 IS NULL OR c.from_user_id = $2 OR c.to_user_id = $2 \
     OR EXISTS (SELECT 1 FROM phone_assignments a WHERE a.phone_number_id = c.phone_number_id AND a.user_id = $2))";

static PHONE_PAGE: LazyLock<String> = LazyLock::new(|| {
    select(&format!(
        "FROM calls c WHERE c.channel = 'pstn' AND {VISIBLE} AND c.id < $3 ORDER BY c.id DESC LIMIT $4"
    ))
});

static IN_SCOPE: LazyLock<String> = LazyLock::new(|| {
    select(&format!(
        "FROM calls c WHERE c.id = $3 AND c.channel = 'pstn' AND {VISIBLE}"
    ))
});

/// Placements whose provider never named the call (the process died between the insert and Twilio's answer).
static STALE_PENDING: LazyLock<String> = LazyLock::new(|| {
    select(
        "FROM calls c WHERE c.channel = 'pstn' AND c.status = 'RINGING' AND c.external_id LIKE 'pending-%' \
         AND c.started_at < $1 ORDER BY c.started_at LIMIT $2",
    )
});

const SET_EXTERNAL: &str = "UPDATE calls SET external_id = $2, version = version + 1 WHERE id = $1 AND version = $3";

impl Store {
    /// Writes a new phone call; false (nothing written) if the provider's id is already stored.
    pub async fn insert_phone_call(&self, call: &Call) -> Result<bool> {
        Ok(self.exec(insert_call(call)).await? != Executed::UniqueViolation)
    }

    /// The phone call the provider knows as `external_id`.
    pub async fn phone_call_by_external(&self, provider: &str, external_id: &str) -> Result<Option<Call>> {
        let row: Option<CallRow> = on_read!(self, pool => sqlx::query_as(BY_EXTERNAL.as_str())
            .bind(provider)
            .bind(external_id)
            .fetch_optional(pool)
            .await)?;
        row.map(Call::try_from).transpose()
    }

    /// Replaces the phone call at `next.version - 1`; false if a concurrent callback got there first.
    pub async fn update_phone_call(&self, next: &Call) -> Result<bool> {
        Ok(self.exec(update_phone_call(next)).await? == Executed::Rows(1))
    }

    /// Records the provider's id of a call placed before the provider named it.
    pub async fn set_external_id(&self, call: &Call, external_id: &str) -> Result<bool> {
        let stmt = Statement::new(
            SET_EXTERNAL,
            [call.id.as_str().into(), external_id.into(), call.version.into()],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// Phone calls still waiting for the provider's id, placed before `before`.
    pub async fn stale_pending_calls(&self, before: Millis, limit: i64) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(STALE_PENDING.as_str())
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows_to_calls(rows)
    }

    /// A page of the phone calls `scope` may see, newest first, ids below `before`.
    pub async fn phone_calls(&self, scope: &Scope, before: &str, limit: i64) -> Result<Vec<Call>> {
        let (org, user) = scope.filters();
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(PHONE_PAGE.as_str())
            .bind(org)
            .bind(user)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows_to_calls(rows)
    }

    /// A phone call `scope` may see; `None` for another org's (or an in-app call: those are their participants' only), exactly as for an unknown id.
    pub async fn call_in_scope(&self, scope: &Scope, id: &str) -> Result<Option<Call>> {
        let (org, user) = scope.filters();
        let row: Option<CallRow> = on_read!(self, pool => sqlx::query_as(IN_SCOPE.as_str())
            .bind(org)
            .bind(user)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(Call::try_from).transpose()
    }
}
