//! The signaling socket: protocol parsing, the upgrade route, sessions and request handling.

pub mod caps;
mod handle;
pub mod route;
mod session;
pub mod sessions;

pub use session::{CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED, CLOSE_TOO_BIG};
