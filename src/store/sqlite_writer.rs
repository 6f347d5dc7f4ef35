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

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::Executed;
use super::params::{Statement, Value, placeholder};
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
    /// One statement with its parameters.
    Exec(Box<Statement<'static>>, oneshot::Sender<Result<Executed>>),
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

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Text(None) | Value::Int(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(Some(i)) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
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

    /// Runs `stmt` in the next batch; answered once that batch has committed.
    pub async fn exec(&self, stmt: Statement<'static>) -> Result<Executed> {
        let (reply, answer) = oneshot::channel();
        let op = WriteOp::Exec(Box::new(stmt), reply);
        match tokio::time::timeout(QUEUE_TIMEOUT, self.tx.send(op)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(gone()),
            Err(_) => return Err(Error::Store(sqlx::Error::PoolTimedOut)),
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Finishes the queued writes, closes the connection and ends the thread.
    pub async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(WriteOp::Stop(done)).await.is_ok() {
            let _ = tokio::time::timeout(QUEUE_TIMEOUT, wait).await;
        }
    }
}

/// Prepares (cached) `stmt.sql` and binds its parameters to `$1..$n` by name
/// (SQLite numbers parameters by first appearance, not by their digits).
fn prepare<'c>(conn: &'c Connection, stmt: &Statement<'_>) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut prepared = conn.prepare_cached(stmt.sql)?;
    let mut buf = [0u8; 24];
    for (i, value) in stmt.params.iter().enumerate() {
        let name = placeholder(i + 1, &mut buf);
        let index = prepared
            .parameter_index(name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        prepared.raw_bind_parameter(index, value)?;
    }
    if stmt.params.len() != prepared.parameter_count() {
        return Err(rusqlite::Error::InvalidParameterCount(
            stmt.params.len(),
            prepared.parameter_count(),
        ));
    }
    Ok(prepared)
}

/// SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE (not NOT NULL, CHECK, ...),
/// as PostgreSQL's `UniqueViolation`.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.extended_code, SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE))
}

/// Runs one statement; a unique violation is an outcome, not an error.
fn execute(conn: &Connection, stmt: &Statement<'_>) -> Result<Executed> {
    match prepare(conn, stmt).and_then(|mut s| s.raw_execute()) {
        Ok(n) => Ok(Executed::Rows(n as u64)),
        Err(e) if is_unique_violation(&e) => Ok(Executed::UniqueViolation),
        Err(e) => Err(db(e)),
    }
}

/// A write's outcome, held until its batch commits.
struct Done(oneshot::Sender<Result<Executed>>, Result<Executed>);

impl Done {
    /// Answers the caller; if the batch failed to commit, with that failure.
    fn answer(self, commit: &std::result::Result<(), String>) {
        let fail = |e: &String| Error::Internal(anyhow::anyhow!("commit failed: {e}"));
        let Done(tx, r) = self;
        let _ = tx.send(commit.as_ref().map_err(fail).and(r));
    }
}

fn exec(conn: &Connection, op: WriteOp, stop: &mut Option<oneshot::Sender<()>>) -> Option<Done> {
    match op {
        WriteOp::Exec(stmt, tx) => Some(Done(tx, execute(conn, &stmt))),
        WriteOp::Stop(tx) => {
            *stop = Some(tx);
            None
        }
    }
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
    match op {
        WriteOp::Exec(_, tx) => drop(tx.send(Err(Error::Internal(anyhow::anyhow!("batch not written: {why}"))))),
        WriteOp::Stop(tx) => drop(tx.send(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ParticipantType;
    use crate::store::Participant;

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
            let stmt = crate::store::participants::upsert(&participant(i)).into_owned();
            tx.try_send(WriteOp::Exec(Box::new(stmt), otx)).unwrap();
            answers.push(orx);
        }
        let (stx, srx) = oneshot::channel();
        tx.try_send(WriteOp::Stop(stx)).unwrap();
        std::thread::spawn(move || run(conn, rx)).join().unwrap();
        srx.blocking_recv().unwrap();

        let ok = answers
            .into_iter()
            .map(oneshot::Receiver::blocking_recv)
            .filter(|a| matches!(a, Ok(Ok(Executed::Rows(1)))))
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
