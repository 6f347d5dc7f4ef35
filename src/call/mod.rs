//! Calls: the pure lifecycle state machine and the driver that runs it against the store.

pub mod events;
mod lifecycle;
pub mod machine;
mod media;
pub mod model;
mod notify;
mod open;
mod ratelimit;
mod service;
mod timers;

pub use events::{CALL_EVENT_BUFFER, CallEvent, CallEvents};
pub use lifecycle::{SWEEP_BATCH, SessionStart};
pub use service::{CallService, CallSettings, MAX_TRANSITION_ATTEMPTS, StartOutcome};
