//! Delivery into this node's sockets, as the bus sees it: the trait the session table implements.
//!
//! The bus sits below the socket layer, so it does not know the session
//! table's type; `signal::Sessions` implements this and is handed to the bus
//! at start-up.

use super::Outbound;
use crate::model::SessionId;

/// This node's sockets, addressed by tenant, user and session.
pub trait LocalDelivery: Send + Sync + 'static {
    /// Queues `frame` on every session of a user but `except`. Returns how many took it.
    fn deliver_user(&self, tenant_id: &str, user_id: &str, except: Option<SessionId>, frame: &Outbound) -> usize;
    /// Queues `frame` on one session of a user, or on all of them when it is gone.
    fn deliver_session_or_user(&self, tenant_id: &str, user_id: &str, session: SessionId, frame: &Outbound) -> usize;
    /// Queues `frame` on one session of a user only.
    fn deliver_session(&self, tenant_id: &str, user_id: &str, session: SessionId, frame: &Outbound) -> usize;
    /// Queues `frame` on every session of the tenant.
    fn broadcast(&self, tenant_id: &str, frame: &Outbound) -> usize;
    /// Queues `frame` on every admin session of the tenant.
    fn broadcast_admins(&self, tenant_id: &str, frame: &Outbound) -> usize;
}
