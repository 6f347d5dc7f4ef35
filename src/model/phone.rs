//! A phone call's provider side (channel, direction, numbers, price) and who may see what: roles and scopes.
//!
//! Plain data. A CallLog row is an in-app call unless it carries a
//! [`PhoneLeg`]; the scope is what the store's queries filter by, so a rule
//! like "a member sees only the numbers assigned to them" holds in SQL, not
//! only in a handler.

use serde::{Deserialize, Serialize};

/// How a call was carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Browser to browser through switchboard.
    InApp,
    /// The public telephone network, through a provider.
    Pstn,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InApp => "in_app",
            Self::Pstn => "pstn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InApp, Self::Pstn].into_iter().find(|c| c.as_str() == s)
    }
}

/// Which way a phone call or text went, seen from the org.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Inbound, Self::Outbound].into_iter().find(|d| d.as_str() == s)
    }
}

/// The provider's side of a phone call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneLeg {
    /// `twilio` (and, with provider sync, `ringcentral`, `mightycall`).
    pub provider: String,
    /// The provider's id of the call (Twilio's CallSid); unique per provider.
    pub external_id: String,
    pub direction: Direction,
    /// E.164.
    pub from_number: String,
    /// E.164.
    pub to_number: String,
    /// The org's number the call used.
    pub phone_number_id: Option<String>,
    /// The provider's price, in millionths of `price_unit` (positive: a cost).
    pub price_micros: Option<i64>,
    pub price_unit: Option<String>,
    /// The provider's own last status (`completed`, `no-answer`…).
    pub provider_status: Option<String>,
    pub recording_sid: Option<String>,
    pub recording_seconds: Option<i64>,
    /// The call went to voicemail (nobody available, or nobody answered); the
    /// recording, when there is one, is the message (none: the caller hung up at the prompt).
    pub voicemail: bool,
}

/// What a token's `app_metadata.role` makes its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Every org (also a `service_role` key).
    PlatformAdmin,
    /// `admin` or `owner`: their org.
    OrgAdmin,
    /// Anyone else.
    Member,
}

impl Role {
    /// The role a token's `app_metadata.role` names (only agents can be admins).
    pub fn of(role: Option<&str>, is_agent: bool) -> Self {
        match role {
            Some("platform_admin") if is_agent => Self::PlatformAdmin,
            Some("admin" | "owner") if is_agent => Self::OrgAdmin,
            _ => Self::Member,
        }
    }
}

/// Whose rows a query may touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every org.
    Platform,
    /// One org, all of it.
    Org { org_id: String },
    /// One member: their numbers, those numbers' calls and texts, their own calls.
    Member { org_id: String, user_id: String },
}

impl Scope {
    /// `(org, user)` filters: `None` means "any".
    pub fn filters(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::Platform => (None, None),
            Self::Org { org_id } => (Some(org_id), None),
            Self::Member { org_id, user_id } => (Some(org_id), Some(user_id)),
        }
    }

    /// Whether the scope covers all of `org_id` (manage its numbers, assignments, usage).
    pub fn administers(&self, org_id: &str) -> bool {
        match self {
            Self::Platform => true,
            Self::Org { org_id: o } => o == org_id,
            Self::Member { .. } => false,
        }
    }

    pub fn is_platform(&self) -> bool {
        matches!(self, Self::Platform)
    }

    /// The org a scoped request acts in, if the scope has one.
    pub fn org(&self) -> Option<&str> {
        self.filters().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_app_metadata_and_only_agents_administer() {
        assert_eq!(Role::of(Some("platform_admin"), true), Role::PlatformAdmin);
        assert_eq!(Role::of(Some("admin"), true), Role::OrgAdmin);
        assert_eq!(Role::of(Some("owner"), true), Role::OrgAdmin);
        assert_eq!(Role::of(Some("supervisor"), true), Role::Member);
        assert_eq!(Role::of(None, true), Role::Member);
        assert_eq!(Role::of(Some("Admin"), true), Role::Member, "exact spelling");
        assert_eq!(
            Role::of(Some("admin"), false),
            Role::Member,
            "a customer never administers"
        );
        assert_eq!(Role::of(Some("platform_admin"), false), Role::Member);
    }

    #[test]
    fn scopes_filter_and_administer() {
        let m = Scope::Member {
            org_id: "o".into(),
            user_id: "u".into(),
        };
        let a = Scope::Org { org_id: "o".into() };
        assert_eq!(Scope::Platform.filters(), (None, None));
        assert_eq!(a.filters(), (Some("o"), None));
        assert_eq!(m.filters(), (Some("o"), Some("u")));
        assert!(Scope::Platform.administers("x"));
        assert!(a.administers("o") && !a.administers("p"));
        assert!(!m.administers("o"));
        assert_eq!(m.org(), Some("o"));
        assert_eq!(Scope::Platform.org(), None);
    }

    #[test]
    fn names_round_trip() {
        for c in [Channel::InApp, Channel::Pstn] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
        for d in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Channel::parse("PSTN"), None);
    }
}
