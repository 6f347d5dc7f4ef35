//! Call lifecycle end to end over real sockets: complete, decline, cancel, miss, busy, devices, glare.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

async fn ring(caller: &mut Ws, callee: &mut Ws, callee_id: &str) -> String {
    let ack = caller
        .request(json!({"type": "call.start", "calleeId": callee_id}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["call"]["status"], "RINGING");
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    let incoming = callee.next_of("call.incoming").await;
    assert_eq!(incoming["callId"], id.as_str());
    id
}

async fn completed_call(b: Backend) {
    let app = spawn_app(b).await;
    let (c, a) = (customer("t1", "cust-1"), agent("t1", "agent-1"));
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;

    let ack = cw
        .request(json!({"type": "call.start", "calleeId": "agent-1", "callerName": "Ann from Acme"}))
        .await;
    assert_eq!(ack["type"], "ack");
    let call = &ack["call"];
    assert_eq!(call["status"], "RINGING");
    assert_eq!(call["fromUserId"], "cust-1");
    assert_eq!(call["toUserId"], "agent-1");
    assert_eq!(call["fromUserType"], "PORTAL_CUSTOMER");
    assert_eq!(call["toUserType"], "CRM_USER");
    let room = call["roomName"].as_str().unwrap();
    assert!(room.starts_with("call-cust-1-agent-1-"), "{room}");
    assert!(ack.get("token").is_none(), "p2p mode has no media token");
    let id = call["id"].as_str().unwrap().to_owned();

    let incoming = aw.next_of("call.incoming").await;
    assert_eq!(incoming["callId"], id.as_str());
    assert_eq!(incoming["roomName"], room);
    assert_eq!(incoming["from"]["userId"], "cust-1");
    assert_eq!(incoming["from"]["participantType"], "PORTAL_CUSTOMER");
    assert_eq!(incoming["from"]["name"], "Ann from Acme");
    assert!(incoming["token"].is_null());

    let ack = aw.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE", "{ack}");
    let accepted = cw.next_of("call.accepted").await;
    assert_eq!(accepted["callId"], id.as_str());
    assert!(
        accepted.get("token").is_none(),
        "the caller must not get the callee's token"
    );

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let ack = cw.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "COMPLETED");
    for ws in [&mut cw, &mut aw] {
        let ended = ws.next_of("call.ended").await;
        assert_eq!(ended["callId"], id.as_str());
        assert_eq!(ended["status"], "COMPLETED");
        assert_eq!(ended["reason"], "hangup");
        assert_eq!(ended["endedBy"], "cust-1");
        assert_eq!(ended["duration"], 2, "{ended}");
    }

    // History on both sides, and the row itself, agree with the clock.
    for p in [&c, &a] {
        let (status, hist) = app.get("/api/voip/history", Some(&app.token(p))).await;
        assert_eq!(status, 200);
        let row = &hist[0];
        assert_eq!(row["id"], id.as_str());
        assert_eq!(row["status"], "COMPLETED");
        assert_eq!(row["endReason"], "hangup");
        assert_eq!(row["duration"], 2);
        let (ans, end) = (ms_of(&row["answeredAt"]), ms_of(&row["endedAt"]));
        assert_eq!(row["duration"].as_i64().unwrap(), (end - ans) / 1000);
        assert!(ms_of(&row["startedAt"]) <= ans);
    }
    let (status, one) = app.get(&format!("/api/voip/calls/{id}"), Some(&app.token(&a))).await;
    assert_eq!(status, 200);
    assert_eq!(one["status"], "COMPLETED");
    // Lines are free again: the same pair can call again.
    let again = cw.request(json!({"type": "call.start", "calleeId": "agent-1"})).await;
    assert_eq!(again["call"]["status"], "RINGING");
}

async fn decline(b: Backend) {
    let app = spawn_app(b).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    let ack = aw.request(json!({"type": "call.decline", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "DECLINED");
    let d = cw.next_of("call.declined").await;
    assert_eq!(d["callId"], id.as_str());
    assert_eq!(d["reason"], "declined");
    let (_, row) = app
        .get(&format!("/api/voip/calls/{id}"), Some(&app.token(&customer("t1", "c"))))
        .await;
    assert_eq!(row["status"], "DECLINED");
    assert_eq!(row["duration"], 0);
    assert!(row["answeredAt"].is_null());
    // Too late to accept now.
    let err = aw.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(err["code"], "call_ended");
}

async fn cancel(b: Backend) {
    let app = spawn_app(b).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    let ack = cw.request(json!({"type": "call.cancel", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "CANCELLED");
    let c = aw.next_of("call.cancelled").await;
    assert_eq!(c["callId"], id.as_str());
    assert_eq!(c["reason"], "cancelled");
    let (_, row) = app
        .get(&format!("/api/voip/calls/{id}"), Some(&app.token(&agent("t1", "a"))))
        .await;
    assert_eq!(row["status"], "CANCELLED");
    assert_eq!(row["endedBy"], "c");
}

async fn ring_timeout_is_missed(b: Backend) {
    let app = spawn_with(b, |s| s.ring_timeout = Duration::from_millis(800)).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    for ws in [&mut cw, &mut aw] {
        let m = ws.next_of("call.missed").await;
        assert_eq!(m["callId"], id.as_str());
        assert_eq!(m["reason"], "ring_timeout");
    }
    let (_, row) = app
        .get(&format!("/api/voip/calls/{id}"), Some(&app.token(&agent("t1", "a"))))
        .await;
    assert_eq!(row["status"], "MISSED");
    assert_eq!(row["endReason"], "ring_timeout");
    let waited = ms_of(&row["endedAt"]) - ms_of(&row["startedAt"]);
    assert!((800..3_000).contains(&waited), "missed after {waited} ms");
}

async fn busy_callee(b: Backend) {
    let app = spawn_app(b).await;
    let mut c1 = app.connect(&customer("t1", "c1")).await;
    let mut c2 = app.connect(&customer("t1", "c2")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut c1, &mut aw, "a").await;
    // Ringing counts as busy...
    let ack = c2.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(ack["call"]["status"], "BUSY", "{ack}");
    assert_eq!(ack["call"]["endReason"], "callee_busy");
    // ...and so does an active call.
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    let ack = c2.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(ack["call"]["status"], "BUSY");
    aw.expect_no("call.incoming", Duration::from_millis(300)).await;
    let (_, hist) = app
        .get("/api/voip/history", Some(&app.token(&customer("t1", "c2"))))
        .await;
    assert_eq!(hist.as_array().unwrap().len(), 2);
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "BUSY" && r["duration"] == 0)
    );
    // The busy caller itself may not start a second call.
    let err = c1.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(err["code"], "caller_busy");
}

async fn two_devices_answered_elsewhere(b: Backend) {
    let app = spawn_app(b).await;
    let a = agent("t1", "a");
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut desk = app.connect(&a).await;
    let mut phone = app.connect(&a).await;
    let id = ring(&mut cw, &mut desk, "a").await;
    let on_phone = phone.next_of("call.incoming").await;
    assert_eq!(on_phone["callId"], id.as_str());

    let ack = phone.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE");
    let elsewhere = desk.next_of("call.answered_elsewhere").await;
    assert_eq!(elsewhere["callId"], id.as_str());
    phone
        .expect_no("call.answered_elsewhere", Duration::from_millis(200))
        .await;
    let err = desk.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "call_already_answered");
    cw.next_of("call.accepted").await;
}

async fn racing_accepts_resolve_to_one(b: Backend) {
    let app = spawn_app(b).await;
    let a = agent("t1", "a");
    for round in 0..5 {
        let mut cw = app.connect(&customer("t1", &format!("c{round}"))).await;
        let mut d1 = app.connect(&a).await;
        let mut d2 = app.connect(&a).await;
        let id = ring(&mut cw, &mut d1, "a").await;
        d2.next_of("call.incoming").await;
        let msg = json!({"type": "call.accept", "callId": id});
        let (r1, r2) = tokio::join!(d1.request(msg.clone()), d2.request(msg.clone()));
        let wins = [&r1, &r2].iter().filter(|r| r["type"] == "ack").count();
        let losses = [&r1, &r2]
            .iter()
            .filter(|r| r["code"] == "call_already_answered")
            .count();
        assert_eq!((wins, losses), (1, 1), "round {round}: {r1} / {r2}");
        cw.request(json!({"type": "call.end", "callId": id})).await;
        d1.close().await;
        d2.close().await;
    }
}

async fn glare_accepts_the_other_call(b: Backend) {
    let app = spawn_app(b).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    // The agent calls the customer back...
    let id = ring(&mut aw, &mut cw, "c").await;
    // ...and the customer, not having seen it yet, calls the agent.
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["glare"], true);
    assert_eq!(ack["call"]["id"], id.as_str(), "no second call is created");
    assert_eq!(ack["call"]["status"], "ACTIVE");
    let accepted = aw.next_of("call.accepted").await;
    assert_eq!(accepted["callId"], id.as_str());
    let (_, hist) = app.get("/api/voip/history", Some(&app.token(&agent("t1", "a")))).await;
    assert_eq!(hist.as_array().unwrap().len(), 1);
}

async fn offline_callee_gets_pending_call_in_welcome(b: Backend) {
    let app = spawn_app(b).await;
    // Provisioned ahead, never connected.
    let (s, _) = app
        .put(
            "/api/admin/participants/a-off",
            Some(&app.service_token()),
            json!({"tenantId": "t1", "participantType": "CRM_USER", "firstName": "Off"}),
        )
        .await;
    assert_eq!(s, 200);
    let mut cw = app.connect(&customer("t1", "c")).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a-off"})).await;
    assert_eq!(ack["call"]["status"], "RINGING");
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    let mut aw = app.connect(&agent("t1", "a-off")).await;
    let pending = aw.welcome["pendingCalls"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{}", aw.welcome);
    assert_eq!(pending[0]["callId"], id.as_str());
    assert_eq!(pending[0]["from"]["userId"], "c");
    let ack = aw.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "ACTIVE");
    cw.next_of("call.accepted").await;
}

async fn caller_vanishing_cancels(b: Backend) {
    let app = spawn_app(b).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    cw.kill();
    let m = aw.next_of("call.cancelled").await;
    assert_eq!(m["callId"], id.as_str());
    assert_eq!(m["reason"], "caller_disconnected");
}

async fn connection_lost_ends_after_grace(b: Backend) {
    let app = spawn_with(b, |s| s.reconnect_grace = Duration::from_millis(700)).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let lost_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    aw.kill();
    let ended = cw.next_of("call.ended").await;
    assert_eq!(ended["callId"], id.as_str());
    assert_eq!(ended["reason"], "connection_lost");
    assert_eq!(ended["status"], "COMPLETED");
    // The call ended when the agent was lost, not when the grace ran out.
    let (_, row) = app
        .get(&format!("/api/voip/calls/{id}"), Some(&app.token(&customer("t1", "c"))))
        .await;
    let ended_at = ms_of(&row["endedAt"]);
    assert!(
        (lost_at - 50..lost_at + 400).contains(&ended_at),
        "ended {ended_at}, lost {lost_at}"
    );
    assert_eq!(
        row["duration"].as_i64().unwrap(),
        (ended_at - ms_of(&row["answeredAt"])) / 1000
    );
    assert_eq!(row["duration"], 1);
}

async fn reconnect_inside_grace_keeps_the_call(b: Backend) {
    let app = spawn_with(b, |s| s.reconnect_grace = Duration::from_millis(1_500)).await;
    let a = agent("t1", "a");
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&a).await;
    let id = ring(&mut cw, &mut aw, "a").await;
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    aw.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = app.connect(&a).await;
    let active = back.welcome["activeCalls"].as_array().unwrap();
    assert_eq!(active[0]["id"], id.as_str(), "{}", back.welcome);
    cw.expect_no("call.ended", Duration::from_millis(2_000)).await;
    let (_, row) = app.get(&format!("/api/voip/calls/{id}"), Some(&app.token(&a))).await;
    assert_eq!(row["status"], "ACTIVE");
    back.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(cw.next_of("call.ended").await["reason"], "hangup");
}

crate::on_both_backends!(
    completed_call,
    decline,
    cancel,
    ring_timeout_is_missed,
    busy_callee,
    two_devices_answered_elsewhere,
    racing_accepts_resolve_to_one,
    glare_accepts_the_other_call,
    offline_callee_gets_pending_call_in_welcome,
    caller_vanishing_cancels,
    connection_lost_ends_after_grace,
    reconnect_inside_grace_keeps_the_call,
);
