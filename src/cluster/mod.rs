//! The event bus between the call layer and the sockets: one switch point for local or shared fan-out.
//!
//! Everything the server pushes to clients goes through `Bus::publish` as an
//! `Envelope`: a frame serialized once, addressed to a user, a session or a
//! whole tenant. The in-process bus hands it straight to the presence
//! registry. A shared bus (Redis) would publish it to the other nodes too;
//! the trait is the seam where it plugs in.

mod local;
mod outbound;

pub use local::LocalBus;
pub use outbound::Outbound;

use std::sync::Arc;

use crate::presence::SessionId;

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
