//! The in-app calls' event stream fed to the webhooks: `Created` → `call.ringing`, `Answered` → `call.answered`, `Ended` → `call.ended`.
//!
//! Edge wiring: the call layer publishes, the outbox stores; an event no
//! endpoint of its org takes is dropped before its body is built. A feed that
//! falls more than `CALL_EVENT_BUFFER` events behind loses the oldest and
//! logs how many (docs/webhooks.md says so).

use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::call::events::CallEvent;
use crate::model::CallStatus;
use crate::webhook::EventSink;
use crate::wire::views::CallView;

/// Starts the feed (until shutdown).
pub fn start(state: &AppState) {
    let mut rx = state.calls.events().subscribe();
    let sink = state.outbox.clone();
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = shutdown.cancelled() => return,
                ev = rx.recv() => ev,
            };
            match ev {
                Ok(ev) => {
                    let call = ev.call();
                    let kind = match &ev {
                        // A BUSY call is final from the start: its `Ended` follows.
                        CallEvent::Created(c) if c.status != CallStatus::Ringing => continue,
                        CallEvent::Created(_) => "call.ringing",
                        CallEvent::Answered(_) => "call.answered",
                        CallEvent::Ended(_) => "call.ended",
                    };
                    // Most orgs have no endpoints: no body is built for them (the answer is cached).
                    if !sink.wants(&call.tenant_id, kind).await {
                        continue;
                    }
                    let data = serde_json::to_value(CallView::from(call)).unwrap_or_default();
                    sink.emit(&call.tenant_id, kind, data).await;
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "webhook feed fell behind the call events; some were not sent");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}
