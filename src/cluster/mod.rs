//! The event bus between the call layer and the sockets, and `create`: the one switch point for local or shared fan-out and presence.
//!
//! Everything the server pushes to clients goes through `Bus::publish` as an
//! `Envelope`: a frame serialized once, addressed to a user, a session or a
//! whole tenant. The in-process bus hands it straight to this node's sockets
//! (`LocalDelivery`). A shared bus (Redis) would publish it to the other
//! nodes too; `create` is where it is chosen, with the matching `Presence`,
//! once at start-up (as LiveKit's `CreateRouter` picks a local or Redis router).

mod delivery;
mod fanout;
mod local;
mod outbound;

pub use delivery::LocalDelivery;
pub use fanout::{PRESENCE_BATCH_WINDOW, PresenceFanout};
pub use local::LocalBus;
pub use outbound::Outbound;

use std::sync::Arc;

use crate::model::SessionId;
use crate::presence::{LocalPresence, Presence};

/// Who an envelope is for, inside its tenant.
#[derive(Clone, Debug)]
pub enum Target {
    /// Every session of a user, except one (the session that acted).
    User {
        user_id: Arc<str>,
        except: Option<SessionId>,
    },
    /// One session of a user; every session if that one is gone.
    Session { user_id: Arc<str>, session: SessionId },
    /// One session of a user, or nobody (media signaling only its owner can answer).
    SessionOnly { user_id: Arc<str>, session: SessionId },
    /// Every session of the tenant.
    Tenant,
}

/// A frame (or a batch of them) on its way to clients.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub tenant_id: Arc<str>,
    pub target: Target,
    pub frame: Outbound,
}

/// Fans frames out to sessions, wherever they are connected.
pub trait Bus: Send + Sync + 'static {
    /// Delivers without waiting; returns how many local sessions took it.
    fn publish(&self, envelope: Envelope) -> usize;
}

/// The bus and the presence a node runs with.
pub struct Cluster {
    pub bus: Arc<dyn Bus>,
    pub presence: Arc<dyn Presence>,
}

/// Picks the bus and presence: in-process today (one node); a shared
/// implementation plugs in here and nowhere else.
pub fn create<D: LocalDelivery>(sockets: Arc<D>) -> Cluster {
    Cluster {
        bus: Arc::new(LocalBus::new(sockets)),
        presence: Arc::new(LocalPresence::default()),
    }
}
