//! CallLog rows and participants' lines: create, conditional update, reads.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::params::{Column, Statement, Value, insert_sql, named, update_sql, values};
use super::{Executed, Store, on_read};
use crate::error::{Error, Result};
use crate::model::{Call, CallStatus, Channel, Direction, EndReason, Millis, ParticipantType, Party, PhoneLeg};

/// Every column of `calls`, in one place: the insert, every `SELECT` and the
/// values bound come from this table (a new column is one row here, one
/// field of `CallRow` and the migrations).
const CALL_COLUMNS: &[Column<Call>] = &[
    col("id", |c| (&c.id).into()),
    col("tenant_id", |c| (&c.tenant_id).into()),
    col("room_name", |c| (&c.room_name).into()),
    col("from_user_id", |c| (&c.caller.user_id).into()),
    col("from_user_type", |c| c.caller.kind.as_str().into()),
    col("to_user_id", |c| (&c.callee.user_id).into()),
    col("to_user_type", |c| c.callee.kind.as_str().into()),
    col("caller_name", |c| (&c.caller_name).into()),
    col("status", |c| c.status.as_str().into()),
    col("started_at", |c| c.started_at.into()),
    col("answered_at", |c| c.answered_at.into()),
    col("ended_at", |c| c.ended_at.into()),
    col("duration", |c| c.duration.into()),
    col("end_reason", |c| c.end_reason.map(EndReason::as_str).into()),
    col("ended_by", |c| (&c.ended_by).into()),
    col("ring_deadline", |c| c.ring_deadline.into()),
    col("grace_deadline", |c| c.grace_deadline.into()),
    col("grace_reason", |c| c.grace_reason.map(EndReason::as_str).into()),
    col("caller_session", |c| (&c.caller_session).into()),
    col("callee_session", |c| (&c.callee_session).into()),
    col("record", |c| c.record.into()),
    col("node_id", |c| (&c.node_id).into()),
    col("version", |c| c.version.into()),
    col("grace_since", |c| c.grace_since.into()),
    col("recording_path", |c| (&c.recording_path).into()),
    col("recording_bytes", |c| c.recording_bytes.into()),
    col("recording_error", |c| (&c.recording_error).into()),
    col("callee_name", |c| (&c.callee_name).into()),
    col("channel", |c| c.channel().as_str().into()),
    col("provider", |c| leg(c, |p| Some(&p.provider))),
    col("external_id", |c| leg(c, |p| Some(&p.external_id))),
    col("direction", |c| c.phone.as_ref().map(|p| p.direction.as_str()).into()),
    col("from_number", |c| leg(c, |p| Some(&p.from_number))),
    col("to_number", |c| leg(c, |p| Some(&p.to_number))),
    col("phone_number_id", |c| leg(c, |p| p.phone_number_id.as_ref())),
    col("price_micros", |c| c.phone.as_ref().and_then(|p| p.price_micros).into()),
    col("price_unit", |c| leg(c, |p| p.price_unit.as_ref())),
    col("provider_status", |c| leg(c, |p| p.provider_status.as_ref())),
    col("recording_sid", |c| leg(c, |p| p.recording_sid.as_ref())),
    col("recording_seconds", |c| {
        c.phone.as_ref().and_then(|p| p.recording_seconds).into()
    }),
    col("voicemail", |c| c.phone.as_ref().is_some_and(|p| p.voicemail).into()),
];

/// A text field of the call's phone leg (NULL for in-app calls).
fn leg<'a>(c: &'a Call, f: impl Fn(&'a PhoneLeg) -> Option<&'a String>) -> Value<'a> {
    c.phone.as_deref().and_then(f).map(String::as_str).into()
}

/// What a transition may change: the key first, then the columns it sets
/// (the row's version is the guard, one placeholder after these).
const UPDATED: &[&str] = &[
    "id",
    "status",
    "answered_at",
    "ended_at",
    "duration",
    "end_reason",
    "ended_by",
    "ring_deadline",
    "grace_deadline",
    "grace_reason",
    "callee_session",
    "version",
    "grace_since",
];

static UPDATE_COLUMNS: LazyLock<Vec<&'static Column<Call>>> = LazyLock::new(|| named(CALL_COLUMNS, UPDATED));

/// What a provider's callback may change on a phone call (the version is the guard).
pub(super) const PHONE_UPDATED: &[&str] = &[
    "id",
    "status",
    "answered_at",
    "ended_at",
    "duration",
    "end_reason",
    "to_user_id",
    "to_user_type",
    "callee_name",
    "provider_status",
    "price_micros",
    "price_unit",
    "recording_sid",
    "recording_seconds",
    "voicemail",
    "version",
];

static PHONE_UPDATE_COLUMNS: LazyLock<Vec<&'static Column<Call>>> =
    LazyLock::new(|| named(CALL_COLUMNS, PHONE_UPDATED));
static UPDATE_PHONE_CALL: LazyLock<String> = LazyLock::new(|| update_sql("calls", &PHONE_UPDATE_COLUMNS, "version"));

/// Replaces the phone call at `next.version - 1` with `next` (a provider callback's change).
pub(super) fn update_phone_call(next: &Call) -> Statement<'_> {
    let mut params = values(PHONE_UPDATE_COLUMNS.iter().copied(), next);
    params.push((next.version - 1).into());
    Statement {
        sql: UPDATE_PHONE_CALL.as_str(),
        params,
    }
}

const fn col(name: &'static str, value: for<'a> fn(&'a Call) -> Value<'a>) -> Column<Call> {
    Column { name, value }
}

/// `c.id, c.tenant_id, …`: the columns every `SELECT` of a call reads, in `CallRow`'s names.
fn call_cols() -> String {
    CALL_COLUMNS
        .iter()
        .map(|c| format!("c.{}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `SELECT` of calls: `c.<every column>` then `rest`.
pub(super) fn select(rest: &str) -> String {
    format!("SELECT {} {rest}", call_cols())
}

static INSERT_CALL: LazyLock<String> = LazyLock::new(|| insert_sql("calls", CALL_COLUMNS));
static UPDATE_CALL: LazyLock<String> = LazyLock::new(|| update_sql("calls", &UPDATE_COLUMNS, "version"));

/// The insert of `call` (all columns).
pub(super) fn insert_call(call: &Call) -> Statement<'_> {
    Statement {
        sql: INSERT_CALL.as_str(),
        params: values(CALL_COLUMNS, call),
    }
}

/// Replaces the row at `next.version - 1` with `next`.
fn update_call(next: &Call) -> Statement<'_> {
    let mut params = values(UPDATE_COLUMNS.iter().copied(), next);
    params.push((next.version - 1).into());
    Statement {
        sql: UPDATE_CALL.as_str(),
        params,
    }
}

// A dead member's call taken over: the version is the fence (a paused
// ex-owner's writes at the old version fail).
const CLAIM_CALL: &str = "UPDATE calls SET node_id = $2, version = version + 1 \
     WHERE id = $1 AND version = $3 AND node_id = $4 AND status IN ('RINGING', 'ACTIVE')";

// The members that own open calls (found through the callers' lines).
const OPEN_OWNERS: &str = "SELECT DISTINCT c.node_id FROM call_lines l \
     JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id";

const SET_RECORDING: &str =
    "UPDATE calls SET recording_path = $2, recording_bytes = $3, recording_error = $4 WHERE id = $1";

// Which of two users hold a line (the slow path after a BUSY insert).
const LINES_OF: &str = "SELECT user_id FROM call_lines WHERE tenant_id = $1 AND user_id IN ($2, $3)";

static GET_CALL: LazyLock<String> = LazyLock::new(|| select("FROM calls c WHERE c.id = $1"));

static OPEN_CALL_OF_USER: LazyLock<String> = LazyLock::new(|| {
    select("FROM call_lines l JOIN calls c ON c.id = l.call_id WHERE l.tenant_id = $1 AND l.user_id = $2")
});

// Open calls are found through their caller's line: call_lines holds only
// open calls, so these scans stay as small as the number of live calls.
static RING_DUE: LazyLock<String> = LazyLock::new(|| {
    select(
        "FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id \
         WHERE c.status = 'RINGING' AND c.ring_deadline <= $1 ORDER BY c.ring_deadline LIMIT $2",
    )
});

static GRACE_DUE: LazyLock<String> = LazyLock::new(|| {
    select(
        "FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id \
         WHERE c.grace_deadline IS NOT NULL AND c.grace_deadline <= $1 ORDER BY c.grace_deadline LIMIT $2",
    )
});

static OPEN_ON_NODE: LazyLock<String> = LazyLock::new(|| {
    select("FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id WHERE c.node_id = $1")
});

// Newest first on either side, and the phone calls of the user's numbers
// that they were not a party to (missed, voicemail, answered by a colleague);
// each arm walks its own index, the outer query merges. `$3` is the keyset
// cursor: ids strictly below it.
static HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT * FROM ({}) a UNION ALL SELECT * FROM ({}) b UNION ALL SELECT * FROM ({}) n ORDER BY id DESC LIMIT $4",
        select("FROM calls c WHERE c.tenant_id = $1 AND c.from_user_id = $2 AND c.id < $3 ORDER BY c.id DESC LIMIT $4"),
        select(
            "FROM calls c WHERE c.tenant_id = $1 AND c.to_user_id = $2 AND c.from_user_id <> $2 AND c.id < $3 \
             ORDER BY c.id DESC LIMIT $4"
        ),
        select(
            "FROM phone_assignments pa JOIN calls c ON c.phone_number_id = pa.phone_number_id \
             WHERE pa.org_id = $1 AND pa.user_id = $2 AND c.tenant_id = $1 AND c.from_user_id <> $2 \
             AND c.to_user_id <> $2 AND c.id < $3 ORDER BY c.id DESC LIMIT $4"
        ),
    )
});

const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) FROM calls WHERE status IN ('RINGING', 'ACTIVE') GROUP BY status";

/// The largest id (a UUID is never above it): the cursor of the first page.
pub const FIRST_PAGE_CURSOR: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

#[derive(FromRow)]
pub(super) struct CallRow {
    id: String,
    tenant_id: String,
    room_name: String,
    from_user_id: String,
    from_user_type: String,
    to_user_id: String,
    to_user_type: String,
    caller_name: Option<String>,
    status: String,
    started_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    duration: i64,
    end_reason: Option<String>,
    ended_by: Option<String>,
    ring_deadline: Option<i64>,
    grace_deadline: Option<i64>,
    grace_reason: Option<String>,
    caller_session: Option<String>,
    callee_session: Option<String>,
    record: bool,
    node_id: String,
    version: i64,
    grace_since: Option<i64>,
    recording_path: Option<String>,
    recording_bytes: Option<i64>,
    recording_error: Option<String>,
    callee_name: Option<String>,
    channel: String,
    provider: Option<String>,
    external_id: Option<String>,
    direction: Option<String>,
    from_number: Option<String>,
    to_number: Option<String>,
    phone_number_id: Option<String>,
    price_micros: Option<i64>,
    price_unit: Option<String>,
    provider_status: Option<String>,
    recording_sid: Option<String>,
    recording_seconds: Option<i64>,
    voicemail: bool,
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::Internal(anyhow::anyhow!("corrupt call row: {what} = {value:?}"))
}

impl TryFrom<CallRow> for Call {
    type Error = Error;

    fn try_from(r: CallRow) -> Result<Self> {
        let kind = |s: &str| ParticipantType::parse(s).ok_or_else(|| corrupt("participant type", s));
        let reason = |s: Option<String>| -> Result<Option<EndReason>> {
            s.map(|s| EndReason::parse(&s).ok_or_else(|| corrupt("end reason", &s)))
                .transpose()
        };
        let phone = match Channel::parse(&r.channel).ok_or_else(|| corrupt("channel", &r.channel))? {
            Channel::InApp => None,
            Channel::Pstn => {
                let need = |what: &str, v: Option<String>| v.ok_or_else(|| corrupt(what, "NULL"));
                let direction = need("direction", r.direction)?;
                Some(Box::new(PhoneLeg {
                    provider: need("provider", r.provider)?,
                    external_id: need("external_id", r.external_id)?,
                    direction: Direction::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
                    from_number: need("from_number", r.from_number)?,
                    to_number: need("to_number", r.to_number)?,
                    phone_number_id: r.phone_number_id,
                    price_micros: r.price_micros,
                    price_unit: r.price_unit,
                    provider_status: r.provider_status,
                    recording_sid: r.recording_sid,
                    recording_seconds: r.recording_seconds,
                    voicemail: r.voicemail,
                }))
            }
        };
        Ok(Call {
            phone,
            caller: Party {
                kind: kind(&r.from_user_type)?,
                user_id: r.from_user_id,
            },
            callee: Party {
                kind: kind(&r.to_user_type)?,
                user_id: r.to_user_id,
            },
            status: CallStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            end_reason: reason(r.end_reason)?,
            grace_reason: reason(r.grace_reason)?,
            id: r.id,
            tenant_id: r.tenant_id,
            room_name: r.room_name,
            caller_name: r.caller_name,
            started_at: r.started_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            duration: r.duration,
            ended_by: r.ended_by,
            ring_deadline: r.ring_deadline,
            grace_deadline: r.grace_deadline,
            caller_session: r.caller_session,
            callee_session: r.callee_session,
            record: r.record,
            node_id: r.node_id,
            version: r.version,
            grace_since: r.grace_since,
            recording_path: r.recording_path,
            recording_bytes: r.recording_bytes,
            recording_error: r.recording_error,
            callee_name: r.callee_name,
        })
    }
}

pub(super) fn rows_to_calls(rows: Vec<CallRow>) -> Result<Vec<Call>> {
    rows.into_iter().map(Call::try_from).collect()
}

/// The result of trying to open a call.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The caller's line is held by another open call.
    CallerBusy,
    /// The callee's line is held by another open call.
    CalleeBusy,
    /// A line refused the insert but was released before it could be read: try again.
    LinesFreed,
}

impl CreateOutcome {
    /// After a refused insert: whose line `holders` (the users of `LINES_OF`) says is taken.
    fn of_holders<'a>(call: &Call, holders: impl IntoIterator<Item = &'a str>) -> Self {
        let mut outcome = Self::LinesFreed;
        for user in holders {
            if user == call.caller.user_id {
                return Self::CallerBusy;
            }
            if user == call.callee.user_id {
                outcome = Self::CalleeBusy;
            }
        }
        outcome
    }
}

impl Store {
    /// Opens a RINGING call, taking both participants' lines, or says whose line was taken.
    pub async fn create_call(&self, call: &Call) -> Result<CreateOutcome> {
        match self.exec(insert_call(call)).await? {
            Executed::Rows(_) => Ok(CreateOutcome::Created),
            Executed::UniqueViolation => {
                // Read after the refusal: a line freed meanwhile says `LinesFreed`, and the caller retries.
                let holders: Vec<(String,)> = on_read!(self, pool => sqlx::query_as(LINES_OF)
                    .bind(&call.tenant_id)
                    .bind(&call.caller.user_id)
                    .bind(&call.callee.user_id)
                    .fetch_all(pool)
                    .await)?;
                Ok(CreateOutcome::of_holders(call, holders.iter().map(|(u,)| u.as_str())))
            }
        }
    }

    /// Writes a call that is already final (BUSY), holding no lines.
    pub async fn insert_final_call(&self, call: &Call) -> Result<()> {
        debug_assert!(call.status.is_final());
        match self.exec(insert_call(call)).await? {
            Executed::Rows(_) => Ok(()),
            Executed::UniqueViolation => Err(Error::Internal(anyhow::anyhow!("call {} already written", call.id))),
        }
    }

    /// Replaces the row at `next.version - 1` with `next`; false if another writer got there first.
    /// A final status releases the lines (update trigger).
    pub async fn update_call(&self, next: &Call) -> Result<bool> {
        Ok(self.exec(update_call(next)).await? == Executed::Rows(1))
    }

    /// Makes `member` the owner of `call` if the row is still at `call.version`
    /// and owned by `call.node_id`; returns the claimed row (version + 1).
    pub async fn claim_call(&self, call: &Call, member: &str) -> Result<Option<Call>> {
        let stmt = Statement::new(
            CLAIM_CALL,
            [
                call.id.as_str().into(),
                member.into(),
                call.version.into(),
                call.node_id.as_str().into(),
            ],
        );
        if self.exec(stmt).await? != Executed::Rows(1) {
            return Ok(None);
        }
        let mut claimed = call.clone();
        claimed.node_id = member.to_owned();
        claimed.version += 1;
        Ok(Some(claimed))
    }

    /// The members owning open calls.
    pub async fn open_call_owners(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_read!(self, pool => sqlx::query_as(OPEN_OWNERS).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Notes where a call's recording is, how big it is, and what went wrong with it.
    pub async fn set_recording(&self, call_id: &str, path: &str, bytes: i64, error: Option<&str>) -> Result<()> {
        let stmt = Statement::new(SET_RECORDING, [call_id.into(), path.into(), bytes.into(), error.into()]);
        self.exec(stmt).await.map(drop)
    }

    pub async fn get_call(&self, id: &str) -> Result<Option<Call>> {
        let row: Option<CallRow> =
            on_read!(self, pool => sqlx::query_as(GET_CALL.as_str()).bind(id).fetch_optional(pool).await)?;
        row.map(Call::try_from).transpose()
    }

    /// The open call holding `user_id`'s line, if any.
    pub async fn open_call_of(&self, tenant_id: &str, user_id: &str) -> Result<Option<Call>> {
        let row: Option<CallRow> = on_read!(self, pool => sqlx::query_as(OPEN_CALL_OF_USER.as_str())
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
        row.map(Call::try_from).transpose()
    }

    /// RINGING calls whose ring deadline is at or before `now`.
    pub async fn ring_due(&self, now: Millis, limit: i64) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(RING_DUE.as_str()).bind(now).bind(limit).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// ACTIVE calls whose reconnect grace ends at or before `now`.
    pub async fn grace_due(&self, now: Millis, limit: i64) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(GRACE_DUE.as_str()).bind(now).bind(limit).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// Open calls created by `node_id` (swept when that node restarts).
    pub async fn open_calls_of_node(&self, node_id: &str) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(OPEN_ON_NODE.as_str()).bind(node_id).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// A page of `user_id`'s calls, newest first, ids below `before`.
    pub async fn history(&self, tenant_id: &str, user_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<Call>> {
        let before = before.unwrap_or(FIRST_PAGE_CURSOR);
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(HISTORY.as_str())
            .bind(tenant_id)
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows_to_calls(rows)
    }

    /// How many calls are RINGING and ACTIVE right now (for `/metrics`).
    pub async fn open_call_counts(&self) -> Result<(i64, i64)> {
        let rows: Vec<(String, i64)> = on_read!(self, pool => sqlx::query_as(COUNT_BY_STATUS).fetch_all(pool).await)?;
        let get = |s: &str| rows.iter().find(|(st, _)| st == s).map_or(0, |(_, n)| *n);
        Ok((get("RINGING"), get("ACTIVE")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_is_the_statement_it_replaced() {
        assert_eq!(
            UPDATE_CALL.as_str(),
            "UPDATE calls SET status = $2, answered_at = $3, ended_at = $4, duration = $5, end_reason = $6, \
             ended_by = $7, ring_deadline = $8, grace_deadline = $9, grace_reason = $10, callee_session = $11, \
             version = $12, grace_since = $13 WHERE id = $1 AND version = $14"
        );
    }

    #[test]
    fn the_insert_binds_every_column_once_in_order() {
        let n = CALL_COLUMNS.len();
        assert!(INSERT_CALL.ends_with(&format!("${n})")), "{}", *INSERT_CALL);
        assert!(!INSERT_CALL.contains(&format!("${}", n + 1)));
        for c in CALL_COLUMNS {
            assert!(GET_CALL.contains(&format!("c.{}", c.name)), "{} read back", c.name);
        }
    }
}
