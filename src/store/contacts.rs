//! Contacts the CRM pushes (org-scoped), their numbers, notes, and the rows of a contact's timeline, read through the caller's scope.
//!
//! Matching is done in the queries, from the numbers and portal user id the
//! contact has now: a changed number re-matches the whole history at once.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::calls::{CallRow, rows_to_calls, select};
use super::params::Statement;
use super::sms::{MSG_COLS, SmsMessage};
use super::{Executed, Store, on_read};
use crate::error::Result;
use crate::model::{Call, Millis};

/// A contact as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Contact {
    pub org_id: String,
    pub id: String,
    pub name: String,
    /// `prospect` | `customer` | `lead`.
    pub kind: String,
    pub portal_user_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A manual note on a contact's timeline.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Note {
    pub id: String,
    pub org_id: String,
    pub contact_id: String,
    pub author_id: String,
    pub body: String,
    pub created_at: Millis,
}

/// Where a timeline page starts: items strictly older than (`at`, `id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Before {
    pub at: Millis,
    pub id: String,
}

const CONTACT_COLS: &str = "org_id, id, name, kind, portal_user_id, created_at, updated_at";
const UPSERT: &str = "INSERT INTO contacts (org_id, id, name, kind, portal_user_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, \
     kind = excluded.kind, portal_user_id = excluded.portal_user_id, updated_at = excluded.updated_at";
const ADD_NUMBER: &str = "INSERT INTO contact_numbers (org_id, contact_id, e164) VALUES ($1, $2, $3) \
     ON CONFLICT (org_id, contact_id, e164) DO NOTHING";
const DROP_NUMBER: &str = "DELETE FROM contact_numbers WHERE org_id = $1 AND contact_id = $2 AND e164 = $3";
const DROP_NOTES: &str = "DELETE FROM contact_notes WHERE org_id = $1 AND contact_id = $2";
const DROP_NUMBERS: &str = "DELETE FROM contact_numbers WHERE org_id = $1 AND contact_id = $2";
const DROP_CONTACT: &str = "DELETE FROM contacts WHERE org_id = $1 AND id = $2";
const NUMBERS: &str = "SELECT e164 FROM contact_numbers WHERE org_id = $1 AND contact_id = $2 ORDER BY e164";
const INSERT_NOTE: &str = "INSERT INTO contact_notes (id, org_id, contact_id, author_id, body, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

static CONTACT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CONTACT_COLS} FROM contacts WHERE org_id = $1 AND id = $2"));
// The contact last updated wins when two share a number.
static BY_NUMBER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONTACT_COLS} FROM contacts c WHERE c.org_id = $1 AND EXISTS (SELECT 1 FROM contact_numbers n \
         WHERE n.org_id = c.org_id AND n.contact_id = c.id AND n.e164 = $2) ORDER BY c.updated_at DESC, c.id LIMIT 1"
    )
});
static BY_PORTAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONTACT_COLS} FROM contacts WHERE org_id = $1 AND portal_user_id = $2 \
         ORDER BY updated_at DESC, id LIMIT 1"
    )
});

/// `$1` org, `$2` contact: its numbers.
const ITS_NUMBERS: &str = "(SELECT e164 FROM contact_numbers n WHERE n.org_id = $1 AND n.contact_id = $2)";

/// `$1` org, `$2` contact, `$3` portal user (NULL: none), `$4` member (NULL: any), `$5`/`$6` before, `$7` limit.
static CALLS: LazyLock<String> = LazyLock::new(|| {
    select(&format!(
        "FROM calls c WHERE c.tenant_id = $1 AND ( \
           ($3 IS NOT NULL AND c.channel = 'in_app' AND (c.from_user_id = $3 OR c.to_user_id = $3)) \
           OR (c.channel = 'pstn' AND (c.from_number IN {ITS_NUMBERS} OR c.to_number IN {ITS_NUMBERS}))) \
         AND ($4 IS NULL OR c.from_user_id = $4 OR c.to_user_id = $4 OR EXISTS (SELECT 1 FROM phone_assignments a \
              WHERE a.phone_number_id = c.phone_number_id AND a.user_id = $4)) \
         AND (c.started_at < $5 OR (c.started_at = $5 AND c.id < $6)) \
         ORDER BY c.started_at DESC, c.id DESC LIMIT $7"
    ))
});

/// `$1` org, `$2` contact, `$3` member (NULL: any), `$4`/`$5` before, `$6` limit.
static TEXTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {MSG_COLS} FROM sms_messages m WHERE m.org_id = $1 \
         AND (m.from_number IN {ITS_NUMBERS} OR m.to_number IN {ITS_NUMBERS}) \
         AND ($3 IS NULL OR EXISTS (SELECT 1 FROM sms_conversations v JOIN phone_assignments a \
              ON a.phone_number_id = v.phone_number_id WHERE v.id = m.conversation_id AND a.user_id = $3)) \
         AND (m.created_at < $4 OR (m.created_at = $4 AND m.id < $5)) \
         ORDER BY m.created_at DESC, m.id DESC LIMIT $6"
    )
});

const NOTES: &str = "SELECT id, org_id, contact_id, author_id, body, created_at FROM contact_notes \
     WHERE org_id = $1 AND contact_id = $2 AND (created_at < $3 OR (created_at = $3 AND id < $4)) \
     ORDER BY created_at DESC, id DESC LIMIT $5";

impl Store {
    /// Creates or replaces the contact, and makes `numbers` (E.164) exactly its numbers.
    pub async fn upsert_contact(&self, c: &Contact, numbers: &[String]) -> Result<()> {
        let stmt = Statement::new(
            UPSERT,
            [
                (&c.org_id).into(),
                (&c.id).into(),
                (&c.name).into(),
                (&c.kind).into(),
                (&c.portal_user_id).into(),
                c.updated_at.into(),
            ],
        );
        self.exec(stmt).await?;
        // New numbers first, then the ones no longer listed: a reader never sees none.
        for n in numbers {
            let stmt = Statement::new(ADD_NUMBER, [(&c.org_id).into(), (&c.id).into(), n.as_str().into()]);
            self.exec(stmt).await?;
        }
        for old in self.contact_numbers(&c.org_id, &c.id).await? {
            if !numbers.contains(&old) {
                let stmt = Statement::new(DROP_NUMBER, [(&c.org_id).into(), (&c.id).into(), old.into()]);
                self.exec(stmt).await?;
            }
        }
        Ok(())
    }

    /// Deletes the contact with its notes and numbers; false if the org had no such contact.
    /// The contact row goes last: a delete cut short leaves a contact that a retry removes, never notes that a later contact of the same id would inherit.
    pub async fn delete_contact(&self, org_id: &str, id: &str) -> Result<bool> {
        if self.contact(org_id, id).await?.is_none() {
            return Ok(false);
        }
        for sql in [DROP_NOTES, DROP_NUMBERS] {
            self.exec(Statement::new(sql, [org_id.into(), id.into()])).await?;
        }
        let gone = self
            .exec(Statement::new(DROP_CONTACT, [org_id.into(), id.into()]))
            .await?;
        Ok(gone == Executed::Rows(1))
    }

    pub async fn contact(&self, org_id: &str, id: &str) -> Result<Option<Contact>> {
        Ok(on_read!(self, pool => sqlx::query_as(CONTACT.as_str())
            .bind(org_id)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn contact_numbers(&self, org_id: &str, id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_read!(self, pool => sqlx::query_as(NUMBERS)
            .bind(org_id)
            .bind(id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// The org's contact with number `e164` (the last updated, if several).
    pub async fn contact_by_number(&self, org_id: &str, e164: &str) -> Result<Option<Contact>> {
        Ok(on_read!(self, pool => sqlx::query_as(BY_NUMBER.as_str())
            .bind(org_id)
            .bind(e164)
            .fetch_optional(pool)
            .await)?)
    }

    /// The org's contact who is portal user `user_id`.
    pub async fn contact_by_portal_user(&self, org_id: &str, user_id: &str) -> Result<Option<Contact>> {
        Ok(on_read!(self, pool => sqlx::query_as(BY_PORTAL.as_str())
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn insert_note(&self, n: &Note) -> Result<()> {
        let stmt = Statement::new(
            INSERT_NOTE,
            [
                (&n.id).into(),
                (&n.org_id).into(),
                (&n.contact_id).into(),
                (&n.author_id).into(),
                (&n.body).into(),
                n.created_at.into(),
            ],
        );
        self.exec(stmt).await?;
        Ok(())
    }

    /// The contact's calls older than `before`, newest first; `member` narrows to what that member may see.
    pub async fn contact_calls(
        &self,
        c: &Contact,
        member: Option<&str>,
        before: &Before,
        limit: i64,
    ) -> Result<Vec<Call>> {
        let rows: Vec<CallRow> = on_read!(self, pool => sqlx::query_as(CALLS.as_str())
            .bind(&c.org_id)
            .bind(&c.id)
            .bind(&c.portal_user_id)
            .bind(member)
            .bind(before.at)
            .bind(&before.id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows_to_calls(rows)
    }

    /// The contact's texts older than `before`, newest first; `member` narrows to their numbers' threads.
    pub async fn contact_texts(
        &self,
        c: &Contact,
        member: Option<&str>,
        before: &Before,
        limit: i64,
    ) -> Result<Vec<SmsMessage>> {
        Ok(on_read!(self, pool => sqlx::query_as(TEXTS.as_str())
            .bind(&c.org_id)
            .bind(&c.id)
            .bind(member)
            .bind(before.at)
            .bind(&before.id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// The contact's notes older than `before`, newest first.
    pub async fn contact_notes(&self, c: &Contact, before: &Before, limit: i64) -> Result<Vec<Note>> {
        Ok(on_read!(self, pool => sqlx::query_as(NOTES)
            .bind(&c.org_id)
            .bind(&c.id)
            .bind(before.at)
            .bind(&before.id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }
}
