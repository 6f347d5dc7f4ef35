//! Local days of an org: the day an instant falls on in the org's time zone, and the instants a day spans (23 or 25 hours across a DST change).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The time zone used when an org has set none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// Why a day or a zone was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayError {
    UnknownZone(String),
    BadDay(String),
    OutOfRange,
}

impl std::fmt::Display for DayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownZone(z) => write!(f, "unknown time zone `{z}` (an IANA name, as America/New_York)"),
            Self::BadDay(d) => write!(f, "`{d}` is not a day (YYYY-MM-DD)"),
            Self::OutOfRange => f.write_str("the day is out of range"),
        }
    }
}

/// An IANA time zone (from the bundled tz database).
pub fn zone(name: &str) -> Result<TimeZone, DayError> {
    TimeZone::get(name).map_err(|_| DayError::UnknownZone(name.to_owned()))
}

/// `YYYY-MM-DD` as a date.
pub fn parse_day(text: &str) -> Result<Date, DayError> {
    if text.len() != 10 {
        return Err(DayError::BadDay(text.to_owned()));
    }
    text.parse::<Date>().map_err(|_| DayError::BadDay(text.to_owned()))
}

/// The local day (`YYYY-MM-DD`) of Unix ms `at` in `tz`.
pub fn day_of(at_ms: i64, tz: &TimeZone) -> Result<String, DayError> {
    let ts = Timestamp::from_millisecond(at_ms).map_err(|_| DayError::OutOfRange)?;
    Ok(ts.to_zoned(tz.clone()).date().to_string())
}

/// `[start, end)` in Unix ms of local day `day` in `tz`.
pub fn bounds(day: Date, tz: &TimeZone) -> Result<(i64, i64), DayError> {
    let start = day.to_zoned(tz.clone()).map_err(|_| DayError::OutOfRange)?;
    let next = day.tomorrow().map_err(|_| DayError::OutOfRange)?;
    let end = next.to_zoned(tz.clone()).map_err(|_| DayError::OutOfRange)?;
    Ok((start.timestamp().as_millisecond(), end.timestamp().as_millisecond()))
}

/// Every day from `from` to `to`, both included (empty if `to` is before `from`).
pub fn days(from: Date, to: Date) -> Vec<Date> {
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        out.push(d);
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn ms(iso: &str) -> i64 {
        iso.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn an_instant_falls_on_the_orgs_local_day() {
        let ny = zone("America/New_York").unwrap();
        // 03:30 UTC on 1 Dec is 22:30 on 30 Nov in New York.
        assert_eq!(day_of(ms("2026-12-01T03:30:00Z"), &ny).unwrap(), "2026-11-30");
        assert_eq!(day_of(ms("2026-12-01T05:00:00Z"), &ny).unwrap(), "2026-12-01");
        let utc = zone(DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(day_of(ms("2026-12-01T03:30:00Z"), &utc).unwrap(), "2026-12-01");
        let tokyo = zone("Asia/Tokyo").unwrap();
        assert_eq!(day_of(ms("2026-11-30T15:00:00Z"), &tokyo).unwrap(), "2026-12-01");
    }

    #[test]
    fn days_across_dst_changes_are_23_and_25_hours() {
        let ny = zone("America/New_York").unwrap();
        let (s, e) = bounds(parse_day("2026-03-08").unwrap(), &ny).unwrap();
        assert_eq!((s, e - s), (ms("2026-03-08T05:00:00Z"), 23 * H));
        let (s, e) = bounds(parse_day("2026-11-01").unwrap(), &ny).unwrap();
        assert_eq!((s, e - s), (ms("2026-11-01T04:00:00Z"), 25 * H));
        let (s, e) = bounds(parse_day("2026-12-01").unwrap(), &ny).unwrap();
        assert_eq!((s, e - s), (ms("2026-12-01T05:00:00Z"), 24 * H));
        // The 25th hour of the fall-back day is still that day.
        assert_eq!(day_of(ms("2026-11-02T04:59:59Z"), &ny).unwrap(), "2026-11-01");
        assert_eq!(day_of(ms("2026-11-02T05:00:00Z"), &ny).unwrap(), "2026-11-02");
    }

    #[test]
    fn bad_zones_and_days_are_refused_and_ranges_list_each_day() {
        assert!(matches!(zone("Mars/Olympus"), Err(DayError::UnknownZone(_))));
        for bad in ["2026-13-01", "2026-02-30", "yesterday", "2026-1-1", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
        let list = days(parse_day("2026-02-27").unwrap(), parse_day("2026-03-02").unwrap());
        let text: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
        assert!(days(parse_day("2026-03-02").unwrap(), parse_day("2026-03-01").unwrap()).is_empty());
    }
}
