//! Daily call metrics, the pure part (issue #12): local days in an org's time zone, and a day's calls tallied per member.
//!
//! No IO, no clock: the dashboard service (the `dashboard` module) reads the
//! calls and stores what [`tally::tally`] returns.

pub mod day;
pub mod tally;
