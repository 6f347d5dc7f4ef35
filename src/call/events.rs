//! The call-event stream: typed domain events (created, answered, ended with the final row), apart from socket frames.
//!
//! The driver publishes one event per stored change that matters outside the
//! call layer, after the row is written; webhooks, metrics, provider sync and
//! phone bridges subscribe instead of patching the driver. Every call gives
//! exactly one `Created` and one `Ended` on the node that wrote them (a BUSY
//! call, final from the start, gives both at once) and at most one
//! `Answered` in between. A subscriber that falls more than
//! `CALL_EVENT_BUFFER` events behind loses the oldest and is told how many
//! (`broadcast::error::RecvError::Lagged`); nobody waits for a slow
//! subscriber. With no subscriber, publishing costs one atomic load.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::{Call, CallStatus};

/// Events a subscriber may fall behind before it loses the oldest.
pub const CALL_EVENT_BUFFER: usize = 1024;

/// What happened to a call, with the row as stored.
#[derive(Clone, Debug)]
pub enum CallEvent {
    /// A call was placed (RINGING, or BUSY: then `Ended` follows at once).
    Created(Arc<Call>),
    /// The callee answered: the call is ACTIVE.
    Answered(Arc<Call>),
    /// The call reached its final status; the row is the history entry.
    Ended(Arc<Call>),
}

impl CallEvent {
    /// The row this event carries.
    pub fn call(&self) -> &Call {
        match self {
            CallEvent::Created(c) | CallEvent::Answered(c) | CallEvent::Ended(c) => c,
        }
    }

    /// The events a stored change from `prev` (None: a new row) to `next` makes, in order.
    pub fn of_change(prev: Option<CallStatus>, next: &Call) -> impl Iterator<Item = Kind> {
        Kind::of(prev, next.status)
    }
}

/// Which event (the pure part of `of_change`, shared with the phone service's webhooks).
pub use crate::model::ChangeKind as Kind;

/// The stream's sending side; cheap to clone.
#[derive(Clone)]
pub struct CallEvents {
    tx: broadcast::Sender<CallEvent>,
}

impl Default for CallEvents {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CALL_EVENT_BUFFER).0,
        }
    }
}

impl CallEvents {
    /// A new subscriber: it sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.tx.subscribe()
    }

    /// Publishes the events of a stored change from `prev` to `next`.
    pub(super) fn changed(&self, prev: Option<CallStatus>, next: &Call) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut row: Option<Arc<Call>> = None;
        for kind in CallEvent::of_change(prev, next) {
            let row = row.get_or_insert_with(|| Arc::new(next.clone())).clone();
            let event = match kind {
                Kind::Created => CallEvent::Created(row),
                Kind::Answered => CallEvent::Answered(row),
                Kind::Ended => CallEvent::Ended(row),
            };
            // Only fails when every subscriber is gone meanwhile.
            let _ = self.tx.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::fixtures::ringing as call;
    use crate::model::CallStatus::*;

    fn kinds(prev: Option<CallStatus>, next: CallStatus) -> Vec<Kind> {
        let mut call = call();
        call.status = next;
        CallEvent::of_change(prev, &call).collect()
    }

    #[test]
    fn a_new_ringing_call_is_created() {
        assert_eq!(kinds(None, Ringing), [Kind::Created]);
    }

    #[test]
    fn a_busy_call_is_created_and_ended_at_once() {
        assert_eq!(kinds(None, Busy), [Kind::Created, Kind::Ended]);
    }

    #[test]
    fn answering_is_answered() {
        assert_eq!(kinds(Some(Ringing), Active), [Kind::Answered]);
    }

    #[test]
    fn every_final_status_from_an_open_one_is_ended() {
        for prev in [Ringing, Active] {
            for next in [Completed, Missed, Declined, Cancelled, Failed] {
                assert_eq!(kinds(Some(prev), next), [Kind::Ended], "{prev:?} -> {next:?}");
            }
        }
    }

    #[test]
    fn changes_within_a_status_say_nothing() {
        // e.g. a grace opened or closed: ACTIVE stays ACTIVE.
        assert!(kinds(Some(Active), Active).is_empty());
        assert!(kinds(Some(Ringing), Ringing).is_empty());
        assert!(kinds(Some(Completed), Completed).is_empty());
    }

    #[test]
    fn subscribers_get_the_stored_row_and_nobody_waits_for_the_slow() {
        let events = CallEvents::default();
        let mut rx = events.subscribe();
        let mut call = call();
        call.status = Busy;
        events.changed(None, &call);
        assert!(matches!(rx.try_recv(), Ok(CallEvent::Created(c)) if c.status == Busy));
        assert!(matches!(rx.try_recv(), Ok(CallEvent::Ended(c)) if c.id == call.id));
        assert!(rx.try_recv().is_err());
        for _ in 0..CALL_EVENT_BUFFER + 10 {
            events.changed(None, &call);
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(_))));
    }

    #[test]
    fn without_subscribers_nothing_is_kept() {
        let events = CallEvents::default();
        let call = call();
        events.changed(None, &call);
        let mut late = events.subscribe();
        assert!(late.try_recv().is_err(), "a subscriber sees only what follows");
    }
}
