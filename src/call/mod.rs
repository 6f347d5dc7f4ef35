//! Calls: the pure lifecycle state machine and the driver that runs it against the store.

mod claims;
pub mod events;
#[cfg(test)]
mod fixtures;
mod jobs;
mod lifecycle;
pub mod machine;
mod media;
mod media_route;
mod notify;
mod open;
mod relay;
pub mod rules;
mod service;
mod timers;

/// The call vocabulary now lives in `crate::model`; kept here for embedders.
pub use crate::model;
pub use events::{CALL_EVENT_BUFFER, CallEvent, CallEvents};
pub use jobs::SWEEP_BATCH;
pub use lifecycle::SessionStart;
pub use media_route::MediaRequests;
pub use service::{CallDeps, CallService, CallSettings, MAX_TRANSITION_ATTEMPTS, StartOutcome};
