//! Presence: who is online on this node, and the agents a tenant can call.

pub mod fanout;
pub mod registry;

pub use fanout::{PRESENCE_BATCH_WINDOW, PresenceFanout};
pub use registry::{PresenceChange, PresenceStatus, Registry, SessionChange, SessionHandle, SessionId};
