//! SQLite group commit: one thread owns the writer connection and commits queued writes together.
//!
//! SQLite has one writer. Committing every write on its own costs a commit
//! (WAL append, locks, with `synchronous=FULL` an fsync) per write, and going
//! through an async driver costs a thread hand-off per statement. The writer
//! thread instead takes whatever writes are queued (up to `MAX_BATCH`), runs
//! them natively (rusqlite) in one transaction, commits once, and only then
//! answers each caller, so every write is durable before anybody is told about
//! it. Under light load a batch is a single write in autocommit.
//!
//! The SQL texts are the store's own (`$N` placeholders, bound here by name:
//! SQLite numbers parameters by first appearance, not by their digits).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::Participant;
use super::calls::{CreateOutcome, INSERT_CALL, LINES_OF, SET_RECORDING, UPDATE_CALL};
use super::participants::UPSERT;
use crate::call::model::{Call, EndReason};
use crate::error::{Error, Result};

/// Most writes committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// Writes waiting for the writer; callers wait (up to `QUEUE_TIMEOUT`) when it is full.
pub const WRITE_QUEUE: usize = 8_192;
/// A write that cannot even be queued for this long fails as `unavailable`.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept by the writer connection.
const STATEMENT_CACHE: usize = 32;

/// A write and where its result goes.
enum WriteOp {
    CreateCall(Box<Call>, oneshot::Sender<Result<CreateOutcome>>),
    InsertFinal(Box<Call>, oneshot::Sender<Result<()>>),
    UpdateCall(Box<Call>, oneshot::Sender<Result<bool>>),
    Upsert(Box<Participant>, oneshot::Sender<Result<()>>),
    SetRecording(Box<(String, String, i64, Option<String>)>, oneshot::Sender<Result<()>>),
    Stop(oneshot::Sender<()>),
}

/// The handle writes are sent through.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteOp>,
}

fn gone() -> Error {
    Error::Internal(anyhow::anyhow!("the SQLite writer has stopped"))
}

fn db(e: rusqlite::Error) -> Error {
    Error::Internal(anyhow::anyhow!("sqlite write: {e}"))
}

impl Writer {
    /// Opens the writer connection on `path` and starts its thread.
    pub fn open(path: &Path, full_sync: bool, busy_timeout: Duration) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        conn.busy_timeout(busy_timeout).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", if full_sync { "FULL" } else { "NORMAL" })
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| Error::Internal(anyhow::anyhow!("spawn the SQLite writer: {e}")))?;
        Ok(Self { tx })
    }

    async fn submit<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> WriteOp) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        match tokio::time::timeout(QUEUE_TIMEOUT, self.tx.send(make(reply))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(gone()),
            Err(_) => return Err(Error::Store(sqlx::Error::PoolTimedOut)),
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    pub async fn create_call(&self, call: &Call) -> Result<CreateOutcome> {
        self.submit(|r| WriteOp::CreateCall(Box::new(call.clone()), r)).await
    }

    pub async fn insert_final(&self, call: &Call) -> Result<()> {
        self.submit(|r| WriteOp::InsertFinal(Box::new(call.clone()), r)).await
    }

    pub async fn update_call(&self, call: &Call) -> Result<bool> {
        self.submit(|r| WriteOp::UpdateCall(Box::new(call.clone()), r)).await
    }

    pub async fn upsert_participant(&self, p: &Participant) -> Result<()> {
        self.submit(|r| WriteOp::Upsert(Box::new(p.clone()), r)).await
    }

    pub async fn set_recording(&self, call_id: &str, path: &str, bytes: i64, error: Option<&str>) -> Result<()> {
        let row = (call_id.to_owned(), path.to_owned(), bytes, error.map(str::to_owned));
        self.submit(|r| WriteOp::SetRecording(Box::new(row), r)).await
    }

    /// Finishes the queued writes, closes the connection and ends the thread.
    pub async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(WriteOp::Stop(done)).await.is_ok() {
            let _ = tokio::time::timeout(QUEUE_TIMEOUT, wait).await;
        }
    }
}

/// `$1`, `$2`, …: the names the store's SQL uses.
const NAMES: [&str; 25] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15", "$16", "$17",
    "$18", "$19", "$20", "$21", "$22", "$23", "$24", "$25",
];

/// Prepares (cached) `sql` and binds `args` to `$1..$n` by name.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, value) in args.iter().enumerate() {
        let name = NAMES
            .get(i)
            .ok_or(rusqlite::Error::InvalidParameterCount(args.len(), NAMES.len()))?;
        let index = stmt
            .parameter_index(name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName((*name).to_owned()))?;
        stmt.raw_bind_parameter(index, value)?;
    }
    Ok(stmt)
}

/// A call's derived column values, so the argument list can borrow them.
struct CallValues<'a> {
    c: &'a Call,
    caller_kind: &'static str,
    callee_kind: &'static str,
    status: &'static str,
    end_reason: Option<&'static str>,
    grace_reason: Option<&'static str>,
}

impl<'a> CallValues<'a> {
    fn of(c: &'a Call) -> Self {
        Self {
            c,
            caller_kind: c.caller.kind.as_str(),
            callee_kind: c.callee.kind.as_str(),
            status: c.status.as_str(),
            end_reason: c.end_reason.map(EndReason::as_str),
            grace_reason: c.grace_reason.map(EndReason::as_str),
        }
    }

    /// `INSERT_CALL`'s `$1..$25`.
    fn insert_args(&self) -> [&dyn ToSql; 25] {
        let c = self.c;
        [
            &c.id,
            &c.tenant_id,
            &c.room_name,
            &c.caller.user_id,
            &self.caller_kind,
            &c.callee.user_id,
            &self.callee_kind,
            &c.caller_name,
            &self.status,
            &c.started_at,
            &c.answered_at,
            &c.ended_at,
            &c.duration,
            &self.end_reason,
            &c.ended_by,
            &c.ring_deadline,
            &c.grace_deadline,
            &self.grace_reason,
            &c.caller_session,
            &c.callee_session,
            &c.record,
            &c.node_id,
            &c.version,
            &c.grace_since,
            &c.callee_name,
        ]
    }
}

/// SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE (not NOT NULL, CHECK, ...),
/// as PostgreSQL's `UniqueViolation`.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.extended_code, SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE))
}

fn create(conn: &Connection, call: &Call) -> Result<CreateOutcome> {
    let values = CallValues::of(call);
    let inserted = prepare(conn, INSERT_CALL, &values.insert_args()).and_then(|mut s| s.raw_execute());
    match inserted {
        Ok(_) => Ok(CreateOutcome::Created),
        Err(e) if is_unique_violation(&e) => {
            let mut stmt = prepare(
                conn,
                LINES_OF,
                &[&call.tenant_id, &call.caller.user_id, &call.callee.user_id],
            )
            .map_err(db)?;
            let mut rows = stmt.raw_query();
            let mut holders = Vec::with_capacity(2);
            while let Some(row) = rows.next().map_err(db)? {
                holders.push(row.get::<_, String>(0).map_err(db)?);
            }
            Ok(CreateOutcome::of_holders(call, holders.iter().map(String::as_str)))
        }
        Err(e) => Err(db(e)),
    }
}

fn insert(conn: &Connection, call: &Call) -> Result<()> {
    let values = CallValues::of(call);
    prepare(conn, INSERT_CALL, &values.insert_args())
        .and_then(|mut s| s.raw_execute())
        .map(drop)
        .map_err(db)
}

fn update(conn: &Connection, c: &Call) -> Result<bool> {
    let v = CallValues::of(c);
    let prev = c.version - 1;
    let args: [&dyn ToSql; 14] = [
        &c.id,
        &v.status,
        &c.answered_at,
        &c.ended_at,
        &c.duration,
        &v.end_reason,
        &c.ended_by,
        &c.ring_deadline,
        &c.grace_deadline,
        &v.grace_reason,
        &c.callee_session,
        &c.version,
        &prev,
        &c.grace_since,
    ];
    prepare(conn, UPDATE_CALL, &args)
        .and_then(|mut s| s.raw_execute())
        .map(|n| n == 1)
        .map_err(db)
}

fn upsert(conn: &Connection, p: &Participant) -> Result<()> {
    let kind = p.kind.as_str();
    let args: [&dyn ToSql; 8] = [
        &p.tenant_id,
        &p.user_id,
        &kind,
        &p.first_name,
        &p.last_name,
        &p.email,
        &p.role,
        &p.updated_at,
    ];
    prepare(conn, UPSERT, &args)
        .and_then(|mut s| s.raw_execute())
        .map(drop)
        .map_err(db)
}

/// A write's outcome, held until its batch commits.
enum Done {
    Create(oneshot::Sender<Result<CreateOutcome>>, Result<CreateOutcome>),
    Unit(oneshot::Sender<Result<()>>, Result<()>),
    Update(oneshot::Sender<Result<bool>>, Result<bool>),
}

impl Done {
    /// Answers the caller; if the batch failed to commit, with that failure.
    fn answer(self, commit: &std::result::Result<(), String>) {
        let fail = |e: &String| Error::Internal(anyhow::anyhow!("commit failed: {e}"));
        match self {
            Done::Create(tx, r) => drop(tx.send(commit.as_ref().map_err(fail).and(r))),
            Done::Unit(tx, r) => drop(tx.send(commit.as_ref().map_err(fail).and(r))),
            Done::Update(tx, r) => drop(tx.send(commit.as_ref().map_err(fail).and(r))),
        }
    }
}

fn exec(conn: &Connection, op: WriteOp, stop: &mut Option<oneshot::Sender<()>>) -> Option<Done> {
    Some(match op {
        WriteOp::CreateCall(call, tx) => Done::Create(tx, create(conn, &call)),
        WriteOp::InsertFinal(call, tx) => Done::Unit(tx, insert(conn, &call)),
        WriteOp::UpdateCall(call, tx) => Done::Update(tx, update(conn, &call)),
        WriteOp::Upsert(p, tx) => Done::Unit(tx, upsert(conn, &p)),
        WriteOp::SetRecording(r, tx) => {
            let (id, path, bytes, error) = &*r;
            let done = prepare(conn, SET_RECORDING, &[id, path, bytes, error])
                .and_then(|mut s| s.raw_execute())
                .map(drop)
                .map_err(db);
            Done::Unit(tx, done)
        }
        WriteOp::Stop(tx) => {
            *stop = Some(tx);
            return None;
        }
    })
}

fn run(conn: Connection, mut rx: mpsc::Receiver<WriteOp>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let grouped = batch.len() > 1;
        let began = if grouped {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        // Why the batch cannot commit: BEGIN failed, or SQLite rolled the
        // transaction back by itself (SQLITE_FULL, IOERR, NOMEM, ...).
        let mut failed = began.err();
        let mut done = Vec::with_capacity(batch.len());
        for op in batch.drain(..) {
            if let Some(why) = &failed {
                if let WriteOp::Stop(tx) = op {
                    stop = Some(tx);
                } else {
                    // Not run: in autocommit it would be durable while the batch is not.
                    refuse(op, why);
                }
                continue;
            }
            done.extend(exec(&conn, op, &mut stop));
            if grouped && conn.is_autocommit() {
                failed = Some("the transaction was rolled back".to_owned());
            }
        }
        let commit = match (failed, grouped) {
            (Some(e), _) => Err(e),
            (None, false) => Ok(()),
            (None, true) => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            }),
        };
        for d in done {
            d.answer(&commit);
        }
    }
    drop(conn);
    if let Some(tx) = stop {
        let _ = tx.send(());
    }
}

fn refuse(op: WriteOp, why: &str) {
    let err = || Error::Internal(anyhow::anyhow!("batch not written: {why}"));
    match op {
        WriteOp::CreateCall(_, tx) => drop(tx.send(Err(err()))),
        WriteOp::InsertFinal(_, tx) => drop(tx.send(Err(err()))),
        WriteOp::UpdateCall(_, tx) => drop(tx.send(Err(err()))),
        WriteOp::Upsert(_, tx) => drop(tx.send(Err(err()))),
        WriteOp::SetRecording(_, tx) => drop(tx.send(Err(err()))),
        WriteOp::Stop(tx) => drop(tx.send(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::model::ParticipantType;

    fn migrated(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(f).unwrap()).unwrap();
        }
        conn
    }

    fn participant(i: usize) -> Participant {
        Participant {
            tenant_id: "t".into(),
            user_id: format!("user-{i}"),
            kind: ParticipantType::CrmUser,
            first_name: Some("x".repeat(2_000)),
            last_name: None,
            email: None,
            role: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    /// A batch SQLite itself rolls back part-way (here: the database is full)
    /// must leave nothing written and tell every caller so; the writes after
    /// the failure must not run in autocommit and become durable alone.
    #[test]
    fn a_batch_rolled_back_by_sqlite_writes_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let conn = migrated(&path);
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        conn.pragma_update(None, "max_page_count", pages + 4).unwrap();
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let mut answers = Vec::new();
        for i in 0..40 {
            let (otx, orx) = oneshot::channel();
            tx.try_send(WriteOp::Upsert(Box::new(participant(i)), otx)).unwrap();
            answers.push(orx);
        }
        let (stx, srx) = oneshot::channel();
        tx.try_send(WriteOp::Stop(stx)).unwrap();
        std::thread::spawn(move || run(conn, rx)).join().unwrap();
        srx.blocking_recv().unwrap();

        let ok = answers
            .into_iter()
            .map(oneshot::Receiver::blocking_recv)
            .filter(|a| matches!(a, Ok(Ok(()))))
            .count();
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM participants", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            rows, ok as i64,
            "a write is durable exactly when its caller was told so"
        );
        assert!(ok < 40, "the database was meant to fill up");
    }
}
