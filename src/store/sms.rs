//! Texts, threaded per (our number, their number): conversations and messages, read through the caller's scope.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::Result;
use crate::model::{Millis, Scope};

/// A thread between one of the org's numbers and one outside number.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Conversation {
    pub id: String,
    pub org_id: String,
    pub phone_number_id: String,
    pub our_number: String,
    pub their_number: String,
    pub last_message_at: Millis,
    pub created_at: Millis,
}

/// One text.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SmsMessage {
    /// UUIDv7: pages of a thread are keyed on it.
    pub id: String,
    pub conversation_id: String,
    pub org_id: String,
    /// `inbound` | `outbound`.
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub body: String,
    /// The provider's status (`received`, `queued`, `sent`, `delivered`, `failed`…).
    pub status: String,
    pub provider: String,
    pub external_id: Option<String>,
    pub segments: i64,
    pub price_micros: Option<i64>,
    pub price_unit: Option<String>,
    /// Who sent it (outbound).
    pub user_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const UPSERT_CONVERSATION: &str = "INSERT INTO sms_conversations (id, org_id, phone_number_id, our_number, \
     their_number, last_message_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
     ON CONFLICT (org_id, phone_number_id, their_number) DO UPDATE SET last_message_at = CASE \
     WHEN excluded.last_message_at > sms_conversations.last_message_at THEN excluded.last_message_at \
     ELSE sms_conversations.last_message_at END";

const CONV_COLS: &str =
    "v.id, v.org_id, v.phone_number_id, v.our_number, v.their_number, v.last_message_at, v.created_at";

/// `$1` org (NULL: any), `$2` member (NULL: any): a member sees the threads of their numbers.
const VISIBLE: &str = "($1 IS NULL OR v.org_id = $1) AND ($2 IS NULL OR EXISTS \
     (SELECT 1 FROM phone_assignments a WHERE a.phone_number_id = v.phone_number_id AND a.user_id = $2))";

static CONVERSATION_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONV_COLS} FROM sms_conversations v WHERE v.org_id = $1 AND v.phone_number_id = $2 AND v.their_number = $3"
    )
});
static CONVERSATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONV_COLS} FROM sms_conversations v WHERE {VISIBLE} AND (v.last_message_at < $3 OR \
         (v.last_message_at = $3 AND v.id < $4)) ORDER BY v.last_message_at DESC, v.id DESC LIMIT $5"
    )
});
static CONVERSATION: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CONV_COLS} FROM sms_conversations v WHERE v.id = $3 AND {VISIBLE}"));

pub(super) const MSG_COLS: &str = "id, conversation_id, org_id, direction, from_number, to_number, body, status, provider, \
     external_id, segments, price_micros, price_unit, user_id, created_at, updated_at";

static INSERT_MESSAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO sms_messages ({MSG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )
});
static MESSAGES: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MSG_COLS} FROM sms_messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
});
static MESSAGE_BY_EXTERNAL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {MSG_COLS} FROM sms_messages WHERE provider = $1 AND external_id = $2"));

/// Texts never handed to the provider (the process died before Twilio answered).
const FAIL_UNSENT: &str = "UPDATE sms_messages SET status = 'failed', updated_at = $2 \
     WHERE status = 'accepted' AND external_id IS NULL AND direction = 'outbound' AND created_at < $1";

const SET_STATUS: &str = "UPDATE sms_messages SET status = $2, price_micros = coalesce($3, price_micros), \
     price_unit = coalesce($4, price_unit), updated_at = $5 WHERE id = $1 AND status = $6";
// A status callback may have got there first: the sid is kept, a later status is not overwritten.
const SET_MESSAGE_EXTERNAL: &str = "UPDATE sms_messages SET external_id = coalesce(external_id, $2), \
     status = CASE WHEN status = 'accepted' THEN $3 ELSE status END, segments = $4, updated_at = $5 WHERE id = $1";
static MESSAGE_BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {MSG_COLS} FROM sms_messages WHERE id = $1"));

impl Store {
    /// The thread of (`phone_number_id`, `their_number`), created if new; its last message time moved to `at`.
    pub async fn touch_conversation(&self, c: &Conversation) -> Result<Conversation> {
        let stmt = Statement::new(
            UPSERT_CONVERSATION,
            [
                (&c.id).into(),
                (&c.org_id).into(),
                (&c.phone_number_id).into(),
                (&c.our_number).into(),
                (&c.their_number).into(),
                c.last_message_at.into(),
            ],
        );
        self.exec(stmt).await?;
        let found: Option<Conversation> = on_read!(self, pool => sqlx::query_as(CONVERSATION_OF.as_str())
            .bind(&c.org_id)
            .bind(&c.phone_number_id)
            .bind(&c.their_number)
            .fetch_optional(pool)
            .await)?;
        found.ok_or_else(|| crate::error::Error::Internal(anyhow::anyhow!("conversation vanished after its upsert")))
    }

    /// Writes a text; false (nothing written) if the provider's id is already stored.
    pub async fn insert_message(&self, m: &SmsMessage) -> Result<bool> {
        let stmt = Statement::new(
            INSERT_MESSAGE.as_str(),
            [
                (&m.id).into(),
                (&m.conversation_id).into(),
                (&m.org_id).into(),
                (&m.direction).into(),
                (&m.from_number).into(),
                (&m.to_number).into(),
                (&m.body).into(),
                (&m.status).into(),
                (&m.provider).into(),
                (&m.external_id).into(),
                m.segments.into(),
                m.price_micros.into(),
                (&m.price_unit).into(),
                (&m.user_id).into(),
                m.created_at.into(),
                m.updated_at.into(),
            ],
        );
        Ok(self.exec(stmt).await? != Executed::UniqueViolation)
    }

    /// The provider's id and first status of a text it accepted.
    pub async fn set_message_sent(
        &self,
        id: &str,
        external_id: &str,
        status: &str,
        segments: i64,
        now: Millis,
    ) -> Result<()> {
        let stmt = Statement::new(
            SET_MESSAGE_EXTERNAL,
            [
                id.into(),
                external_id.into(),
                status.into(),
                segments.into(),
                now.into(),
            ],
        );
        self.exec(stmt).await.map(drop)
    }

    /// Marks outbound texts still unsent since before `before` failed; how many.
    pub async fn fail_unsent_messages(&self, before: Millis, now: Millis) -> Result<u64> {
        match self
            .exec(Statement::new(FAIL_UNSENT, [before.into(), now.into()]))
            .await?
        {
            Executed::Rows(n) => Ok(n),
            Executed::UniqueViolation => Ok(0),
        }
    }

    /// One text by our id.
    pub async fn message(&self, id: &str) -> Result<Option<SmsMessage>> {
        Ok(on_read!(self, pool => sqlx::query_as(MESSAGE_BY_ID.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn message_by_external(&self, provider: &str, external_id: &str) -> Result<Option<SmsMessage>> {
        Ok(on_read!(self, pool => sqlx::query_as(MESSAGE_BY_EXTERNAL.as_str())
            .bind(provider)
            .bind(external_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Moves a text from status `from` to `to`; false if it was not at `from` any more.
    pub async fn set_message_status(
        &self,
        id: &str,
        from: &str,
        to: &str,
        price: Option<(i64, &str)>,
        now: Millis,
    ) -> Result<bool> {
        let stmt = Statement::new(
            SET_STATUS,
            [
                id.into(),
                to.into(),
                price.map(|p| p.0).into(),
                price.map(|p| p.1).into(),
                now.into(),
                from.into(),
            ],
        );
        Ok(self.exec(stmt).await? == Executed::Rows(1))
    }

    /// Threads `scope` may see, most recent first, before the cursor `(at, id)`.
    pub async fn conversations(&self, scope: &Scope, before: (Millis, &str), limit: i64) -> Result<Vec<Conversation>> {
        let (org, user) = scope.filters();
        Ok(on_read!(self, pool => sqlx::query_as(CONVERSATIONS.as_str())
            .bind(org)
            .bind(user)
            .bind(before.0)
            .bind(before.1)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// One thread `scope` may see; `None` for another org's or another member's, as for an unknown id.
    pub async fn conversation(&self, scope: &Scope, id: &str) -> Result<Option<Conversation>> {
        let (org, user) = scope.filters();
        Ok(on_read!(self, pool => sqlx::query_as(CONVERSATION.as_str())
            .bind(org)
            .bind(user)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// A page of a thread's texts, newest first, ids below `before`.
    pub async fn messages(&self, conversation_id: &str, before: &str, limit: i64) -> Result<Vec<SmsMessage>> {
        Ok(on_read!(self, pool => sqlx::query_as(MESSAGES.as_str())
            .bind(conversation_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }
}
