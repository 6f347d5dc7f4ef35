//! CallLog rows and participants' lines: create, conditional update, reads.

use sqlx::{FromRow, PgPool};

use super::{Backend, Store, on_read};
use crate::call::model::{Call, CallStatus, EndReason, Millis, ParticipantType, Party};
use crate::error::{Error, Result};

/// The column list every `SELECT` of a call uses, in `CallRow` order.
macro_rules! call_cols {
    () => {
        "c.id, c.tenant_id, c.room_name, c.from_user_id, c.from_user_type, c.to_user_id, c.to_user_type, \
         c.caller_name, c.status, c.started_at, c.answered_at, c.ended_at, c.duration, c.end_reason, c.ended_by, \
         c.ring_deadline, c.grace_deadline, c.grace_reason, c.caller_session, c.callee_session, c.record, \
         c.node_id, c.version, c.grace_since, c.recording_path, c.recording_bytes, c.recording_error, c.callee_name"
    };
}

pub(super) const INSERT_CALL: &str = "INSERT INTO calls (id, tenant_id, room_name, from_user_id, from_user_type, to_user_id, \
     to_user_type, caller_name, status, started_at, answered_at, ended_at, duration, end_reason, ended_by, \
     ring_deadline, grace_deadline, grace_reason, caller_session, callee_session, record, node_id, version, \
     grace_since, callee_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20, $21, $22, $23, $24, $25)";

pub(super) const UPDATE_CALL: &str = "UPDATE calls SET status = $2, answered_at = $3, ended_at = $4, duration = $5, \
     end_reason = $6, ended_by = $7, ring_deadline = $8, grace_deadline = $9, grace_reason = $10, \
     callee_session = $11, version = $12, grace_since = $14 WHERE id = $1 AND version = $13";

pub(super) const SET_RECORDING: &str =
    "UPDATE calls SET recording_path = $2, recording_bytes = $3, recording_error = $4 WHERE id = $1";

// Which of two users hold a line (the slow path after a BUSY insert).
pub(super) const LINES_OF: &str = "SELECT user_id FROM call_lines WHERE tenant_id = $1 AND user_id IN ($2, $3)";

const GET_CALL: &str = concat!("SELECT ", call_cols!(), " FROM calls c WHERE c.id = $1");

const OPEN_CALL_OF_USER: &str = concat!(
    "SELECT ",
    call_cols!(),
    " FROM call_lines l JOIN calls c ON c.id = l.call_id WHERE l.tenant_id = $1 AND l.user_id = $2"
);

// Open calls are found through their caller's line: call_lines holds only
// open calls, so these scans stay as small as the number of live calls.
const RING_DUE: &str = concat!(
    "SELECT ",
    call_cols!(),
    " FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id \
     WHERE c.status = 'RINGING' AND c.ring_deadline <= $1 ORDER BY c.ring_deadline LIMIT $2"
);

const GRACE_DUE: &str = concat!(
    "SELECT ",
    call_cols!(),
    " FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id \
     WHERE c.grace_deadline IS NOT NULL AND c.grace_deadline <= $1 ORDER BY c.grace_deadline LIMIT $2"
);

const OPEN_ON_NODE: &str = concat!(
    "SELECT ",
    call_cols!(),
    " FROM call_lines l JOIN calls c ON c.id = l.call_id AND c.from_user_id = l.user_id WHERE c.node_id = $1"
);

// Newest first on either side; each arm walks its own index, the outer query
// merges. `$3` is the keyset cursor: ids strictly below it.
const HISTORY: &str = concat!(
    "SELECT * FROM (SELECT ",
    call_cols!(),
    " FROM calls c WHERE c.tenant_id = $1 AND c.from_user_id = $2 AND c.id < $3 ORDER BY c.id DESC LIMIT $4) a \
     UNION ALL SELECT * FROM (SELECT ",
    call_cols!(),
    " FROM calls c WHERE c.tenant_id = $1 AND c.to_user_id = $2 AND c.from_user_id <> $2 AND c.id < $3 \
     ORDER BY c.id DESC LIMIT $4) b ORDER BY id DESC LIMIT $4"
);

const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) FROM calls WHERE status IN ('RINGING', 'ACTIVE') GROUP BY status";

/// The largest id (a UUID is never above it): the cursor of the first page.
pub const FIRST_PAGE_CURSOR: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

#[derive(FromRow)]
struct CallRow {
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
        Ok(Call {
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

fn rows_to_calls(rows: Vec<CallRow>) -> Result<Vec<Call>> {
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
    pub(super) fn of_holders<'a>(call: &Call, holders: impl IntoIterator<Item = &'a str>) -> Self {
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

macro_rules! bind_call {
    ($q:expr, $c:expr) => {
        $q.bind(&$c.id)
            .bind(&$c.tenant_id)
            .bind(&$c.room_name)
            .bind(&$c.caller.user_id)
            .bind($c.caller.kind.as_str())
            .bind(&$c.callee.user_id)
            .bind($c.callee.kind.as_str())
            .bind(&$c.caller_name)
            .bind($c.status.as_str())
            .bind($c.started_at)
            .bind($c.answered_at)
            .bind($c.ended_at)
            .bind($c.duration)
            .bind($c.end_reason.map(EndReason::as_str))
            .bind(&$c.ended_by)
            .bind($c.ring_deadline)
            .bind($c.grace_deadline)
            .bind($c.grace_reason.map(EndReason::as_str))
            .bind(&$c.caller_session)
            .bind(&$c.callee_session)
            .bind($c.record)
            .bind(&$c.node_id)
            .bind($c.version)
            .bind($c.grace_since)
            .bind(&$c.callee_name)
    };
}

// The PostgreSQL writes (SQLite's run in `sqlite_writer`, on the same SQL).

/// Inserts an open call; its trigger takes both lines, or the insert fails
/// with a unique violation and nothing is written.
async fn pg_create(pool: &PgPool, call: &Call) -> Result<CreateOutcome> {
    match bind_call!(sqlx::query(INSERT_CALL), call).execute(pool).await {
        Ok(_) => Ok(CreateOutcome::Created),
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            let holders: Vec<(String,)> = sqlx::query_as(LINES_OF)
                .bind(&call.tenant_id)
                .bind(&call.caller.user_id)
                .bind(&call.callee.user_id)
                .fetch_all(pool)
                .await?;
            Ok(CreateOutcome::of_holders(call, holders.iter().map(|(u,)| u.as_str())))
        }
        Err(e) => Err(e.into()),
    }
}

/// Inserts a call that is already final (BUSY); it holds no lines.
async fn pg_insert(pool: &PgPool, call: &Call) -> Result<()> {
    bind_call!(sqlx::query(INSERT_CALL), call).execute(pool).await?;
    Ok(())
}

/// Replaces the row at `next.version - 1`; false if another writer got there
/// first. A final status releases the lines (update trigger).
async fn pg_update(pool: &PgPool, next: &Call) -> Result<bool> {
    let n = sqlx::query(UPDATE_CALL)
        .bind(&next.id)
        .bind(next.status.as_str())
        .bind(next.answered_at)
        .bind(next.ended_at)
        .bind(next.duration)
        .bind(next.end_reason.map(EndReason::as_str))
        .bind(&next.ended_by)
        .bind(next.ring_deadline)
        .bind(next.grace_deadline)
        .bind(next.grace_reason.map(EndReason::as_str))
        .bind(&next.callee_session)
        .bind(next.version)
        .bind(next.version - 1)
        .bind(next.grace_since)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n == 1)
}

impl Store {
    /// Opens a RINGING call, taking both participants' lines, or says whose line was taken.
    pub async fn create_call(&self, call: &Call) -> Result<CreateOutcome> {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.create_call(call).await,
            Backend::Postgres(pool) => pg_create(pool, call).await,
        }
    }

    /// Writes a call that is already final (BUSY), holding no lines.
    pub async fn insert_final_call(&self, call: &Call) -> Result<()> {
        debug_assert!(call.status.is_final());
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.insert_final(call).await,
            Backend::Postgres(pool) => pg_insert(pool, call).await,
        }
    }

    /// Replaces the row at `next.version - 1` with `next`; false if another writer got there first.
    pub async fn update_call(&self, next: &Call) -> Result<bool> {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.update_call(next).await,
            Backend::Postgres(pool) => pg_update(pool, next).await,
        }
    }

    /// Notes where a call's recording is, how big it is, and what went wrong with it.
    pub async fn set_recording(&self, call_id: &str, path: &str, bytes: i64, error: Option<&str>) -> Result<()> {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.set_recording(call_id, path, bytes, error).await,
            Backend::Postgres(pool) => {
                sqlx::query(SET_RECORDING)
                    .bind(call_id)
                    .bind(path)
                    .bind(bytes)
                    .bind(error)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn get_call(&self, id: &str) -> Result<Option<Call>> {
        let row: Option<CallRow> =
            on_read!(self, pool => sqlx::query_as(GET_CALL).bind(id).fetch_optional(pool).await)?;
        row.map(Call::try_from).transpose()
    }

    /// The open call holding `user_id`'s line, if any.
    pub async fn open_call_of(&self, tenant_id: &str, user_id: &str) -> Result<Option<Call>> {
        let row: Option<CallRow> = on_read!(self, pool => sqlx::query_as(OPEN_CALL_OF_USER)
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?;
        row.map(Call::try_from).transpose()
    }

    /// RINGING calls whose ring deadline is at or before `now`.
    pub async fn ring_due(&self, now: Millis, limit: i64) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(RING_DUE).bind(now).bind(limit).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// ACTIVE calls whose reconnect grace ends at or before `now`.
    pub async fn grace_due(&self, now: Millis, limit: i64) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(GRACE_DUE).bind(now).bind(limit).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// Open calls created by `node_id` (swept when that node restarts).
    pub async fn open_calls_of_node(&self, node_id: &str) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> =
            on_read!(self, pool => sqlx::query_as(OPEN_ON_NODE).bind(node_id).fetch_all(pool).await)?;
        rows_to_calls(rows)
    }

    /// A page of `user_id`'s calls, newest first, ids below `before`.
    pub async fn history(&self, tenant_id: &str, user_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<Call>> {
        let before = before.unwrap_or(FIRST_PAGE_CURSOR);
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(HISTORY)
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
