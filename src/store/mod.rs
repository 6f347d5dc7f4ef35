//! The store: every SQL statement of the server, over SQLite or PostgreSQL.
//!
//! One enum picks the backend at start-up; the `on_write!` / `on_read!` macros
//! compile each statement once per backend, so both stay statically typed and
//! share one SQL text (numbered `$N` placeholders work on both). SQLite gets
//! one writer connection owned by a group-commit task (one writer is all
//! SQLite allows) and a reader pool; PostgreSQL one pool.

mod billing;
mod calls;
mod contacts;
mod daily_metrics;
mod integrations;
mod numbers;
mod params;
mod participants;
mod phone_calls;
mod sms;
mod sqlite_writer;
pub mod url;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use billing::{InvoiceRow, PlanRow, UsageRecord, UsageTotal};
pub use calls::{CreateOutcome, FIRST_PAGE_CURSOR};
pub use contacts::{Before, Contact, Note};
pub use daily_metrics::{DailyRow, Touch};
pub use integrations::IntegrationRow;
pub use numbers::{Assignment, MAX_ASSIGNED_NUMBERS, PhoneNumber};
pub use participants::Participant;
pub use sms::{Conversation, SmsMessage};
pub use sqlite_writer::{MAX_BATCH, WRITE_QUEUE};
pub use webhooks::{Attempt, Endpoint, OutboxRow};

use crate::error::{Error, Result};

/// How long a request waits for a pooled connection before `unavailable`.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A PostgreSQL connection idle at least this long is pinged before use
/// (one that was just used is not: that ping would double every query's
/// round trips on the hot path; a broken one fails its query and is dropped).
pub const POOL_PING_IF_IDLE: Duration = Duration::from_secs(10);
/// How long SQLite waits on a lock held by another process.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers in the SQLite reader pool.
pub const SQLITE_READERS: u32 = 4;

/// A PostgreSQL server that does not answer within this long is reported as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The innermost cause of an error, said once (sqlx repeats its sources in its own text).
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(src) = inner.source() {
        inner = src;
    }
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => db.message().to_owned(),
        _ => inner.to_string(),
    }
}

/// How the store is opened.
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://file.db`, `sqlite:file.db`, a bare path, or `postgres://…`.
    pub url: String,
    /// PostgreSQL pool size.
    pub max_connections: u32,
    /// SQLite `synchronous`: `FULL` (the default: durable across power loss,
    /// one fsync per group commit) or `NORMAL` (durable across a process
    /// crash; the last commits may be lost on power loss).
    pub sqlite_synchronous_full: bool,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &url::redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .field("sqlite_synchronous_full", &self.sqlite_synchronous_full)
            .finish()
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite {
        /// Every write goes through the group-commit writer task.
        writer: sqlite_writer::Writer,
        read: SqlitePool,
    },
    Postgres(PgPool),
}

/// The CallLog and participant directory. Cloning is an `Arc` clone: every
/// session holds one, so it must not copy the backend's options.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

/// What a write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Executed {
    /// It ran and changed this many rows.
    Rows(u64),
    /// A primary key or unique constraint refused it; nothing was written.
    UniqueViolation,
}

/// Runs one write on PostgreSQL, binding its parameter list in order.
async fn pg_exec(pool: &PgPool, stmt: &params::Statement<'_>) -> Result<Executed> {
    let mut q = sqlx::query(stmt.sql);
    for v in &stmt.params {
        q = match v {
            params::Value::Text(t) => q.bind(t.as_deref()),
            params::Value::Int(i) => q.bind(*i),
            params::Value::Bool(b) => q.bind(*b),
        };
    }
    match q.execute(pool).await {
        Ok(done) => Ok(Executed::Rows(done.rows_affected())),
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            Ok(Executed::UniqueViolation)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `$body` with `$pool` bound to a pool for reads.
macro_rules! on_read {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_read;

impl Store {
    /// Opens (creating the SQLite file if needed) and migrates the store.
    /// A failure says, once, what could not be opened and why.
    pub async fn open(opts: &StoreOptions) -> Result<Self> {
        match url::parse(&opts.url).map_err(|e| Error::Internal(anyhow::anyhow!(e)))? {
            url::DatabaseUrl::Postgres { url } => {
                let connect = PgConnectOptions::from_str(&url).map_err(|e| {
                    Error::Internal(anyhow::anyhow!(
                        "DATABASE_URL is not a valid PostgreSQL URL: {}",
                        cause(&e)
                    ))
                })?;
                Self::open_postgres(connect, opts.max_connections).await
            }
            url::DatabaseUrl::Sqlite { path } => Self::open_sqlite(&path, opts.sqlite_synchronous_full).await,
        }
    }

    /// Opens and migrates PostgreSQL with explicit options (tests use a schema per run).
    pub async fn open_postgres(connect: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let server = format!(
            "{}:{} (database {:?})",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        // One connection first: a pool would report only that it timed out.
        use sqlx::Connection;
        let first = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&connect)).await;
        match first {
            Err(_) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "cannot connect to PostgreSQL at {server}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "cannot connect to PostgreSQL at {server}: {}",
                    cause(&e)
                )));
            }
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= POOL_PING_IF_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| {
                Error::Internal(anyhow::anyhow!(
                    "cannot connect to PostgreSQL at {server}: {}",
                    cause(&e)
                ))
            })?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("migrating PostgreSQL at {server} failed: {e}")))?;
        Ok(Self {
            backend: Arc::new(Backend::Postgres(pool)),
        })
    }

    async fn open_sqlite(url: &str, full_sync: bool) -> Result<Self> {
        let path = url;
        let failed = |e: &(dyn std::error::Error + 'static)| {
            Error::Internal(anyhow::anyhow!(
                "cannot open the SQLite database {path:?}: {}",
                cause(e)
            ))
        };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // Migrations first (the reader pool opens read-only, the writer may
        // not start on an old schema).
        let mut conn = base.connect().await.map_err(|e| failed(&e))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut conn)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("migrating the SQLite database {path:?} failed: {e}")))?;
        use sqlx::Connection;
        conn.close().await.map_err(|e| failed(&e))?;
        let writer = sqlite_writer::Writer::open(std::path::Path::new(path), full_sync, SQLITE_BUSY_TIMEOUT)?;
        let read = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(|e| failed(&e))?;
        Ok(Self {
            backend: Arc::new(Backend::Sqlite { writer, read }),
        })
    }

    /// Runs one write: on SQLite through the group-commit writer, on PostgreSQL on the pool.
    async fn exec(&self, stmt: params::Statement<'_>) -> Result<Executed> {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.exec(stmt.into_owned()).await,
            Backend::Postgres(pool) => pg_exec(pool, &stmt).await,
        }
    }

    /// `sqlite` or `postgres`, for logs and `/readyz`.
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        on_read!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        match &*self.backend {
            Backend::Sqlite { writer, read, .. } => {
                read.close().await;
                writer.stop().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
