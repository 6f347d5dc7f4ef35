//! Billing arithmetic: exact prices, per-minute rounding, lines that add up.

use super::*;

fn plan() -> Plan {
    Plan {
        monthly_fee_minor: 2_900,
        included_minutes: 100,
        per_minute_micros: 15_000,
        per_sms_segment_micros: 9_000,
        per_number_month_micros: 1_150_000,
        per_recording_minute_micros: 2_500,
        markup_bps: 2_000,
    }
}

#[test]
fn prices_parse_exactly() {
    for (s, want) in [
        ("-0.0130", Some(13_000)),
        ("0.0130", Some(13_000)),
        ("-0.00750", Some(7_500)),
        ("7", Some(7_000_000)),
        ("1.5", Some(1_500_000)),
        (".25", Some(250_000)),
        ("-0.000001", Some(1)),
        ("0", Some(0)),
        ("", None),
        ("-", None),
        (".", None),
        ("1.2345678", None),
        ("1e-3", None),
        ("0x10", None),
        ("1.2.3", None),
        (" -0.02 ", Some(20_000)),
        ("99999999999999999999", None),
    ] {
        assert_eq!(price_micros(s), want, "{s:?}");
    }
}

#[test]
fn calls_are_billed_per_started_minute() {
    for (secs, min) in [
        (-5, 0),
        (0, 0),
        (1, 1),
        (59, 1),
        (60, 1),
        (61, 2),
        (3_599, 60),
        (3_600, 60),
    ] {
        assert_eq!(billed_minutes(secs), min, "{secs}");
    }
}

#[test]
fn rounding_is_half_away_from_zero() {
    for (micros, minor) in [
        (4_999, 0),
        (5_000, 1),
        (14_999, 1),
        (15_000, 2),
        (-5_000, -1),
        (-4_999, 0),
        (0, 0),
    ] {
        assert_eq!(micros_to_minor(micros), minor, "{micros}");
    }
}

#[test]
fn an_invoice_uses_the_plan_rate_without_a_provider_price() {
    let inv = invoice(
        &plan(),
        &PeriodUsage {
            call_minutes: 250,
            sms_segments: 333,
            number_months: 3,
            recording_minutes: 7,
            ..PeriodUsage::default()
        },
    );
    let amounts: Vec<(&str, i64, i64)> = inv.lines.iter().map(|l| (l.item, l.quantity, l.amount_minor)).collect();
    assert_eq!(
        amounts,
        [
            ("monthly_fee", 1, 2_900),
            ("call_minutes", 150, 225),  // 150 × 1.5 ¢
            ("sms_segments", 333, 300),  // 333 × 0.9 ¢ = 299.7 ¢
            ("phone_numbers", 3, 345),   // 3 × $1.15
            ("recording_minutes", 7, 2), // 7 × 0.25 ¢ = 1.75 ¢
        ]
    );
    assert_eq!(inv.total_minor, 2_900 + 225 + 300 + 345 + 2);
}

#[test]
fn a_provider_price_is_marked_up_and_included_minutes_are_free() {
    let usage = PeriodUsage {
        call_minutes: 200,
        call_price_micros: Some(2_600_000), // $2.60 for 200 minutes
        sms_segments: 10,
        sms_price_micros: Some(79_000),
        number_months: 0,
        recording_minutes: 0,
    };
    let inv = invoice(&plan(), &usage);
    // Half the minutes are billable: $1.30, + 20 % = $1.56.
    assert_eq!(inv.lines[1].amount_minor, 156);
    // $0.079 + 20 % = $0.0948 → 9 ¢.
    assert_eq!(inv.lines[2].amount_minor, 9);
    assert_eq!(inv.lines.len(), 3);
    let under = invoice(
        &plan(),
        &PeriodUsage {
            call_minutes: 40,
            call_price_micros: Some(520_000),
            ..Default::default()
        },
    );
    assert_eq!((under.lines[1].quantity, under.lines[1].amount_minor), (0, 0));
}

#[test]
fn lines_always_add_up_to_the_total() {
    // A deterministic sweep of odd quantities and prices.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m) as i64
    };
    for _ in 0..5_000 {
        let p = Plan {
            monthly_fee_minor: next(10_000),
            included_minutes: next(500),
            per_minute_micros: next(50_000),
            per_sms_segment_micros: next(20_000),
            per_number_month_micros: next(3_000_000),
            per_recording_minute_micros: next(10_000),
            markup_bps: next(5_000),
        };
        let u = PeriodUsage {
            call_minutes: next(10_000),
            call_price_micros: if next(2) == 0 { None } else { Some(next(100_000_000)) },
            sms_segments: next(5_000),
            sms_price_micros: if next(2) == 0 { None } else { Some(next(10_000_000)) },
            number_months: next(20),
            recording_minutes: next(3_000),
        };
        let inv = invoice(&p, &u);
        assert_eq!(inv.total_minor, inv.lines.iter().map(|l| l.amount_minor).sum::<i64>());
        assert!(inv.lines.iter().all(|l| l.amount_minor >= 0));
    }
}
