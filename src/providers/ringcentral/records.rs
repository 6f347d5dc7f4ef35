//! RingCentral's call-log page (`GET /restapi/v1.0/account/~/call-log`), parsed: records mapped to [`SyncedCall`], and the next page's link.
//!
//! Pure. Paging follows `navigation.nextPage.uri` only: `paging.totalPages`
//! and `totalElements` are often absent and are never relied on.
//! Records still in progress, and fax records, are skipped (a later sync's
//! overlapping window brings the finished call).

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::{CallStatus, Direction};
use crate::providers::synced::SyncedCall;

pub use crate::providers::Page;

#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    records: Vec<Value>,
    #[serde(default)]
    navigation: Navigation,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Navigation {
    next_page: Option<Link>,
}

#[derive(Deserialize)]
struct Link {
    uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: String,
    start_time: String,
    #[serde(default)]
    duration: i64,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    direction: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    from: Option<CallerInfo>,
    #[serde(default)]
    to: Option<CallerInfo>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CallerInfo {
    phone_number: Option<String>,
    extension_number: Option<String>,
}

/// The page in `body`; `Err` when it is not a call-log page at all.
pub fn parse_page(body: &[u8]) -> Result<Page, String> {
    let raw: RawPage = serde_json::from_slice(body).map_err(|e| format!("not a call-log page: {e}"))?;
    let mut page = Page {
        records: Vec::with_capacity(raw.records.len()),
        skipped: Vec::new(),
        next: raw.navigation.next_page.map(|l| l.uri).filter(|u| !u.is_empty()),
    };
    for (i, value) in raw.records.into_iter().enumerate() {
        match map_record(&value) {
            Some(s) => page.records.push((s, value)),
            None => page.skipped.push(
                value
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{i}"), str::to_owned),
            ),
        }
    }
    Ok(page)
}

/// The record as a synced call; `None` for one that is not a finished voice call.
fn map_record(value: &Value) -> Option<SyncedCall> {
    let r: Record = serde_json::from_value(value.clone()).ok()?;
    if r.kind.as_deref().is_some_and(|k| k != "Voice") {
        return None;
    }
    let direction = match r.direction.as_str() {
        "Inbound" => Direction::Inbound,
        "Outbound" => Direction::Outbound,
        _ => return None,
    };
    let (status, voicemail) = map_result(&r.result)?;
    let started = OffsetDateTime::parse(&r.start_time, &Rfc3339).ok()?;
    let (from, to) = (r.from.unwrap_or_default(), r.to.unwrap_or_default());
    let our_extension = match direction {
        Direction::Inbound => to.extension_number.clone(),
        Direction::Outbound => from.extension_number.clone(),
    };
    Some(SyncedCall {
        external_id: r.id,
        direction,
        from_number: from.phone_number.as_deref().and_then(e164),
        to_number: to.phone_number.as_deref().and_then(e164),
        our_extension,
        started_at: (started.unix_timestamp_nanos() / 1_000_000) as i64,
        duration: r.duration.max(0),
        status,
        provider_status: r.result,
        voicemail,
    })
}

/// RingCentral's `result` as our status (and whether it was voicemail); `None` while the call goes on.
pub fn map_result(result: &str) -> Option<(CallStatus, bool)> {
    Some(match result {
        "In Progress" | "Ringing" => return None,
        "Accepted" | "Call connected" | "Reply" | "Received" | "Sent" => (CallStatus::Completed, false),
        "Voicemail" => (CallStatus::Missed, true),
        "Missed" | "No Answer" | "Abandoned" => (CallStatus::Missed, false),
        "Rejected" | "Declined" => (CallStatus::Declined, false),
        "Busy" => (CallStatus::Busy, false),
        // The caller hung up before anyone answered (ours outbound, theirs inbound).
        "Hang Up" | "Stopped" => (CallStatus::Cancelled, false),
        // Blocked, Wrong Number, Call Failed, Call Failure, Internal Error,
        // Restricted, Suspended account, International Disabled, Unknown…
        _ => (CallStatus::Failed, false),
    })
}

/// A number as RingCentral writes it (`+16505550100`, sometimes `16505550100`) in E.164; `None` if it is not one.
pub fn e164(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let plus = if t.starts_with('+') {
        t.to_owned()
    } else if t.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{t}")
    } else {
        t.to_owned()
    };
    crate::phone::e164::normalize(&plus, None).ok()
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
