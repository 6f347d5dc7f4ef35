//! Calls: the pure lifecycle state machine and the driver that runs it against the store.

pub mod events;
mod lifecycle;
pub mod machine;
mod media;
mod notify;
mod open;
mod ratelimit;
mod service;
mod timers;

/// The call vocabulary now lives in `crate::model`; kept here for embedders.
pub use crate::model;
pub use events::{CALL_EVENT_BUFFER, CallEvent, CallEvents};
pub use lifecycle::{SWEEP_BATCH, SessionStart};
pub use service::{CallService, CallSettings, MAX_TRANSITION_ATTEMPTS, StartOutcome};
