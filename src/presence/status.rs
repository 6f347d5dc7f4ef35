//! What presence reports: an agent's visible status, its changes, and what a closed session changed.

use std::sync::Arc;

use crate::auth::claims::Identity;
use crate::model::ParticipantType;
use crate::wire::views::AgentView;

/// An agent's status as others see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceStatus {
    Available,
    Away,
    Busy,
    Offline,
}

impl PresenceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Away => "away",
            Self::Busy => "busy",
            Self::Offline => "offline",
        }
    }
}

/// An agent whose visible status changed: broadcast it to the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    pub tenant_id: Arc<str>,
    /// The status before the change.
    pub before: PresenceStatus,
    pub agent: AgentView,
}

/// What closing a session observed.
#[derive(Debug, Default)]
pub struct SessionChange {
    /// The user's last session anywhere is gone.
    pub edge: bool,
    pub presence: Option<PresenceChange>,
}

/// An agent's public profile with `status`.
pub fn agent_view(identity: &Identity, status: PresenceStatus) -> AgentView {
    AgentView {
        supabase_user_id: identity.user_id.to_string(),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        email: identity.email.clone(),
        role: identity.role.clone(),
        status: status.as_str(),
    }
}

/// The visible change from `before` to `after`: agents only, and only when it differs.
pub fn change(identity: &Identity, before: PresenceStatus, after: PresenceStatus) -> Option<PresenceChange> {
    (identity.kind == ParticipantType::CrmUser && before != after).then(|| PresenceChange {
        tenant_id: identity.tenant_id.clone(),
        before,
        agent: agent_view(identity, after),
    })
}
