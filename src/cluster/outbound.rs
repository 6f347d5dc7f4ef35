//! What a session's outbound queue holds: one frame, or a batch that takes one queue slot.
//!
//! A batch (a tenant's presence changes gathered over a window) is written
//! as separate WebSocket messages, but it is queued, woken for and flushed
//! as one: a burst of changes cannot fill a session's bounded queue and get
//! it closed as a slow consumer.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

/// One queued item of a session.
#[derive(Clone, Debug)]
pub enum Outbound {
    One(Utf8Bytes),
    Batch(Arc<[Utf8Bytes]>),
}

impl Outbound {
    /// The frames, in order.
    pub fn frames(&self) -> &[Utf8Bytes] {
        match self {
            Self::One(f) => std::slice::from_ref(f),
            Self::Batch(fs) => fs,
        }
    }
}

impl From<Utf8Bytes> for Outbound {
    fn from(f: Utf8Bytes) -> Self {
        Self::One(f)
    }
}

impl From<String> for Outbound {
    fn from(f: String) -> Self {
        Self::One(f.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_order() {
        let one = Outbound::from("a".to_owned());
        assert_eq!(one.frames().iter().map(Utf8Bytes::as_str).collect::<Vec<_>>(), ["a"]);
        let batch = Outbound::Batch(vec![Utf8Bytes::from("b"), Utf8Bytes::from("c")].into());
        assert_eq!(
            batch.frames().iter().map(Utf8Bytes::as_str).collect::<Vec<_>>(),
            ["b", "c"]
        );
    }
}
