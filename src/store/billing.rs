//! Usage records (one per billable event, deduplicated by its source), the orgs' plans and their invoices.

use sqlx::FromRow;

use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::{Error, Result};
use crate::model::Millis;

/// One billable event.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct UsageRecord {
    pub id: String,
    pub org_id: String,
    /// `call_minutes_inbound`, `call_minutes_outbound`, `sms_segments_inbound`,
    /// `sms_segments_outbound`, `number_months`, `recording_minutes`.
    pub kind: String,
    pub quantity: i64,
    /// The provider's price, in millionths, when it gave one.
    pub price_micros: Option<i64>,
    /// `provider` (priced by the provider) or `plan` (the org's plan rate applies).
    pub price_source: String,
    /// What the record is for (`twilio:call:CA…`): a second record for it is refused.
    pub source_key: String,
    /// The call, text or number it is for.
    pub ref_id: Option<String>,
    pub occurred_at: Millis,
}

/// A period's usage of one kind.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct UsageTotal {
    pub kind: String,
    pub records: i64,
    pub quantity: i64,
    /// Records the provider priced, and the sum of those prices.
    pub priced_records: i64,
    pub price_micros: i64,
}

/// An org's plan as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct PlanRow {
    pub org_id: String,
    pub currency: String,
    pub monthly_fee_minor: i64,
    pub included_minutes: i64,
    pub per_minute_micros: i64,
    pub per_sms_segment_micros: i64,
    pub per_number_month_micros: i64,
    pub per_recording_minute_micros: i64,
    pub markup_bps: i64,
    pub updated_at: Millis,
}

/// An invoice as stored; `lines` is its JSON array of line items.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub org_id: String,
    pub period_start: Millis,
    pub period_end: Millis,
    pub currency: String,
    pub total_minor: i64,
    pub lines: String,
    pub created_at: Millis,
}

const INSERT_USAGE: &str = "INSERT INTO usage_records (id, org_id, kind, quantity, price_micros, price_source, \
     source_key, ref_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

// PostgreSQL sums BIGINTs as NUMERIC: cast back (the totals stay far below 2^63).
const USAGE_TOTALS: &str = "SELECT kind, COUNT(*) AS records, CAST(coalesce(SUM(quantity), 0) AS BIGINT) AS quantity, \
     COUNT(price_micros) AS priced_records, CAST(coalesce(SUM(price_micros), 0) AS BIGINT) AS price_micros \
     FROM usage_records WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY kind ORDER BY kind";

const USAGE_PAGE: &str = "SELECT id, org_id, kind, quantity, price_micros, price_source, source_key, ref_id, \
     occurred_at FROM usage_records WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND id < $4 \
     ORDER BY id DESC LIMIT $5";

const UPSERT_PLAN: &str = "INSERT INTO plans (org_id, currency, monthly_fee_minor, included_minutes, \
     per_minute_micros, per_sms_segment_micros, per_number_month_micros, per_recording_minute_micros, markup_bps, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (org_id) DO UPDATE SET \
     currency = excluded.currency, monthly_fee_minor = excluded.monthly_fee_minor, \
     included_minutes = excluded.included_minutes, per_minute_micros = excluded.per_minute_micros, \
     per_sms_segment_micros = excluded.per_sms_segment_micros, \
     per_number_month_micros = excluded.per_number_month_micros, \
     per_recording_minute_micros = excluded.per_recording_minute_micros, markup_bps = excluded.markup_bps, \
     updated_at = excluded.updated_at";

const GET_PLAN: &str = "SELECT org_id, currency, monthly_fee_minor, included_minutes, per_minute_micros, \
     per_sms_segment_micros, per_number_month_micros, per_recording_minute_micros, markup_bps, updated_at \
     FROM plans WHERE org_id = $1";

const INSERT_INVOICE: &str = "INSERT INTO invoices (id, org_id, period_start, period_end, currency, total_minor, \
     lines, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const INVOICE_COLS: &str =
    "SELECT id, org_id, period_start, period_end, currency, total_minor, lines, created_at FROM invoices";

/// Numbers held for some of `[$2, $3)` by org `$1` (each is billed a number-month per month touched).
/// Held by this org since `held_since` (a number moved here is billed to it from the move).
const NUMBERS_HELD: &str = "SELECT id, coalesce(held_since, created_at) AS since, released_at FROM phone_numbers \
     WHERE org_id = $1 AND coalesce(held_since, created_at) < $3 AND (released_at IS NULL OR released_at > $2) \
     ORDER BY id";

impl Store {
    /// Writes a usage record; false (nothing written) if its source was already recorded.
    pub async fn record_usage(&self, u: &UsageRecord) -> Result<bool> {
        let stmt = Statement::new(
            INSERT_USAGE,
            [
                (&u.id).into(),
                (&u.org_id).into(),
                (&u.kind).into(),
                u.quantity.into(),
                u.price_micros.into(),
                (&u.price_source).into(),
                (&u.source_key).into(),
                (&u.ref_id).into(),
                u.occurred_at.into(),
            ],
        );
        Ok(self.exec(stmt).await? != Executed::UniqueViolation)
    }

    /// `org_id`'s usage in `[from, to)`, per kind.
    pub async fn usage_totals(&self, org_id: &str, from: Millis, to: Millis) -> Result<Vec<UsageTotal>> {
        Ok(on_read!(self, pool => sqlx::query_as(USAGE_TOTALS)
            .bind(org_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?)
    }

    /// A page of `org_id`'s usage records in `[from, to)`, newest first, ids below `before`.
    pub async fn usage_records(
        &self,
        org_id: &str,
        from: Millis,
        to: Millis,
        before: &str,
        limit: i64,
    ) -> Result<Vec<UsageRecord>> {
        Ok(on_read!(self, pool => sqlx::query_as(USAGE_PAGE)
            .bind(org_id)
            .bind(from)
            .bind(to)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    pub async fn put_plan(&self, p: &PlanRow) -> Result<()> {
        let stmt = Statement::new(
            UPSERT_PLAN,
            [
                (&p.org_id).into(),
                (&p.currency).into(),
                p.monthly_fee_minor.into(),
                p.included_minutes.into(),
                p.per_minute_micros.into(),
                p.per_sms_segment_micros.into(),
                p.per_number_month_micros.into(),
                p.per_recording_minute_micros.into(),
                p.markup_bps.into(),
                p.updated_at.into(),
            ],
        );
        self.exec(stmt).await.map(drop)
    }

    pub async fn plan(&self, org_id: &str) -> Result<Option<PlanRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(GET_PLAN).bind(org_id).fetch_optional(pool).await)?)
    }

    pub async fn insert_invoice(&self, i: &InvoiceRow) -> Result<()> {
        let stmt = Statement::new(
            INSERT_INVOICE,
            [
                (&i.id).into(),
                (&i.org_id).into(),
                i.period_start.into(),
                i.period_end.into(),
                (&i.currency).into(),
                i.total_minor.into(),
                (&i.lines).into(),
                i.created_at.into(),
            ],
        );
        match self.exec(stmt).await? {
            Executed::Rows(_) => Ok(()),
            Executed::UniqueViolation => Err(Error::Internal(anyhow::anyhow!("invoice {} already written", i.id))),
        }
    }

    /// An invoice of `org` (any org when `None`).
    pub async fn invoice(&self, org: Option<&str>, id: &str) -> Result<Option<InvoiceRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{INVOICE_COLS} WHERE id = $1 AND ($2 IS NULL OR org_id = $2)")))
            .bind(id)
            .bind(org)
            .fetch_optional(pool)
            .await)?)
    }

    /// An org's invoices, newest first.
    pub async fn invoices(&self, org_id: &str, limit: i64) -> Result<Vec<InvoiceRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{INVOICE_COLS} WHERE org_id = $1 ORDER BY id DESC LIMIT $2")))
            .bind(org_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// `(id, held since, released_at)` of the numbers `org_id` held during `[from, to)`.
    pub async fn numbers_held(
        &self,
        org_id: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(String, Millis, Option<Millis>)>> {
        Ok(on_read!(self, pool => sqlx::query_as(NUMBERS_HELD)
            .bind(org_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?)
    }
}
