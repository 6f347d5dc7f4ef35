//! The socket itself: malformed frames, size limit, keep-alive, slow consumers, relaying.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

async fn malformed_frames_get_errors_and_the_socket_keeps_working(b: Backend) {
    let app = spawn_app(b).await;
    let mut ws = app.connect(&customer("t1", "c")).await;
    assert_eq!(ws.welcome["mediaMode"], "p2p");
    assert_eq!(ws.welcome["user"]["userId"], "c");
    assert_eq!(ws.welcome["limits"]["maxMessageBytes"], 65536);

    ws.send_raw("this is not json").await;
    let e = ws.next_of("error").await;
    assert_eq!(e["code"], "invalid_message");
    assert!(e["ref"].is_null());

    ws.send_raw(r#"{"type":"call.teleport","ref":"t1"}"#).await;
    let e = ws.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("unknown_type"), Some("t1"))
    );

    ws.send_raw(r#"{"type":"call.accept","ref":"t2"}"#).await;
    let e = ws.next_of("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("invalid_message"), Some("t2"))
    );
    assert!(e["message"].as_str().unwrap().contains("callId"));

    ws.send_raw(r#"{"type":"call.accept","ref":"t3","callId":17}"#).await;
    assert_eq!(ws.next_of("error").await["ref"], "t3");

    ws.send_raw(r#"{"ref":"t4"}"#).await;
    assert_eq!(ws.next_of("error").await["ref"], "t4");

    let e = ws
        .request(json!({"type": "call.accept", "callId": "no-such-call"}))
        .await;
    assert_eq!(e["code"], "call_not_found");

    let pong = ws.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    let ack = ws.request(json!({"type": "status.set", "status": "away"})).await;
    assert_eq!(ack["type"], "ack");
}

async fn oversize_frame_closes_with_1009(b: Backend) {
    let app = spawn_app(b).await;
    let mut ws = app.connect(&customer("t1", "c")).await;
    // Just under the limit is fine.
    let data = "x".repeat(60 * 1024);
    ws.send(json!({"type": "ping", "ref": "ok", "pad": data})).await;
    assert_eq!(ws.next_of("pong").await["ref"], "ok");
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "y".repeat(70 * 1024));
    ws.send_raw(&big).await;
    assert_eq!(ws.closed().await, Some(1009));
}

async fn pings_flow_and_silent_peers_are_dropped(b: Backend) {
    let app = spawn_with(b, |s| {
        s.socket.ping_interval = Duration::from_millis(150);
        s.socket.idle_timeout = Duration::from_millis(700);
    })
    .await;
    let mut live = app.connect(&customer("t1", "live")).await;
    // Reading answers the pings (tungstenite replies with pongs), so it stays.
    let pings = live.count_pings(Duration::from_millis(1_200)).await;
    assert!(pings >= 4, "only {pings} pings in 1.2 s");
    assert_eq!(live.request(json!({"type": "ping"})).await["type"], "pong");

    // A client that reads nothing never pongs: it is dropped after the idle timeout.
    live.close().await;
    let mut mute = app.connect(&customer("t1", "mute")).await;
    assert_eq!(app.state.registry.session_count(), 1);
    // Dropped once the idle timeout (0.7 s) passes: within 1.3 s, as soon as it happens.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_300);
    while app.state.registry.session_count() != 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        app.state.registry.session_count(),
        0,
        "the silent peer is still registered"
    );
    // The server sent 1001 and closed; the close frame itself may be lost to
    // the RST caused by the client's late pongs, but the socket is closed.
    let code = mute.closed().await;
    assert!(matches!(code, Some(1001) | None), "{code:?}");
}

async fn slow_consumer_is_disconnected_without_stalling_others(b: Backend) {
    let app = spawn_with(b, |s| s.socket.outbound_queue = 8).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let a2 = app.connect(&agent("t1", "a")).await; // never reads
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    // While ringing, relayed data goes to every device of the callee.
    let blob = "z".repeat(60 * 1024);
    for i in 0..400 {
        cw.send(json!({"type": "rtc.signal", "callId": id, "data": {"i": i, "blob": blob}}))
            .await;
        if i % 10 == 0 {
            // The reading device keeps up (600 KB between reads: well inside its
            // unread-bytes bound even when the machine is loaded).
            while aw.next_where("relay", |v| v["type"] == "rtc.signal").await["data"]["i"] != i {}
        }
    }
    // The non-reading device was cut off; the session count shows it.
    let mut gone = false;
    for _ in 0..50 {
        if app.state.registry.session_count() == 2 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "slow consumer still registered");
    drop(a2);
    assert_eq!(cw.request(json!({"type": "ping"})).await["type"], "pong");
}

async fn rtc_signal_reaches_only_the_other_participant(b: Backend) {
    let app = spawn_app(b).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let mut bystander = app.connect(&agent("t1", "b")).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.request(json!({"type": "call.accept", "callId": id})).await;

    let offer = json!({"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "kind": "offer"});
    cw.send(json!({"type": "rtc.signal", "callId": id, "data": offer}))
        .await;
    let got = aw.next_of("rtc.signal").await;
    assert_eq!(got["callId"], id.as_str());
    assert_eq!(got["from"], "c");
    assert_eq!(got["data"], offer);
    // With a ref, the sender gets an ack; the answer flows back.
    let ack = aw
        .request(json!({"type": "rtc.signal", "callId": id, "data": {"kind": "answer"}}))
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(cw.next_of("rtc.signal").await["data"]["kind"], "answer");
    bystander.expect_no("rtc.signal", Duration::from_millis(300)).await;
    cw.expect_no("rtc.signal", Duration::from_millis(100)).await;

    cw.request(json!({"type": "call.end", "callId": id})).await;
    let err = cw
        .request(json!({"type": "rtc.signal", "callId": id, "data": {}}))
        .await;
    assert_eq!(err["code"], "call_not_found", "no relaying after the call ended");
}

crate::on_both_backends!(
    malformed_frames_get_errors_and_the_socket_keeps_working,
    oversize_frame_closes_with_1009,
    pings_flow_and_silent_peers_are_dropped,
    slow_consumer_is_disconnected_without_stalling_others,
    rtc_signal_reaches_only_the_other_participant,
);
