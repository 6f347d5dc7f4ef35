//! Supabase-style token claims and the identity they carry. Pure: no IO, no clock.
//!
//! A user token names the user (`sub`), the tenant and participant type
//! (`app_metadata.tenant_id` / `participant_type`), the display name
//! (`user_metadata.first_name` / `last_name`), `email`, and optionally a CRM
//! role (`app_metadata.role`). A token whose top-level `role` is
//! `service_role` is a server-to-server key: it may use the admin API.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::model::ParticipantType;

/// Longest user or tenant id accepted from a token.
pub const MAX_CLAIM_ID_LEN: usize = 255;
/// Longest name, email or role accepted from a token (longer ones are cut).
pub const MAX_CLAIM_TEXT_LEN: usize = 200;

/// The claims switchboard reads (and, in dev mode, writes).
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Supabase: `{SUPABASE_URL}/auth/v1` for user tokens, `supabase` for legacy API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Supabase's Postgres role: `authenticated`, `anon` or `service_role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub app_metadata: AppMetadata,
    #[serde(default)]
    pub user_metadata: UserMetadata,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct AppMetadata {
    /// A string, or a number some issuers use; stored as text either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct UserMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Used for the first name when `first_name` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// A participant: who they are, in which tenant, and how they are shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub user_id: Arc<str>,
    pub tenant_id: Arc<str>,
    pub kind: ParticipantType,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
}

impl Identity {
    /// Whether the token makes its holder an admin (an org's `admin`/`owner`, or `platform_admin`).
    pub fn is_admin(&self) -> bool {
        matches!(
            crate::model::Role::of(self.role.as_deref(), self.kind == ParticipantType::CrmUser),
            crate::model::Role::OrgAdmin | crate::model::Role::PlatformAdmin
        )
    }

    /// "First Last", or whatever part exists, or the email, or the id.
    pub fn display_name(&self) -> String {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(f), None) => f.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => self.email.clone().unwrap_or_else(|| self.user_id.to_string()),
        }
    }
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Participant(Arc<Identity>),
    /// A `service_role` key: admin API only.
    Service,
}

/// Why claims were refused: a code for the client and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimError {
    pub code: ErrorCode,
    pub message: &'static str,
}

fn refuse(code: ErrorCode, message: &'static str) -> ClaimError {
    ClaimError { code, message }
}

/// Turns verified claims into a principal. `aud` must be present for user
/// tokens (its value was already checked by the verifier); Supabase's
/// `service_role` keys carry none.
pub fn principal(claims: Claims) -> Result<Principal, ClaimError> {
    if claims.role.as_deref() == Some("service_role") {
        return Ok(Principal::Service);
    }
    if claims.aud.is_none() {
        return Err(refuse(ErrorCode::InvalidAudience, "token has no `aud` claim"));
    }
    let user_id = claims
        .sub
        .filter(|s| !s.is_empty())
        .ok_or(refuse(ErrorCode::MissingSubjectClaim, "token has no `sub` claim"))?;
    if user_id.len() > MAX_CLAIM_ID_LEN {
        return Err(refuse(ErrorCode::InvalidToken, "`sub` is too long"));
    }
    let tenant_id = match claims.app_metadata.tenant_id {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(refuse(
                ErrorCode::MissingTenantClaim,
                "token has no `app_metadata.tenant_id` claim",
            ));
        }
    };
    if tenant_id.len() > MAX_CLAIM_ID_LEN {
        return Err(refuse(ErrorCode::InvalidToken, "`app_metadata.tenant_id` is too long"));
    }
    let kind = match claims.app_metadata.participant_type.as_deref() {
        None | Some("") => {
            return Err(refuse(
                ErrorCode::MissingParticipantTypeClaim,
                "token has no `app_metadata.participant_type` claim",
            ));
        }
        Some(t) => ParticipantType::parse(t)
            .filter(|k| *k != ParticipantType::Phone)
            .ok_or(refuse(
                ErrorCode::InvalidParticipantType,
                "`app_metadata.participant_type` must be CRM_USER or PORTAL_CUSTOMER",
            ))?,
    };
    let first_name = claims.user_metadata.first_name.or(claims.user_metadata.full_name);
    Ok(Principal::Participant(Arc::new(Identity {
        user_id: user_id.into(),
        tenant_id: tenant_id.into(),
        kind,
        first_name: clip(first_name),
        last_name: clip(claims.user_metadata.last_name),
        email: clip(claims.email),
        role: clip(claims.app_metadata.role),
    })))
}

/// Drops empty strings and cuts long ones at a character boundary.
fn clip(s: Option<String>) -> Option<String> {
    let s = s?;
    if s.is_empty() {
        return None;
    }
    if s.len() <= MAX_CLAIM_TEXT_LEN {
        return Some(s);
    }
    Some(s.chars().take(MAX_CLAIM_TEXT_LEN).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    fn user() -> Value {
        json!({
            "sub": "u-1", "aud": "authenticated", "exp": 1, "role": "authenticated",
            "email": "ann@example.com",
            "app_metadata": {"tenant_id": "t-1", "participant_type": "CRM_USER", "role": "supervisor"},
            "user_metadata": {"first_name": "Ann", "last_name": "Lee"}
        })
    }

    fn identity(v: Value) -> Arc<Identity> {
        match principal(claims(v)).unwrap() {
            Principal::Participant(i) => i,
            Principal::Service => panic!("service"),
        }
    }

    #[test]
    fn only_agents_with_an_admin_role_are_admins() {
        assert!(!identity(user()).is_admin(), "supervisor");
        for (role, kind, admin) in [
            ("admin", "CRM_USER", true),
            ("owner", "CRM_USER", true),
            ("platform_admin", "CRM_USER", true),
            ("admin", "PORTAL_CUSTOMER", false),
            ("member", "CRM_USER", false),
        ] {
            let mut v = user();
            v["app_metadata"]["role"] = json!(role);
            v["app_metadata"]["participant_type"] = json!(kind);
            assert_eq!(identity(v).is_admin(), admin, "{role} {kind}");
        }
    }

    #[test]
    fn full_user_token() {
        let id = identity(user());
        assert_eq!(&*id.user_id, "u-1");
        assert_eq!(&*id.tenant_id, "t-1");
        assert_eq!(id.kind, ParticipantType::CrmUser);
        assert_eq!(id.first_name.as_deref(), Some("Ann"));
        assert_eq!(id.last_name.as_deref(), Some("Lee"));
        assert_eq!(id.email.as_deref(), Some("ann@example.com"));
        assert_eq!(id.role.as_deref(), Some("supervisor"));
        assert_eq!(id.display_name(), "Ann Lee");
    }

    #[test]
    fn numeric_tenant_and_full_name_fallback() {
        let mut v = user();
        v["app_metadata"]["tenant_id"] = json!(42);
        v["user_metadata"] = json!({"full_name": "Bo Diddley"});
        let id = identity(v);
        assert_eq!(&*id.tenant_id, "42");
        assert_eq!(id.first_name.as_deref(), Some("Bo Diddley"));
        assert_eq!(id.display_name(), "Bo Diddley");
    }

    #[test]
    fn service_role_needs_nothing_else() {
        let p = principal(claims(json!({"role": "service_role", "exp": 1}))).unwrap();
        assert_eq!(p, Principal::Service);
    }

    #[test]
    fn each_missing_claim_has_its_own_code() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit, ErrorCode); 7] = [
            (
                "sub",
                |v| v.as_object_mut().unwrap().remove("sub").map(drop).unwrap_or(()),
                ErrorCode::MissingSubjectClaim,
            ),
            ("empty sub", |v| v["sub"] = json!(""), ErrorCode::MissingSubjectClaim),
            (
                "aud",
                |v| v.as_object_mut().unwrap().remove("aud").map(drop).unwrap_or(()),
                ErrorCode::InvalidAudience,
            ),
            (
                "tenant",
                |v| {
                    v["app_metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("tenant_id")
                        .map(drop)
                        .unwrap_or(())
                },
                ErrorCode::MissingTenantClaim,
            ),
            (
                "tenant bool",
                |v| v["app_metadata"]["tenant_id"] = json!(true),
                ErrorCode::MissingTenantClaim,
            ),
            (
                "type",
                |v| {
                    v["app_metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("participant_type")
                        .map(drop)
                        .unwrap_or(())
                },
                ErrorCode::MissingParticipantTypeClaim,
            ),
            (
                "bad type",
                |v| v["app_metadata"]["participant_type"] = json!("ADMIN"),
                ErrorCode::InvalidParticipantType,
            ),
        ];
        for (name, edit, code) in cases {
            let mut v = user();
            edit(&mut v);
            assert_eq!(principal(claims(v)).unwrap_err().code, code, "{name}");
        }
        let v = json!({"sub": "u", "aud": "authenticated"});
        assert_eq!(principal(claims(v)).unwrap_err().code, ErrorCode::MissingTenantClaim);
    }

    #[test]
    fn oversize_ids_are_refused_and_text_is_clipped() {
        let mut v = user();
        v["sub"] = json!("x".repeat(MAX_CLAIM_ID_LEN + 1));
        assert_eq!(principal(claims(v)).unwrap_err().code, ErrorCode::InvalidToken);
        let mut v = user();
        v["user_metadata"]["first_name"] = json!("é".repeat(MAX_CLAIM_TEXT_LEN + 10));
        v["email"] = json!("");
        let id = identity(v);
        assert_eq!(id.first_name.as_deref().unwrap().chars().count(), MAX_CLAIM_TEXT_LEN);
        assert_eq!(id.email, None);
    }

    #[test]
    fn display_name_falls_back() {
        let mut v = user();
        v["user_metadata"] = json!({});
        assert_eq!(identity(v.clone()).display_name(), "ann@example.com");
        v.as_object_mut().unwrap().remove("email");
        assert_eq!(identity(v).display_name(), "u-1");
    }
}
