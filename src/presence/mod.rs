//! Presence: who is online (anywhere), available or in a call, and the agents a tenant can call.
//!
//! Call decisions ask `Presence`, never a node's socket table: "the user's
//! last session closed" means the last one anywhere. `LocalPresence` is the
//! one-node implementation; `cluster::create` picks the implementation once.
//! Opening and closing a session return futures, because a shared
//! implementation decides the first/last edge in a round trip; everything
//! else answers from memory.

mod local;
mod status;

pub use local::LocalPresence;
pub use status::{PresenceChange, PresenceStatus, SessionChange, agent_view, change};

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::auth::claims::Identity;
use crate::model::SessionId;
use crate::wire::protocol::Availability;
use crate::wire::views::AgentView;

/// Who is online, available and in a call.
pub trait Presence: Send + Sync + 'static {
    /// A session of `identity` opened; returns the user's status before it
    /// (for `change_since`, once the caller knows whether the user is in a call).
    fn session_opened<'a>(&'a self, identity: &'a Arc<Identity>, session: SessionId) -> BoxFuture<'a, PresenceStatus>;

    /// A session closed: whether it was the user's last anywhere, and the visible change.
    fn session_closed<'a>(&'a self, identity: &'a Identity, session: SessionId) -> BoxFuture<'a, SessionChange>;

    /// The agent's visible change since it had status `before`, if any.
    fn change_since(&self, identity: &Identity, before: PresenceStatus) -> Option<PresenceChange>;

    /// Sets an agent's chosen availability.
    fn set_availability(&self, identity: &Identity, availability: Availability) -> Option<PresenceChange>;

    /// Marks an online user as in a call (or not). No-op for users offline.
    fn set_in_call(&self, tenant_id: &str, user_id: &str, in_call: bool) -> Option<PresenceChange>;

    /// Online agents of a tenant whose status is `available`, by name.
    fn available_agents(&self, tenant_id: &str) -> Vec<AgentView>;

    /// The identity of an online user (fresh from their newest token).
    fn identity(&self, tenant_id: &str, user_id: &str) -> Option<Arc<Identity>>;

    /// The user's status as others see it.
    fn status_of(&self, tenant_id: &str, user_id: &str) -> PresenceStatus;

    /// Whether the user has a live session.
    fn is_online(&self, tenant_id: &str, user_id: &str) -> bool;
}
