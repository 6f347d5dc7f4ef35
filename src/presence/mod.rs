//! Presence: who is online on this node, and the agents a tenant can call.

pub mod registry;

pub use registry::{PresenceChange, PresenceStatus, Registry, SessionChange, SessionHandle, SessionId};
