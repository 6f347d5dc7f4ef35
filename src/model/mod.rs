//! The vocabulary every layer imports downward: calls, parties, statuses, ids.

mod call;
mod ids;

pub use call::*;
pub use ids::SessionId;
