//! The call-event stream seen by a subscriber: created, answered, ended with the stored row, once each.

use std::time::Duration;

use serde_json::json;
use switchboard::call::CallEvent;
use tokio::sync::broadcast;

use crate::helpers::*;

/// The next event within `WAIT`, as (kind, status, id).
async fn next(rx: &mut broadcast::Receiver<CallEvent>) -> (&'static str, String, String) {
    let ev = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a call event within the wait")
        .expect("no event lost");
    let kind = match &ev {
        CallEvent::Created(_) => "created",
        CallEvent::Answered(_) => "answered",
        CallEvent::Ended(_) => "ended",
    };
    (kind, ev.call().status.as_str().to_owned(), ev.call().id.clone())
}

async fn start(ws: &mut Ws, callee: &str) -> String {
    let ack = ws.request(json!({"type": "call.start", "calleeId": callee})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ack["call"]["id"].as_str().unwrap().to_owned()
}

async fn a_completed_call_is_created_answered_and_ended_once(b: Backend) {
    let app = spawn_app(b).await;
    let mut rx = app.state.calls.events().subscribe();
    let mut cw = app.connect(&customer("t1", "cust-1")).await;
    let mut aw = app.connect(&agent("t1", "agent-1")).await;
    let id = start(&mut cw, "agent-1").await;
    assert_eq!(next(&mut rx).await, ("created", "RINGING".into(), id.clone()));
    aw.next_of("call.incoming").await;
    let ack = aw.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE", "{ack}");
    assert_eq!(next(&mut rx).await, ("answered", "ACTIVE".into(), id.clone()));
    cw.request(json!({"type": "call.end", "callId": id})).await;
    let ended = tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    let CallEvent::Ended(row) = ended else {
        panic!("expected ended, got {ended:?}")
    };
    assert_eq!(row.status.as_str(), "COMPLETED");
    assert_eq!(row.ended_by.as_deref(), Some("cust-1"));
    assert!(row.ended_at.is_some() && row.answered_at.is_some());
    // The event carries the row as stored.
    let stored = app.state.store.get_call(&id).await.unwrap().unwrap();
    assert_eq!(*row, stored);
    // A second end changes nothing and says nothing.
    cw.request(json!({"type": "call.end", "callId": id})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "no event after the end"
    );
}

async fn declined_busy_and_missed_calls_end_once_each(b: Backend) {
    let app = spawn_with(b, |s| s.ring_timeout = Duration::from_millis(600)).await;
    let mut rx = app.state.calls.events().subscribe();
    let mut c1 = app.connect(&customer("t1", "cust-1")).await;
    let mut c2 = app.connect(&customer("t1", "cust-2")).await;
    let mut aw = app.connect(&agent("t1", "agent-1")).await;

    let id = start(&mut c1, "agent-1").await;
    assert_eq!(next(&mut rx).await.0, "created");
    // The agent is ringing: a second caller gets BUSY, created and ended at once.
    let busy = start(&mut c2, "agent-1").await;
    assert_eq!(next(&mut rx).await, ("created", "BUSY".into(), busy.clone()));
    assert_eq!(next(&mut rx).await, ("ended", "BUSY".into(), busy));
    aw.next_of("call.incoming").await;
    aw.request(json!({"type": "call.decline", "callId": id})).await;
    assert_eq!(next(&mut rx).await, ("ended", "DECLINED".into(), id));

    // Nobody answers: MISSED when the ring timer fires.
    let missed = start(&mut c1, "agent-1").await;
    assert_eq!(next(&mut rx).await.0, "created");
    assert_eq!(next(&mut rx).await, ("ended", "MISSED".into(), missed));
}

crate::on_both_backends!(
    a_completed_call_is_created_answered_and_ended_once,
    declined_busy_and_missed_calls_end_once_each,
);
