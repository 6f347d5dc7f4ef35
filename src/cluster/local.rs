//! The in-process bus: delivery straight into this node's presence registry.

use std::sync::Arc;

use super::{Bus, Envelope, Target};
use crate::presence::Registry;

/// The default bus of a single node.
pub struct LocalBus {
    registry: Arc<Registry>,
}

impl LocalBus {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl Bus for LocalBus {
    fn publish(&self, e: Envelope) -> usize {
        match &e.target {
            Target::User { user_id, except } => self.registry.deliver_user(&e.tenant_id, user_id, *except, &e.frame),
            Target::Session { user_id, session } => {
                self.registry
                    .deliver_session_or_user(&e.tenant_id, user_id, *session, &e.frame)
            }
            Target::SessionOnly { user_id, session } => {
                self.registry.deliver_session(&e.tenant_id, user_id, *session, &e.frame)
            }
            Target::Tenant => self.registry.broadcast(&e.tenant_id, &e.frame),
        }
    }
}
