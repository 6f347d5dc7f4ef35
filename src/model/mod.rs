//! The vocabulary every layer imports downward: calls, parties, statuses, ids.

mod call;
mod ids;
mod phone;

pub use call::*;
pub use ids::SessionId;
pub use phone::{Channel, Direction, PhoneLeg, Role, Scope};
