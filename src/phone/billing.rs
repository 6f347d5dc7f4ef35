//! Billing arithmetic, in integers only: provider prices in millionths of a currency unit, invoices in minor units (cents).
//!
//! Twilio reports a call's or message's price as a decimal string with up to
//! six places, negative for a charge (`"-0.01300"`); it is parsed exactly,
//! never through a float. A call is billed per started minute. An invoice's
//! lines are each rounded once (half away from zero) to minor units and the
//! total is their sum, so the lines always add up to the total.

/// Millionths of a currency unit per minor unit (for currencies of two decimals).
pub const MICROS_PER_MINOR: i64 = 10_000;

/// A price string as Twilio gives it (`"-0.0130"`, `"0.75"`, `"7"`) in
/// millionths, as a positive cost; `None` for anything else or more than six places.
pub fn price_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 6
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac_micros: i64 = format!("{frac:0<6}").parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(frac_micros)
}

/// Minutes billed for a call of `secs` seconds: every started minute.
pub fn billed_minutes(secs: i64) -> i64 {
    if secs <= 0 { 0 } else { (secs + 59) / 60 }
}

/// `micros` in minor units, rounded half away from zero.
pub fn micros_to_minor(micros: i128) -> i64 {
    let m = MICROS_PER_MINOR as i128;
    let q = (micros.abs() + m / 2) / m;
    (if micros < 0 { -q } else { q }) as i64
}

/// An org's plan. Rates in millionths per unit; markup in basis points on provider prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub monthly_fee_minor: i64,
    pub included_minutes: i64,
    pub per_minute_micros: i64,
    pub per_sms_segment_micros: i64,
    pub per_number_month_micros: i64,
    pub per_recording_minute_micros: i64,
    pub markup_bps: i64,
}

/// What happened in the period, summed per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    pub call_minutes: i64,
    /// The provider's price for those minutes, where it gave one (else the plan's rate applies to all).
    pub call_price_micros: Option<i64>,
    pub sms_segments: i64,
    pub sms_price_micros: Option<i64>,
    pub number_months: i64,
    /// Billed at the plan's rate (Twilio's recording price is not in its callbacks).
    pub recording_minutes: i64,
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub item: &'static str,
    pub quantity: i64,
    pub amount_minor: i64,
}

/// Lines and their exact sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub lines: Vec<Line>,
    pub total_minor: i64,
}

/// The cost of `quantity` units: the provider's price plus the markup when
/// it gave one, the plan's rate otherwise (in millionths, before rounding).
fn cost(quantity: i64, provider: Option<i64>, rate: i64, markup_bps: i64) -> i128 {
    match provider {
        Some(p) => p as i128 * (10_000 + markup_bps as i128) / 10_000,
        None => quantity as i128 * rate as i128,
    }
}

/// The invoice for a period of `usage` on `plan`.
pub fn invoice(plan: &Plan, usage: &PeriodUsage) -> Invoice {
    let mut lines = vec![Line {
        item: "monthly_fee",
        quantity: 1,
        amount_minor: plan.monthly_fee_minor,
    }];
    let billable = (usage.call_minutes - plan.included_minutes).max(0);
    if usage.call_minutes > 0 {
        // Included minutes are free; a provider price is scaled to the billable share.
        let provider = usage
            .call_price_micros
            .map(|p| (p as i128 * billable as i128 / usage.call_minutes as i128) as i64);
        lines.push(Line {
            item: "call_minutes",
            quantity: billable,
            amount_minor: micros_to_minor(cost(billable, provider, plan.per_minute_micros, plan.markup_bps)),
        });
    }
    if usage.sms_segments > 0 {
        lines.push(Line {
            item: "sms_segments",
            quantity: usage.sms_segments,
            amount_minor: micros_to_minor(cost(
                usage.sms_segments,
                usage.sms_price_micros,
                plan.per_sms_segment_micros,
                plan.markup_bps,
            )),
        });
    }
    if usage.number_months > 0 {
        lines.push(Line {
            item: "phone_numbers",
            quantity: usage.number_months,
            amount_minor: micros_to_minor(cost(usage.number_months, None, plan.per_number_month_micros, 0)),
        });
    }
    if usage.recording_minutes > 0 {
        lines.push(Line {
            item: "recording_minutes",
            quantity: usage.recording_minutes,
            amount_minor: micros_to_minor(cost(usage.recording_minutes, None, plan.per_recording_minute_micros, 0)),
        });
    }
    let total_minor = lines.iter().map(|l| l.amount_minor).sum();
    Invoice { lines, total_minor }
}

#[cfg(test)]
#[path = "billing_tests.rs"]
mod tests;
