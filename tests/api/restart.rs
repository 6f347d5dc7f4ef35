//! A restart leaves no call stuck: active calls end `server_restart`, ringing ones MISSED.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

async fn restart_leaves_no_call_stuck(b: Backend) {
    let app = spawn_with(b, |s| s.ring_timeout = Duration::from_secs(3)).await;
    let (c1, a1) = (customer("t1", "c1"), agent("t1", "a1"));
    let (c2, a2) = (customer("t1", "c2"), agent("t1", "a2"));
    let mut c1w = app.connect(&c1).await;
    let mut a1w = app.connect(&a1).await;
    let _a2w = app.connect(&a2).await;
    let ack = c1w.request(json!({"type": "call.start", "calleeId": "a1"})).await;
    let active = ack["call"]["id"].as_str().unwrap().to_owned();
    a1w.request(json!({"type": "call.accept", "callId": active})).await;
    let (_, body) = app
        .post(
            "/api/voip/start-call",
            Some(&app.token(&c2)),
            json!({"calleeSupabaseId": "a2"}),
        )
        .await;
    let ringing = body["callId"].as_str().unwrap().to_owned();

    let app = app
        .restart(|s| {
            s.reconnect_grace = Duration::from_millis(800);
        })
        .await;
    // Nobody comes back: the active call ends after the grace, the ringing one at its deadline.
    let mut done = false;
    for _ in 0..80 {
        let (_, x) = app
            .get(&format!("/api/voip/calls/{active}"), Some(&app.token(&c1)))
            .await;
        let (_, y) = app
            .get(&format!("/api/voip/calls/{ringing}"), Some(&app.token(&c2)))
            .await;
        if x["status"] != "ACTIVE" && y["status"] != "RINGING" {
            assert_eq!(x["status"], "COMPLETED", "{x}");
            assert_eq!(x["endReason"], "server_restart");
            assert!(x["duration"].as_i64().unwrap() >= 0);
            assert_eq!(y["status"], "MISSED", "{y}");
            assert_eq!(y["endReason"], "ring_timeout");
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "calls still open 8 s after the restart");
    // Lines were released: the same people can call again.
    let mut c1w = app.connect(&c1).await;
    let _a1w = app.connect(&a1).await;
    let ack = c1w.request(json!({"type": "call.start", "calleeId": "a1"})).await;
    assert_eq!(ack["call"]["status"], "RINGING", "{ack}");
}

async fn participants_returning_after_restart_keep_the_call(b: Backend) {
    let app = spawn_app(b).await;
    let (c, a) = (customer("t1", "c"), agent("t1", "a"));
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    let app = app.restart(|s| s.reconnect_grace = Duration::from_millis(1_500)).await;
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;
    assert_eq!(aw.welcome["activeCalls"][0]["id"], id.as_str());
    // Past the 1.5 s grace, nothing ends the call.
    cw.expect_no("call.ended", Duration::from_millis(2_000)).await;
    let (_, row) = app.get(&format!("/api/voip/calls/{id}"), Some(&app.token(&c))).await;
    assert_eq!(row["status"], "ACTIVE", "both came back inside the grace: {row}");
    aw.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(cw.next_of("call.ended").await["reason"], "hangup");
}

crate::on_both_backends!(
    restart_leaves_no_call_stuck,
    participants_returning_after_restart_keep_the_call
);
