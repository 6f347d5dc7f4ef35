//! Ids that cross layers: a socket session's id.

/// A session id, unique within this node (and, with the random start, across nodes).
pub type SessionId = u64;
