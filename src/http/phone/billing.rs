//! Usage and invoices: `/api/phone/usage/{summary,details}`, `/api/admin/plans/{orgId}`, `/api/admin/invoices…`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::model::{Millis, Role};
use crate::store::{InvoiceRow, PlanRow};
use crate::telephony::billing::InvoiceLine;
use crate::wire::views::iso;

/// Most invoices one listing returns.
pub const INVOICE_LIST_MAX: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(details))
        .routes(routes!(put_plan, get_plan))
        .routes(routes!(list_invoices, create_invoice))
        .routes(routes!(one_invoice))
}

/// An RFC 3339 time as Unix milliseconds, or `400` naming `field`.
fn instant(field: &str, text: &str) -> Result<Millis> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| {
        Error::new(
            ErrorCode::InvalidRequest,
            format!("`{field}`: expected an RFC 3339 time such as 2026-12-01T00:00:00Z"),
        )
    })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

/// Checks the period and records the number-months it has touched so far (idempotent), so they show before any invoice.
async fn usage_period(s: &AppState, org: &str, q: &Period) -> Result<(Millis, Millis)> {
    let (from, to) = (instant("from", &q.from)?, instant("to", &q.to)?);
    crate::telephony::billing::check_period(from, to)?;
    let now = now_ms();
    if from < now {
        s.telephony.record_number_months(org, from, to.min(now)).await?;
    }
    Ok((from, to))
}

/// Usage is for admins: an org admin sees their org's, the platform names one.
fn usage_org<'a>(caller: &'a Caller, named: Option<&'a str>) -> Result<&'a str> {
    if caller.role == Role::Member {
        return Err(Error::new(ErrorCode::Forbidden, "usage is for org admins"));
    }
    caller.org_or(named)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Period {
    /// Start, RFC 3339 (inclusive).
    #[param(example = "2026-11-01T00:00:00Z")]
    from: String,
    /// End, RFC 3339 (exclusive); at most 366 days after `from`.
    #[param(example = "2026-12-01T00:00:00Z")]
    to: String,
    /// The org (the platform must name one; an org admin may name only their own).
    #[param(example = "t1")]
    org_id: Option<String>,
    /// Details: `nextCursor` of the previous page.
    before: Option<String>,
    /// Details: page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// An org's usage in a period, per kind (call minutes per direction, SMS segments, number-months, recording minutes).
#[utoipa::path(get, path = "/phone/usage/summary", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(Period),
    responses(
        (status = 200, description = "`{orgId, from, to, usage: [{kind, records, quantity, pricedRecords, providerPriceMicros}]}`", body = Object),
        (status = 400, description = "A bad period, or the platform named no org", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member (usage is for admins)", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn summary(State(s): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<Period>) -> Result<Json<Value>> {
    let org = usage_org(&caller, q.org_id.as_deref())?;
    let (from, to) = usage_period(&s, org, &q).await?;
    let totals = s.telephony.store().usage_totals(org, from, to).await?;
    let kinds: Vec<Value> = totals
        .iter()
        .map(|t| {
            json!({"kind": t.kind, "records": t.records, "quantity": t.quantity,
                   "pricedRecords": t.priced_records, "providerPriceMicros": t.price_micros})
        })
        .collect();
    Ok(Json(
        json!({"orgId": org, "from": iso(from), "to": iso(to), "usage": kinds}),
    ))
}

/// An org's usage records in a period, newest first, a page at a time.
#[utoipa::path(get, path = "/phone/usage/details", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(Period),
    responses(
        (status = 200, description = "`{orgId, records: [{id, kind, quantity, priceMicros, priceSource, refId, occurredAt}], nextCursor}`", body = Object),
        (status = 400, description = "A bad period or page", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member (usage is for admins)", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn details(State(s): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<Period>) -> Result<Json<Value>> {
    let org = usage_org(&caller, q.org_id.as_deref())?;
    let (from, to) = usage_period(&s, org, &q).await?;
    let limit = super::Page {
        before: None,
        limit: q.limit,
    }
    .limit()?;
    let before = q.before.as_deref().unwrap_or(crate::store::FIRST_PAGE_CURSOR);
    let rows = s.telephony.store().usage_records(org, from, to, before, limit).await?;
    let records: Vec<Value> = rows
        .iter()
        .map(|u| {
            json!({"id": u.id, "kind": u.kind, "quantity": u.quantity, "priceMicros": u.price_micros,
                   "priceSource": u.price_source, "refId": u.ref_id, "occurredAt": iso(u.occurred_at)})
        })
        .collect();
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|u| u.id.clone()))
        .flatten();
    Ok(Json(json!({"orgId": org, "records": records, "nextCursor": next})))
}

/// An org's plan: fees in minor units, rates in millionths of the currency per unit, markup in basis points.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"currency": "USD", "monthlyFeeMinor": 2500, "includedMinutes": 100, "perMinuteMicros": 13000,
    "perSmsSegmentMicros": 7900, "perNumberMonthMicros": 1150000, "perRecordingMinuteMicros": 2500, "markupBps": 2000}))]
struct PlanBody {
    /// ISO 4217, e.g. `USD`.
    currency: String,
    monthly_fee_minor: i64,
    included_minutes: i64,
    per_minute_micros: i64,
    per_sms_segment_micros: i64,
    per_number_month_micros: i64,
    #[serde(default)]
    per_recording_minute_micros: i64,
    #[serde(default)]
    markup_bps: i64,
}

fn plan_view(p: &PlanRow) -> Value {
    json!({"orgId": p.org_id, "currency": p.currency, "monthlyFeeMinor": p.monthly_fee_minor,
           "includedMinutes": p.included_minutes, "perMinuteMicros": p.per_minute_micros,
           "perSmsSegmentMicros": p.per_sms_segment_micros, "perNumberMonthMicros": p.per_number_month_micros,
           "perRecordingMinuteMicros": p.per_recording_minute_micros, "markupBps": p.markup_bps,
           "updatedAt": iso(p.updated_at)})
}

/// Largest rate or fee accepted (a guard against typos in the wrong unit, and against overflow).
pub const MAX_RATE: i64 = 1_000_000_000_000;

/// Sets an org's plan (platform only).
#[utoipa::path(put, path = "/admin/plans/{org_id}", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    request_body = PlanBody,
    responses(
        (status = 200, description = "The plan as stored", body = Object),
        (status = 400, description = "A malformed body, a bad currency or rate", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
    ))]
async fn put_plan(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiJson(b): ApiJson<PlanBody>,
) -> Result<Json<Value>> {
    caller.must_be_platform()?;
    if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "`currency`: three capital letters (ISO 4217)",
        ));
    }
    let numbers = [
        ("monthlyFeeMinor", b.monthly_fee_minor),
        ("includedMinutes", b.included_minutes),
        ("perMinuteMicros", b.per_minute_micros),
        ("perSmsSegmentMicros", b.per_sms_segment_micros),
        ("perNumberMonthMicros", b.per_number_month_micros),
        ("perRecordingMinuteMicros", b.per_recording_minute_micros),
        ("markupBps", b.markup_bps),
    ];
    if let Some((name, _)) = numbers.iter().find(|(_, v)| !(0..=MAX_RATE).contains(v)) {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("`{name}`: 0 to {MAX_RATE}"),
        ));
    }
    let p = PlanRow {
        org_id: org,
        currency: b.currency,
        monthly_fee_minor: b.monthly_fee_minor,
        included_minutes: b.included_minutes,
        per_minute_micros: b.per_minute_micros,
        per_sms_segment_micros: b.per_sms_segment_micros,
        per_number_month_micros: b.per_number_month_micros,
        per_recording_minute_micros: b.per_recording_minute_micros,
        markup_bps: b.markup_bps,
        updated_at: now_ms(),
    };
    s.telephony.store().put_plan(&p).await?;
    Ok(Json(plan_view(&p)))
}

/// An org's plan (its admin or the platform).
#[utoipa::path(get, path = "/admin/plans/{org_id}", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    responses(
        (status = 200, description = "The plan", body = Object),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member", body = crate::error::ErrorBody),
        (status = 404, description = "Another org, or no plan", body = crate::error::ErrorBody),
    ))]
async fn get_plan(State(s): State<AppState>, caller: Caller, ApiPath(org): ApiPath<String>) -> Result<Json<Value>> {
    caller.must_administer(&org)?;
    let p = s
        .telephony
        .store()
        .plan(&org)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "that org has no plan"))?;
    Ok(Json(plan_view(&p)))
}

fn invoice_view(i: &InvoiceRow) -> Result<Value> {
    let lines: Vec<InvoiceLine> = serde_json::from_str(&i.lines).map_err(|e| Error::Internal(e.into()))?;
    Ok(
        json!({"id": i.id, "orgId": i.org_id, "periodStart": iso(i.period_start), "periodEnd": iso(i.period_end),
              "currency": i.currency, "totalMinor": i.total_minor, "lines": lines, "createdAt": iso(i.created_at)}),
    )
}

/// `POST /api/admin/invoices`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"orgId": "t1", "periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z"}))]
struct NewInvoice {
    org_id: String,
    period_start: String,
    period_end: String,
}

/// Builds an invoice of an org's period from its usage on its plan: the lines sum exactly to the total (platform only).
#[utoipa::path(post, path = "/admin/invoices", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    request_body = NewInvoice,
    responses(
        (status = 201, description = "`{id, orgId, periodStart, periodEnd, currency, totalMinor, lines: [{item, quantity, amountMinor}], createdAt}`", body = Object),
        (status = 400, description = "A malformed body, a bad period, or no plan", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
    ))]
async fn create_invoice(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<NewInvoice>,
) -> Result<(StatusCode, Json<Value>)> {
    caller.must_be_platform()?;
    let (from, to) = (
        instant("periodStart", &b.period_start)?,
        instant("periodEnd", &b.period_end)?,
    );
    let row = s.telephony.build_invoice(&b.org_id, from, to, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(invoice_view(&row)?)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvoiceList {
    /// The org (the platform must name one).
    #[param(example = "t1")]
    org_id: Option<String>,
    limit: Option<i64>,
}

/// An org's invoices, newest first (its admin or the platform).
#[utoipa::path(get, path = "/admin/invoices", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(InvoiceList),
    responses(
        (status = 200, description = "`{invoices: [...]}`", body = Object),
        (status = 400, description = "The platform named no org", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn list_invoices(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<InvoiceList>,
) -> Result<Json<Value>> {
    let org = usage_org(&caller, q.org_id.as_deref())?;
    let limit = match q.limit {
        None => INVOICE_LIST_MAX,
        Some(n) if (1..=INVOICE_LIST_MAX).contains(&n) => n,
        Some(_) => {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("`limit`: expected 1 to {INVOICE_LIST_MAX}"),
            ));
        }
    };
    let rows = s.telephony.store().invoices(org, limit).await?;
    let list = rows.iter().map(invoice_view).collect::<Result<Vec<_>>>()?;
    Ok(Json(json!({"invoices": list})))
}

/// One invoice (its org's admin or the platform; anyone else: 404).
#[utoipa::path(get, path = "/admin/invoices/{id}", tag = "billing",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The invoice's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 200, description = "The invoice", body = Object),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such invoice the caller may see", body = crate::error::ErrorBody),
    ))]
async fn one_invoice(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Json<Value>> {
    if caller.role == Role::Member {
        return Err(Error::new(ErrorCode::NotFound, "no such invoice"));
    }
    let row = s
        .telephony
        .store()
        .invoice(caller.scope.org(), &id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such invoice"))?;
    Ok(Json(invoice_view(&row)?))
}
