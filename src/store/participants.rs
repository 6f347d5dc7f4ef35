//! The participant directory table: upserts from token claims and admin provisioning.

use sqlx::FromRow;

use super::params::Statement;
use super::{Store, on_read};
use crate::error::{Error, Result};
use crate::model::{Millis, ParticipantType};

/// A directory row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub tenant_id: String,
    pub user_id: String,
    pub kind: ParticipantType,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Participant {
    /// "First Last", or whatever part exists, or the email, or the id.
    pub fn display_name(&self) -> String {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(f), None) => f.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => self.email.clone().unwrap_or_else(|| self.user_id.clone()),
        }
    }
}

#[derive(FromRow)]
struct ParticipantRow {
    tenant_id: String,
    user_id: String,
    participant_type: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ParticipantRow> for Participant {
    type Error = Error;

    fn try_from(r: ParticipantRow) -> Result<Self> {
        Ok(Self {
            kind: ParticipantType::parse(&r.participant_type)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("corrupt participant type {:?}", r.participant_type)))?,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            role: r.role,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const UPSERT: &str = "INSERT INTO participants (tenant_id, user_id, participant_type, first_name, last_name, email, \
     role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
     ON CONFLICT (tenant_id, user_id) DO UPDATE SET participant_type = excluded.participant_type, \
     first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email, \
     role = excluded.role, updated_at = excluded.updated_at";

/// A tenant's participants of one type whose name, email or id contains `$3`
/// (a LIKE pattern, `\\` escaping), by name.
const SEARCH: &str = "SELECT tenant_id, user_id, participant_type, first_name, last_name, email, role, created_at, \
     updated_at FROM participants WHERE tenant_id = $1 AND participant_type = $2 AND \
     (lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) LIKE $3 ESCAPE '\\' \
      OR lower(coalesce(email, '')) LIKE $3 ESCAPE '\\' OR lower(user_id) LIKE $3 ESCAPE '\\') \
     ORDER BY lower(coalesce(first_name, '')), lower(coalesce(last_name, '')), user_id LIMIT $4";

/// `q` as a LIKE pattern matching it anywhere, lowercased, its `%`, `_` and `\` escaped.
pub fn contains_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

const GET: &str = "SELECT tenant_id, user_id, participant_type, first_name, last_name, email, role, created_at, \
     updated_at FROM participants WHERE tenant_id = $1 AND user_id = $2";

/// The upsert of `p`: `$1..$8` of `UPSERT`.
pub(super) fn upsert(p: &Participant) -> Statement<'_> {
    Statement::new(
        UPSERT,
        [
            (&p.tenant_id).into(),
            (&p.user_id).into(),
            p.kind.as_str().into(),
            (&p.first_name).into(),
            (&p.last_name).into(),
            (&p.email).into(),
            (&p.role).into(),
            p.updated_at.into(),
        ],
    )
}

impl Store {
    /// Inserts or refreshes a participant; `created_at` survives refreshes.
    pub async fn upsert_participant(&self, p: &Participant) -> Result<()> {
        self.exec(upsert(p)).await.map(drop)
    }

    /// Up to `limit` participants of `kind` in the tenant matching `q` (empty: all), by name.
    pub async fn search_participants(
        &self,
        tenant_id: &str,
        kind: ParticipantType,
        q: &str,
        limit: i64,
    ) -> Result<Vec<Participant>> {
        let pattern = contains_pattern(q);
        let rows: Vec<ParticipantRow> = on_read!(self, pool => sqlx::query_as(SEARCH)
            .bind(tenant_id)
            .bind(kind.as_str())
            .bind(&pattern)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(Participant::try_from).collect()
    }

    pub async fn get_participant(&self, tenant_id: &str, user_id: &str) -> Result<Option<Participant>> {
        let row: Option<ParticipantRow> =
            on_read!(self, pool => sqlx::query_as(GET).bind(tenant_id).bind(user_id).fetch_optional(pool).await)?;
        row.map(Participant::try_from).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(contains_pattern(" Ann "), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
