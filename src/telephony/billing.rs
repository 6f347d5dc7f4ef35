//! Usage read back per org, number-months recorded, and invoices built from a period's usage on the org's plan.

use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::model::Millis;
use crate::phone::billing::{PeriodUsage, Plan, invoice};
use crate::store::{InvoiceRow, PlanRow, UsageTotal};

use super::Telephony;

/// Longest period one invoice covers.
pub const MAX_INVOICE_PERIOD_DAYS: i64 = 366;
const DAY_MS: i64 = 86_400_000;

/// One invoice line as stored (the `lines` JSON) and shown.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceLine {
    /// `monthly_fee`, `call_minutes`, `sms_segments`, `phone_numbers`, `recording_minutes`.
    pub item: String,
    pub quantity: i64,
    /// In minor units of the invoice's currency (cents).
    pub amount_minor: i64,
}

/// The first instant (UTC) of every calendar month `[from, to)` touches, in order.
pub fn month_starts(from: Millis, to: Millis) -> Vec<Millis> {
    use time::{Date, Month, OffsetDateTime, Time};
    let mut out = Vec::new();
    let Ok(start) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000) else {
        return out;
    };
    let (mut y, mut m) = (start.year(), start.month());
    loop {
        let Ok(first) = Date::from_calendar_date(y, m, 1) else {
            return out;
        };
        let at = (first.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        if at >= to {
            return out;
        }
        out.push(at);
        if m == Month::December {
            y += 1;
        }
        m = m.next();
    }
}

/// `400` unless `[from, to)` is a period of at most [`MAX_INVOICE_PERIOD_DAYS`].
pub fn check_period(from: Millis, to: Millis) -> Result<()> {
    if to <= from {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "the period's end must be after its start",
        ));
    }
    if to - from > MAX_INVOICE_PERIOD_DAYS * DAY_MS {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("a period covers at most {MAX_INVOICE_PERIOD_DAYS} days"),
        ));
    }
    Ok(())
}

/// The plan as the invoice arithmetic takes it.
fn plan_of(p: &PlanRow) -> Plan {
    Plan {
        monthly_fee_minor: p.monthly_fee_minor,
        included_minutes: p.included_minutes,
        per_minute_micros: p.per_minute_micros,
        per_sms_segment_micros: p.per_sms_segment_micros,
        per_number_month_micros: p.per_number_month_micros,
        per_recording_minute_micros: p.per_recording_minute_micros,
        markup_bps: p.markup_bps,
    }
}

/// Sums the period's usage per billed item. A provider price is used for an
/// item only when the provider priced every record of it; otherwise the
/// plan's rate applies to the whole item.
pub fn period_usage(totals: &[UsageTotal]) -> PeriodUsage {
    let (mut u, mut call_priced, mut sms_priced) = (PeriodUsage::default(), true, true);
    let (mut call_price, mut sms_price) = (0i64, 0i64);
    for t in totals {
        let all_priced = t.priced_records == t.records;
        match t.kind.as_str() {
            "call_minutes_inbound" | "call_minutes_outbound" => {
                u.call_minutes += t.quantity;
                call_priced &= all_priced;
                call_price += t.price_micros;
            }
            "sms_segments_inbound" | "sms_segments_outbound" => {
                u.sms_segments += t.quantity;
                sms_priced &= all_priced;
                sms_price += t.price_micros;
            }
            "number_months" => u.number_months += t.quantity,
            "recording_minutes" => u.recording_minutes += t.quantity,
            _ => {}
        }
    }
    u.call_price_micros = (call_priced && u.call_minutes > 0).then_some(call_price);
    u.sms_price_micros = (sms_priced && u.sms_segments > 0).then_some(sms_price);
    u
}

impl Telephony {
    /// One `number_months` record per number held and calendar month touched in `[from, to)` (idempotent).
    pub async fn record_number_months(&self, org_id: &str, from: Millis, to: Millis) -> Result<()> {
        for (id, created, released) in self.store.numbers_held(org_id, from, to).await? {
            let held_to = released.unwrap_or(to).min(to);
            for month in month_starts(created.max(from), held_to) {
                let at = month.max(created).max(from);
                self.usage(
                    org_id,
                    "number_months",
                    1,
                    None,
                    format!("number:{org_id}:{id}:{month}"),
                    &id,
                    at,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Builds and stores the invoice of `org_id` for `[from, to)`: its lines sum exactly to its total.
    pub async fn build_invoice(&self, org_id: &str, from: Millis, to: Millis, now: Millis) -> Result<InvoiceRow> {
        if to <= from {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                "`periodEnd` must be after `periodStart`",
            ));
        }
        if to - from > MAX_INVOICE_PERIOD_DAYS * DAY_MS {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("an invoice covers at most {MAX_INVOICE_PERIOD_DAYS} days"),
            ));
        }
        let Some(plan) = self.store.plan(org_id).await? else {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                "that org has no plan: PUT /api/admin/plans/{orgId} first",
            ));
        };
        self.record_number_months(org_id, from, to).await?;
        let totals = self.store.usage_totals(org_id, from, to).await?;
        let inv = invoice(&plan_of(&plan), &period_usage(&totals));
        let lines: Vec<InvoiceLine> = inv
            .lines
            .iter()
            .map(|l| InvoiceLine {
                item: l.item.to_owned(),
                quantity: l.quantity,
                amount_minor: l.amount_minor,
            })
            .collect();
        let row = InvoiceRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org_id.to_owned(),
            period_start: from,
            period_end: to,
            currency: plan.currency.clone(),
            total_minor: inv.total_minor,
            lines: serde_json::to_string(&lines).map_err(|e| Error::Internal(e.into()))?,
            created_at: now,
        };
        self.store.insert_invoice(&row).await?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_1_2026: Millis = 1_767_225_600_000;
    const FEB_1_2026: Millis = 1_769_904_000_000;
    const MAR_1_2026: Millis = 1_772_323_200_000;

    #[test]
    fn months_touched_start_at_the_first_of_each_month() {
        assert_eq!(month_starts(JAN_1_2026, FEB_1_2026), vec![JAN_1_2026]);
        assert_eq!(
            month_starts(JAN_1_2026 + 5, FEB_1_2026 + 1),
            vec![JAN_1_2026, FEB_1_2026]
        );
        assert_eq!(month_starts(FEB_1_2026 - 1, MAR_1_2026), vec![JAN_1_2026, FEB_1_2026]);
        assert!(month_starts(FEB_1_2026, FEB_1_2026).is_empty());
        // December rolls into the next year.
        let dec_1_2025 = JAN_1_2026 - 31 * DAY_MS;
        assert_eq!(month_starts(dec_1_2025, JAN_1_2026 + 1), vec![dec_1_2025, JAN_1_2026]);
    }

    fn total(kind: &str, records: i64, quantity: i64, priced: i64, price: i64) -> UsageTotal {
        UsageTotal {
            kind: kind.into(),
            records,
            quantity,
            priced_records: priced,
            price_micros: price,
        }
    }

    #[test]
    fn a_provider_price_counts_only_when_every_record_has_one() {
        let u = period_usage(&[
            total("call_minutes_inbound", 2, 5, 2, 42_500),
            total("call_minutes_outbound", 1, 3, 1, 39_000),
            total("sms_segments_outbound", 2, 3, 1, 7_900),
            total("number_months", 2, 2, 0, 0),
            total("recording_minutes", 1, 4, 0, 0),
        ]);
        assert_eq!(u.call_minutes, 8);
        assert_eq!(u.call_price_micros, Some(81_500));
        assert_eq!(u.sms_segments, 3);
        assert_eq!(u.sms_price_micros, None, "one text had no price: the plan rate applies");
        assert_eq!((u.number_months, u.recording_minutes), (2, 4));
        assert_eq!(period_usage(&[]), PeriodUsage::default());
    }
}
