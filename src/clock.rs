//! The wall clock, read only at the edges (the driver, sessions), never in pure logic.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Millis;

/// Unix time now, in milliseconds.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
