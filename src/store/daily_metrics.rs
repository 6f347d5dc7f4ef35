//! Daily call metrics as stored: org time zones, the per-(org, day, member) rows, and the touches that say which days to recompute.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::calls::{CallRow, rows_to_calls, select};
use super::params::Statement;
use super::{Store, on_read};
use crate::error::Result;
use crate::model::{Call, Millis};

/// One stored (org, day, member) row; `user_id` `*` is the org's own.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct DailyRow {
    pub day: String,
    pub user_id: String,
    pub total: i64,
    pub inbound: i64,
    pub outbound: i64,
    pub answered: i64,
    pub missed: i64,
    pub talk_seconds: i64,
}

/// A call write the metrics have not caught up with.
#[derive(Clone, Debug, FromRow)]
pub struct Touch {
    pub id: i64,
    pub org_id: String,
    pub started_at: Millis,
}

static ENDED_BETWEEN: LazyLock<String> = LazyLock::new(|| {
    select(
        "FROM calls c WHERE c.tenant_id = $1 AND c.started_at >= $2 AND c.started_at < $3 \
         AND c.ended_at IS NOT NULL ORDER BY c.id",
    )
});
// A recomputation never overwrites a newer one (two nodes may recompute one day at once).
const UPSERT: &str = "INSERT INTO daily_call_metrics (org_id, day, user_id, total, inbound, outbound, answered, \
     missed, talk_seconds, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (org_id, day, user_id) DO UPDATE SET total = excluded.total, inbound = excluded.inbound, \
     outbound = excluded.outbound, answered = excluded.answered, missed = excluded.missed, \
     talk_seconds = excluded.talk_seconds, computed_at = excluded.computed_at \
     WHERE excluded.computed_at >= daily_call_metrics.computed_at";
const DROP_STALE: &str = "DELETE FROM daily_call_metrics WHERE org_id = $1 AND day = $2 AND computed_at < $3";
const ROWS: &str = "SELECT day, user_id, total, inbound, outbound, answered, missed, talk_seconds \
     FROM daily_call_metrics WHERE org_id = $1 AND day >= $2 AND day <= $3 AND ($4 IS NULL OR user_id = $4) \
     ORDER BY day, user_id";
const TOUCHES: &str = "SELECT id, org_id, started_at FROM metric_touches WHERE ($1 IS NULL OR org_id = $1) \
     ORDER BY id LIMIT $2";
const DROP_TOUCHES: &str = "DELETE FROM metric_touches WHERE id <= $1 AND ($2 IS NULL OR org_id = $2)";
const SET_ZONE: &str = "INSERT INTO org_settings (org_id, time_zone, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (org_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at";
const DROP_ORG_ROWS: &str = "DELETE FROM daily_call_metrics WHERE org_id = $1";
const RETOUCH_ORG: &str = "INSERT INTO metric_touches (org_id, started_at) \
     SELECT DISTINCT tenant_id, started_at FROM calls WHERE tenant_id = $1 AND ended_at IS NOT NULL";

impl Store {
    /// The org's ended calls that started in `[from, to)`.
    pub async fn ended_calls_between(&self, org_id: &str, from: Millis, to: Millis) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(ENDED_BETWEEN.as_str())
            .bind(org_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?;
        rows_to_calls(rows)
    }

    /// Writes one recomputed row stamped `computed_at`.
    pub async fn upsert_daily(&self, org_id: &str, r: &DailyRow, computed_at: Millis) -> Result<()> {
        let stmt = Statement::new(
            UPSERT,
            [
                org_id.into(),
                r.day.as_str().into(),
                r.user_id.as_str().into(),
                r.total.into(),
                r.inbound.into(),
                r.outbound.into(),
                r.answered.into(),
                r.missed.into(),
                r.talk_seconds.into(),
                computed_at.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// Drops the day's rows older than the recomputation stamped `computed_at` (members no longer on that day).
    pub async fn drop_stale_daily(&self, org_id: &str, day: &str, computed_at: Millis) -> Result<()> {
        self.exec(Statement::new(
            DROP_STALE,
            [org_id.into(), day.into(), computed_at.into()],
        ))
        .await?;
        Ok(())
    }

    /// Rows of days `from..=to` (`YYYY-MM-DD`), one member's (or `*`) or all.
    pub async fn daily_rows(&self, org_id: &str, from: &str, to: &str, user: Option<&str>) -> Result<Vec<DailyRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(ROWS)
            .bind(org_id)
            .bind(from)
            .bind(to)
            .bind(user)
            .fetch_all(pool)
            .await)?)
    }

    /// The oldest touches, of one org or of all.
    pub async fn metric_touches(&self, org_id: Option<&str>, limit: i64) -> Result<Vec<Touch>> {
        Ok(on_read!(self, pool => sqlx::query_as(TOUCHES)
            .bind(org_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Forgets the touches up to `max_id` (of one org, or all): their days were recomputed.
    pub async fn drop_touches(&self, max_id: i64, org_id: Option<&str>) -> Result<()> {
        self.exec(Statement::new(DROP_TOUCHES, [max_id.into(), org_id.into()]))
            .await?;
        Ok(())
    }

    /// The org's IANA time zone, if it set one.
    pub async fn org_time_zone(&self, org_id: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = on_read!(self, pool => sqlx::query_as(
            "SELECT time_zone FROM org_settings WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(z,)| z))
    }

    /// Sets the org's time zone; its days are then recomputed from scratch.
    pub async fn set_org_time_zone(&self, org_id: &str, zone: &str, now: Millis) -> Result<()> {
        self.exec(Statement::new(SET_ZONE, [org_id.into(), zone.into(), now.into()]))
            .await?;
        self.exec(Statement::new(DROP_ORG_ROWS, [org_id.into()])).await?;
        self.exec(Statement::new(RETOUCH_ORG, [org_id.into()])).await?;
        Ok(())
    }
}
