//! The in-process bus: delivery straight into this node's sockets.

use std::sync::Arc;

use super::{Bus, Envelope, LocalDelivery, Target};

/// The default bus of a single node.
pub struct LocalBus<D> {
    sockets: Arc<D>,
}

impl<D: LocalDelivery> LocalBus<D> {
    pub fn new(sockets: Arc<D>) -> Self {
        Self { sockets }
    }
}

impl<D: LocalDelivery> Bus for LocalBus<D> {
    fn publish(&self, e: Envelope) -> usize {
        match &e.target {
            Target::User { user_id, except } => self.sockets.deliver_user(&e.tenant_id, user_id, *except, &e.frame),
            Target::Session { user_id, session } => {
                self.sockets
                    .deliver_session_or_user(&e.tenant_id, user_id, *session, &e.frame)
            }
            Target::SessionOnly { user_id, session } => {
                self.sockets.deliver_session(&e.tenant_id, user_id, *session, &e.frame)
            }
            Target::Tenant => self.sockets.broadcast(&e.tenant_id, &e.frame),
            Target::Admins => self.sockets.broadcast_admins(&e.tenant_id, &e.frame),
        }
    }
}
