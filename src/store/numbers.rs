//! The orgs' phone numbers and their assignments to members, every read filtered by the caller's scope.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::params::Statement;
use super::{Executed, Store, on_read};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Millis, Scope};

/// A number an org holds (or held: `released_at`).
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct PhoneNumber {
    pub id: String,
    pub org_id: String,
    /// E.164.
    pub e164: String,
    pub provider: String,
    /// The provider's id of the number (Twilio's `PN…`).
    pub provider_sid: Option<String>,
    pub label: Option<String>,
    pub voice: bool,
    pub sms: bool,
    pub created_at: Millis,
    pub released_at: Option<Millis>,
}

/// One member's right to use one number.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Assignment {
    pub phone_number_id: String,
    pub org_id: String,
    pub user_id: String,
    pub created_at: Millis,
}

const COLS: &str =
    "n.id, n.org_id, n.e164, n.provider, n.provider_sid, n.label, n.voice, n.sms, n.created_at, n.released_at";

/// `$1` org (NULL: any), `$2` member (NULL: any): the numbers the scope may see.
const SCOPED: &str = "n.released_at IS NULL AND ($1 IS NULL OR n.org_id = $1) AND ($2 IS NULL OR EXISTS \
     (SELECT 1 FROM phone_assignments a WHERE a.phone_number_id = n.id AND a.user_id = $2))";

static LIST: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLS} FROM phone_numbers n WHERE {SCOPED} ORDER BY n.id"));
static ONE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLS} FROM phone_numbers n WHERE {SCOPED} AND n.id = $3"));
static BY_E164: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLS} FROM phone_numbers n WHERE n.released_at IS NULL AND n.e164 = $1"));

static ASSIGNED_TO: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLS} FROM phone_assignments a JOIN phone_numbers n ON n.id = a.phone_number_id \
         WHERE a.user_id = $1 AND n.released_at IS NULL ORDER BY a.created_at, n.id"
    )
});

const INSERT: &str = "INSERT INTO phone_numbers (id, org_id, e164, provider, provider_sid, label, voice, sms, \
     created_at, held_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
const RELEASE: &str = "UPDATE phone_numbers SET released_at = $2 WHERE id = $1 AND released_at IS NULL";
const UNASSIGN_NUMBER: &str = "DELETE FROM phone_assignments WHERE phone_number_id = $1";
const UPDATE: &str = "UPDATE phone_numbers SET label = $2, org_id = $3, \
     held_since = CASE WHEN org_id = $3 THEN held_since ELSE $4 END WHERE id = $1 AND released_at IS NULL";
const ASSIGN: &str = "INSERT INTO phone_assignments (phone_number_id, org_id, user_id, created_at) \
     SELECT n.id, n.org_id, $2, $3 FROM phone_numbers n WHERE n.id = $1 AND n.org_id = $4 AND n.released_at IS NULL \
     ON CONFLICT (phone_number_id, user_id) DO NOTHING";
const UNASSIGN_USER: &str = "DELETE FROM phone_assignments WHERE org_id = $1 AND user_id = $2";
const ASSIGNMENTS_OF: &str = "SELECT a.phone_number_id, a.org_id, a.user_id, a.created_at FROM phone_assignments a \
     JOIN phone_numbers n ON n.id = a.phone_number_id AND n.released_at IS NULL \
     WHERE a.org_id = $1 AND a.user_id = $2 ORDER BY a.phone_number_id";
const ASSIGNEES: &str = "SELECT user_id FROM phone_assignments WHERE phone_number_id = $1 ORDER BY created_at, user_id";

/// Largest number of numbers one assignment request may name.
pub const MAX_ASSIGNED_NUMBERS: usize = 100;

impl Store {
    /// Adds a number to an org; `conflict` if another org holds it.
    pub async fn insert_number(&self, n: &PhoneNumber) -> Result<()> {
        let stmt = Statement::new(
            INSERT,
            [
                (&n.id).into(),
                (&n.org_id).into(),
                (&n.e164).into(),
                (&n.provider).into(),
                (&n.provider_sid).into(),
                (&n.label).into(),
                n.voice.into(),
                n.sms.into(),
                n.created_at.into(),
            ],
        );
        match self.exec(stmt).await? {
            Executed::Rows(_) => Ok(()),
            Executed::UniqueViolation => Err(Error::new(ErrorCode::Conflict, "that number is already held")),
        }
    }

    /// The held numbers `scope` may see, by id.
    pub async fn numbers(&self, scope: &Scope) -> Result<Vec<PhoneNumber>> {
        let (org, user) = scope.filters();
        Ok(on_read!(self, pool => sqlx::query_as(LIST.as_str())
            .bind(org)
            .bind(user)
            .fetch_all(pool)
            .await)?)
    }

    /// One held number `scope` may see; `None` for another org's, exactly as for an unknown id.
    pub async fn number(&self, scope: &Scope, id: &str) -> Result<Option<PhoneNumber>> {
        let (org, user) = scope.filters();
        Ok(on_read!(self, pool => sqlx::query_as(ONE.as_str())
            .bind(org)
            .bind(user)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// The held number `e164` (the webhooks' lookup: the provider names the number called).
    pub async fn number_by_e164(&self, e164: &str) -> Result<Option<PhoneNumber>> {
        Ok(on_read!(self, pool => sqlx::query_as(BY_E164.as_str())
            .bind(e164)
            .fetch_optional(pool)
            .await)?)
    }

    /// Releases a number and drops its assignments; false if it was not held.
    pub async fn release_number(&self, id: &str, now: Millis) -> Result<bool> {
        let released = self.exec(Statement::new(RELEASE, [id.into(), now.into()])).await? == Executed::Rows(1);
        self.exec(Statement::new(UNASSIGN_NUMBER, [id.into()])).await?;
        Ok(released)
    }

    /// Sets a held number's label and org (a move to another org drops its assignments; the new org holds it from `now`).
    pub async fn update_number(
        &self,
        before: &PhoneNumber,
        label: Option<&str>,
        org_id: &str,
        now: Millis,
    ) -> Result<bool> {
        let stmt = Statement::new(
            UPDATE,
            [before.id.as_str().into(), label.into(), org_id.into(), now.into()],
        );
        let done = self.exec(stmt).await? == Executed::Rows(1);
        if done && before.org_id != org_id {
            self.exec(Statement::new(UNASSIGN_NUMBER, [before.id.as_str().into()]))
                .await?;
        }
        Ok(done)
    }

    /// Makes `numbers` (of `org_id`) exactly the numbers `user_id` may use.
    /// Numbers not held by the org are skipped (the caller checked them first).
    pub async fn set_assignments(&self, org_id: &str, user_id: &str, numbers: &[String], now: Millis) -> Result<()> {
        self.exec(Statement::new(UNASSIGN_USER, [org_id.into(), user_id.into()]))
            .await?;
        for n in numbers {
            let stmt = Statement::new(ASSIGN, [n.as_str().into(), user_id.into(), now.into(), org_id.into()]);
            self.exec(stmt).await?;
        }
        Ok(())
    }

    /// The held numbers assigned to a member.
    pub async fn assignments_of(&self, org_id: &str, user_id: &str) -> Result<Vec<Assignment>> {
        Ok(on_read!(self, pool => sqlx::query_as(ASSIGNMENTS_OF)
            .bind(org_id)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// The held numbers assigned to `user_id` in any org (a softphone's
    /// identity is the user id: Supabase's `sub`, unique across orgs), oldest assignment first.
    pub async fn numbers_assigned_to(&self, user_id: &str) -> Result<Vec<PhoneNumber>> {
        Ok(on_read!(self, pool => sqlx::query_as(ASSIGNED_TO.as_str())
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// The members a number is assigned to, in the order they were assigned.
    pub async fn assignees(&self, phone_number_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_read!(self, pool => sqlx::query_as(ASSIGNEES)
            .bind(phone_number_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }
}
