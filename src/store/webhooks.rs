//! Webhooks out as stored: endpoints, the outbox (claimed by a lease per row, so one node sends each attempt), and the attempt log.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::Result;
use crate::model::Millis;

/// An endpoint (holds its signing secret: no `Debug`).
#[derive(Clone, FromRow)]
pub struct Endpoint {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub secret: String,
    /// Space-separated event types.
    pub events: String,
    pub description: Option<String>,
    pub created_at: Millis,
}

impl Endpoint {
    pub fn wants(&self, event: &str) -> bool {
        self.events.split(' ').any(|e| e == event)
    }
}

/// One message for one endpoint.
#[derive(Clone, Debug, FromRow)]
pub struct OutboxRow {
    pub msg_id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending` | `delivered` | `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// One attempt.
#[derive(Clone, Debug, FromRow)]
pub struct Attempt {
    pub msg_id: String,
    pub endpoint_id: String,
    pub attempt: i64,
    pub at: Millis,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

const EP_COLS: &str = "id, org_id, url, secret, events, description, created_at";
const INSERT_EP: &str = "INSERT INTO webhook_endpoints (id, org_id, url, secret, events, description, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const DELETE_EP: &str = "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2";
const FAIL_EP_MESSAGES: &str = "UPDATE webhook_outbox SET state = 'failed', lease_owner = NULL, lease_until = NULL WHERE endpoint_id = $1 AND state = 'pending'";
const OB_COLS: &str =
    "msg_id, endpoint_id, org_id, event_type, payload, state, attempts, next_attempt_at, created_at, delivered_at";
const ENQUEUE: &str = "INSERT INTO webhook_outbox (msg_id, endpoint_id, org_id, event_type, payload, state, attempts, \
     next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
     ON CONFLICT (msg_id, endpoint_id) DO NOTHING";
const CLAIM: &str = "UPDATE webhook_outbox SET lease_owner = $3, lease_until = $5 WHERE msg_id = $1 AND endpoint_id = $2 \
     AND state = 'pending' AND next_attempt_at <= $4 AND (lease_until IS NULL OR lease_until < $4)";
const DELIVERED: &str = "UPDATE webhook_outbox SET state = 'delivered', attempts = $4, delivered_at = $5, \
     lease_owner = NULL, lease_until = NULL WHERE msg_id = $1 AND endpoint_id = $2 AND lease_owner = $3";
const RETRY: &str = "UPDATE webhook_outbox SET state = $4, attempts = $5, next_attempt_at = $6, \
     lease_owner = NULL, lease_until = NULL WHERE msg_id = $1 AND endpoint_id = $2 AND lease_owner = $3";
static EP_BY_ORG: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EP_COLS} FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id"));
static EP_BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {EP_COLS} FROM webhook_endpoints WHERE id = $1"));
static DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OB_COLS} FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $2"
    )
});
static MESSAGES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OB_COLS} FROM webhook_outbox WHERE endpoint_id = $1 ORDER BY created_at DESC, msg_id DESC LIMIT $2"
    )
});
const LOG: &str = "INSERT INTO webhook_deliveries (msg_id, endpoint_id, attempt, at, status_code, error, duration_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (msg_id, endpoint_id, attempt) DO NOTHING";

impl Store {
    pub async fn insert_endpoint(&self, e: &Endpoint) -> Result<()> {
        let stmt = Statement::new(
            INSERT_EP,
            [
                (&e.id).into(),
                (&e.org_id).into(),
                (&e.url).into(),
                (&e.secret).into(),
                (&e.events).into(),
                (&e.description).into(),
                e.created_at.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// The org's endpoints, oldest first.
    pub async fn endpoints(&self, org_id: &str) -> Result<Vec<Endpoint>> {
        Ok(on_read!(self, pool => sqlx::query_as(EP_BY_ORG.as_str()).bind(org_id).fetch_all(pool).await)?)
    }

    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        Ok(on_read!(self, pool => sqlx::query_as(EP_BY_ID.as_str()).bind(id).fetch_optional(pool).await)?)
    }

    /// Removes the endpoint; its pending messages become `failed`. False if it was not the org's.
    pub async fn delete_endpoint(&self, org_id: &str, id: &str) -> Result<bool> {
        let gone = self.exec(Statement::new(DELETE_EP, [org_id.into(), id.into()])).await? == Executed::Rows(1);
        if gone {
            self.exec(Statement::new(FAIL_EP_MESSAGES, [id.into()])).await?;
        }
        Ok(gone)
    }

    /// Stores a message for an endpoint, due at `now`; a second enqueue of the same id is a no-op.
    pub async fn enqueue(&self, r: &OutboxRow) -> Result<()> {
        let stmt = Statement::new(
            ENQUEUE,
            [
                (&r.msg_id).into(),
                (&r.endpoint_id).into(),
                (&r.org_id).into(),
                (&r.event_type).into(),
                (&r.payload).into(),
                r.created_at.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// Pending messages due by `now` and not leased, oldest due first.
    pub async fn due_messages(&self, now: Millis, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(on_read!(self, pool => sqlx::query_as(DUE.as_str()).bind(now).bind(limit).fetch_all(pool).await)?)
    }

    /// Takes one message for an attempt until `until`; false if another worker has it or it is no longer due.
    pub async fn claim_message(&self, r: &OutboxRow, owner: &str, now: Millis, until: Millis) -> Result<bool> {
        let stmt = Statement::new(
            CLAIM,
            [
                (&r.msg_id).into(),
                (&r.endpoint_id).into(),
                owner.into(),
                now.into(),
                until.into(),
            ],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    pub async fn mark_delivered(&self, r: &OutboxRow, owner: &str, attempts: i64, now: Millis) -> Result<()> {
        let stmt = Statement::new(
            DELIVERED,
            [
                (&r.msg_id).into(),
                (&r.endpoint_id).into(),
                owner.into(),
                attempts.into(),
                now.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// After a failed attempt: due again at `next` (`pending`), or `failed` when `next` is `None`.
    pub async fn mark_retry(&self, r: &OutboxRow, owner: &str, attempts: i64, next: Option<Millis>) -> Result<()> {
        let (state, at) = match next {
            Some(at) => ("pending", at),
            None => ("failed", r.next_attempt_at),
        };
        let stmt = Statement::new(
            RETRY,
            [
                (&r.msg_id).into(),
                (&r.endpoint_id).into(),
                owner.into(),
                state.into(),
                attempts.into(),
                at.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    pub async fn log_attempt(&self, a: &Attempt) -> Result<()> {
        let stmt = Statement::new(
            LOG,
            [
                (&a.msg_id).into(),
                (&a.endpoint_id).into(),
                a.attempt.into(),
                a.at.into(),
                a.status_code.into(),
                (&a.error).into(),
                a.duration_ms.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// An endpoint's attempts, newest first, with each message's event type and state.
    pub async fn attempts_of(&self, endpoint_id: &str, limit: i64) -> Result<Vec<(Attempt, String, String)>> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            a: Attempt,
            event_type: String,
            state: String,
        }
        let sql = "SELECT d.msg_id, d.endpoint_id, d.attempt, d.at, d.status_code, d.error, d.duration_ms, \
             o.event_type, o.state FROM webhook_deliveries d JOIN webhook_outbox o \
             ON o.msg_id = d.msg_id AND o.endpoint_id = d.endpoint_id \
             WHERE d.endpoint_id = $1 ORDER BY d.at DESC, d.attempt DESC LIMIT $2";
        let rows: Vec<Row> =
            on_read!(self, pool => sqlx::query_as(sql).bind(endpoint_id).bind(limit).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|r| (r.a, r.event_type, r.state)).collect())
    }

    /// The messages of an endpoint (every state), newest first.
    pub async fn messages_of(&self, endpoint_id: &str, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(
            on_read!(self, pool => sqlx::query_as(MESSAGES.as_str()).bind(endpoint_id).bind(limit).fetch_all(pool).await)?,
        )
    }
}
