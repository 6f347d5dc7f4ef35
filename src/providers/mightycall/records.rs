//! MightyCall's call list (`GET {api}/api/calls`), parsed: calls mapped to [`SyncedCall`], and where the next page starts.
//!
//! Pure. MightyCall's readable documentation names the call list but not its
//! shape (docs/integrations.md, "MightyCall"): what is read here is the
//! envelope `{"data": {"calls": [...], "total": N}}` and the fields public
//! clients of the API use. Anything else in a record is kept in the raw
//! payload, not guessed at; a record missing what a CallLog row needs is
//! skipped and counted, never half-written.

use serde::Deserialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::model::{CallStatus, Direction};
use crate::providers::Page;
use crate::providers::synced::SyncedCall;

/// A page and what paging needs from it.
#[derive(Debug)]
pub struct Parsed {
    pub page: Page,
    /// Calls the page held (mapped and skipped).
    pub returned: u64,
    /// `data.total`, when the answer gives it.
    pub total: Option<u64>,
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    calls: Vec<Value>,
    total: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: IdValue,
    direction: String,
    call_status: String,
    date_time_utc: String,
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    business_number: Option<Value>,
    #[serde(default)]
    caller: Option<Party>,
    #[serde(default)]
    called: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(u64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<Party>),
    One(Party),
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct Party {
    phone: Option<String>,
    extension: Option<Value>,
    #[serde(default)]
    is_connected: Option<bool>,
}

/// The page in `body`; `Err` when it is not a call list at all.
pub fn parse_page(body: &[u8]) -> Result<Parsed, String> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| format!("not a MightyCall call list: {e}"))?;
    let data = env.data.ok_or("not a MightyCall call list: no `data`")?;
    let returned = data.calls.len() as u64;
    let mut page = Page {
        records: Vec::with_capacity(data.calls.len()),
        ..Page::default()
    };
    for (i, value) in data.calls.into_iter().enumerate() {
        match map_record(&value) {
            Some(s) => page.records.push((s, value)),
            None => page.skipped.push(match value.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => format!("#{i}"),
            }),
        }
    }
    Ok(Parsed {
        page,
        returned,
        total: data.total,
    })
}

/// Where the next page starts: after a full page, unless `total` says it was the last.
pub fn next_skip(skip: u64, page_size: u64, returned: u64, total: Option<u64>) -> Option<u64> {
    let next = skip.checked_add(returned)?;
    if returned == 0 || returned < page_size || total.is_some_and(|t| next >= t) {
        None
    } else {
        Some(next)
    }
}

/// The call as a synced call; `None` for one still going on, or missing what a row needs.
fn map_record(value: &Value) -> Option<SyncedCall> {
    let r: Record = serde_json::from_value(value.clone()).ok()?;
    let external_id = match r.id {
        IdValue::Text(s) if !s.trim().is_empty() => s,
        IdValue::Number(n) => n.to_string(),
        IdValue::Text(_) => return None,
    };
    let direction = match r.direction.as_str() {
        "Incoming" | "Inbound" => Direction::Inbound,
        "Outgoing" | "Outbound" => Direction::Outbound,
        _ => return None,
    };
    let (status, voicemail) = map_status(&r.call_status)?;
    let started_at = parse_utc(&r.date_time_utc)?;
    let duration = match r.duration {
        None | Some(Value::Null) => 0,
        Some(v) => duration_secs(&v)?,
    };
    let business = r.business_number.as_ref().and_then(business_phone);
    let caller = r.caller.unwrap_or_default();
    let called = match r.called {
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(p)) => vec![p],
        None => Vec::new(),
    };
    // The callee who picked up, else the first one rung.
    let callee = called
        .iter()
        .find(|p| p.is_connected == Some(true))
        .or_else(|| called.first())
        .cloned()
        .unwrap_or_default();
    let (from_number, to_number, our_extension) = match direction {
        Direction::Inbound => (
            caller.phone.as_deref().and_then(e164),
            business.or_else(|| callee.phone.as_deref().and_then(e164)),
            callee.extension.as_ref().and_then(extension),
        ),
        Direction::Outbound => (
            business.or_else(|| caller.phone.as_deref().and_then(e164)),
            callee.phone.as_deref().and_then(e164),
            caller.extension.as_ref().and_then(extension),
        ),
    };
    Some(SyncedCall {
        external_id,
        direction,
        from_number,
        to_number,
        our_extension,
        started_at,
        duration,
        status,
        provider_status: r.call_status,
        voicemail,
    })
}

/// MightyCall's `callStatus` as our status (and whether it was voicemail); `None` while the call goes on.
pub fn map_status(status: &str) -> Option<(CallStatus, bool)> {
    Some(match status {
        "Ringing" | "InProgress" | "Active" | "Connecting" => return None,
        "Connected" => (CallStatus::Completed, false),
        "VoiceMail" | "Voicemail" => (CallStatus::Missed, true),
        "Missed" | "NoAnswer" => (CallStatus::Missed, false),
        // Ended before anyone answered: the caller gave up.
        "Dropped" | "Abandoned" => (CallStatus::Cancelled, false),
        "Busy" => (CallStatus::Busy, false),
        "Rejected" | "Declined" => (CallStatus::Declined, false),
        // A word we do not know: kept as the provider's status, counted as failed.
        _ => (CallStatus::Failed, false),
    })
}

/// `dateTimeUtc`: RFC 3339, or a date and time without a zone (UTC, as the name says). Unix ms.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim();
    let at = OffsetDateTime::parse(t, &Rfc3339).ok().or_else(|| {
        let plain = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
        PrimitiveDateTime::parse(t, plain)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `duration` in milliseconds (a number or a string of digits) as whole seconds, rounded.
pub fn duration_secs(v: &Value) -> Option<i64> {
    let ms = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    (ms >= 0).then(|| (ms + 500) / 1000)
}

/// `businessNumber`: a string, or an object with `number`/`phone`.
fn business_phone(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => e164(s),
        Value::Object(o) => o
            .get("number")
            .or_else(|| o.get("phone"))
            .and_then(Value::as_str)
            .and_then(e164),
        _ => None,
    }
}

fn extension(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A number as MightyCall writes it (`+16505550100`, `16505550100`, `(650) 555-0100`) in E.164; `None` if it is not one.
pub fn e164(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let plus = if t.starts_with('+') {
        t.to_owned()
    } else if t.bytes().all(|b| b.is_ascii_digit()) && digits > 10 {
        format!("+{t}")
    } else {
        t.to_owned()
    };
    // A national number without a country is read as North American: MightyCall sells US and Canadian numbers.
    crate::phone::e164::normalize(&plus, Some("US")).ok()
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
