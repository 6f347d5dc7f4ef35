//! Signed webhooks out (issue #12): Standard Webhooks headers and signatures, in-app and phone events, retries after a receiver outage on the schedule, giving up, no loss across a restart, the delivery log and its roles.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::webhook::signature::{key_of, verify};

use crate::helpers::*;
use crate::phone_support::*;
use crate::webhook_receiver::{Hit, Receiver};

/// Creates an endpoint for `events` as `admin`; returns (id, secret).
pub async fn endpoint(app: &TestApp, admin: &str, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = app
        .post(
            "/api/webhooks/endpoints",
            Some(admin),
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// The event of `hit`, after checking its headers and signature.
pub fn checked(hit: &Hit, secret: &str) -> Value {
    let key = key_of(secret).unwrap();
    let now = switchboard::clock::now_ms() / 1000;
    assert!(
        verify(&key, &hit.id, hit.timestamp, hit.body.as_bytes(), &hit.signature, now),
        "bad signature: {hit:?}"
    );
    assert!(
        hit.id.starts_with("msg_") && hit.signature.starts_with("v1,"),
        "{hit:?}"
    );
    serde_json::from_str(&hit.body).unwrap()
}

fn admin_of(app: &TestApp, org: &str) -> String {
    let mut c = claims_of(&agent(org, "boss"));
    c.app_metadata.role = Some("admin".into());
    app.mint(&c)
}

/// A delivery log as `admin` sees it.
async fn log(app: &TestApp, admin: &str, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/webhooks/endpoints/{id}/deliveries"), Some(admin))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The log once `done` holds for it (the receiver sees a request before the server records its answer); at most 10 s.
async fn log_when(app: &TestApp, admin: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let l = log(app, admin, id).await;
        if done(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the delivery log never got there: {}", log(app, admin, id).await);
}

fn all_delivered(l: &Value) -> bool {
    l["messages"]
        .as_array()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|m| m["state"] == "delivered"))
}

async fn an_in_app_call_is_sent_signed_ringing_answered_ended(b: Backend) {
    let app = spawn_app(b).await;
    let rx = Receiver::start().await;
    let admin = admin_of(&app, "t1");
    let (id, secret) = endpoint(&app, &admin, &rx.url, &["call.ringing", "call.answered", "call.ended"]).await;
    let (mut cw, mut aw) = (
        app.connect(&customer("t1", "cust")).await,
        app.connect(&agent("t1", "ann")).await,
    );
    let ack = cw.request(json!({"type": "call.start", "calleeId": "ann"})).await;
    let call_id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    aw.request(json!({"type": "call.accept", "callId": call_id})).await;
    cw.request(json!({"type": "call.end", "callId": call_id})).await;
    let hits = rx.wait_for(3).await;
    let events: Vec<Value> = hits.iter().map(|h| checked(h, &secret)).collect();
    // Messages go out concurrently, so arrival order is not promised; each says when it happened
    // (to the millisecond: two events of one call may share one).
    let at = |ty: &str| {
        let e = events
            .iter()
            .find(|e| e["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty}: {events:?}"));
        e["timestamp"].as_str().unwrap().to_owned()
    };
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["call.answered", "call.ended", "call.ringing"], "{events:?}");
    assert!(
        at("call.ringing") <= at("call.answered") && at("call.answered") <= at("call.ended"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["data"]["id"] == call_id.as_str()), "{events:?}");
    let ended = events.iter().find(|e| e["type"] == "call.ended").unwrap();
    assert_eq!(ended["data"]["status"], "COMPLETED", "{ended}");
    assert!(events[0]["timestamp"].is_string());
    let ids: std::collections::HashSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one id per message");
    // The log: three messages delivered at the first attempt.
    let l = log_when(&app, &admin, &id, all_delivered).await;
    assert_eq!(l["messages"].as_array().unwrap().len(), 3, "{l}");
    assert!(
        l["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "delivered" && m["attempts"] == 1),
        "{l}"
    );
    assert!(
        l["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["statusCode"] == 204 && a["error"].is_null())
    );
    // The list hides the secret; roles and org isolation; bad input.
    let (_, list) = app.get("/api/webhooks/endpoints", Some(&admin)).await;
    assert!(
        list["endpoints"][0]["secret"].is_null() && list["endpoints"][0]["url"] == rx.url.as_str(),
        "{list}"
    );
    let member = app.token(&agent("t1", "ann"));
    assert_eq!(app.get("/api/webhooks/endpoints", Some(&member)).await.0, 403);
    let other = admin_of(&app, "t2");
    assert_eq!(
        app.get(&format!("/api/webhooks/endpoints/{id}/deliveries"), Some(&other))
            .await
            .0,
        404
    );
    let (_, theirs) = app.get("/api/webhooks/endpoints", Some(&other)).await;
    assert!(theirs["endpoints"].as_array().unwrap().is_empty());
    for body in [
        json!({"url": "ftp://x/y"}),
        json!({"url": "not a url"}),
        json!({"url": rx.url, "events": ["call.exploded"]}),
    ] {
        let (status, err) = app.post("/api/webhooks/endpoints", Some(&admin), body).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{err}"
        );
    }
    // Another org's calls reach none of t1's endpoints.
    let mut c2 = app.connect(&customer("t2", "cust2")).await;
    let _a2 = app.connect(&agent("t2", "zed")).await;
    let ack = c2.request(json!({"type": "call.start", "calleeId": "zed"})).await;
    c2.request(json!({"type": "call.cancel", "callId": ack["call"]["id"]}))
        .await;
    let del = app
        .http
        .delete(app.url(&format!("/api/webhooks/endpoints/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 404, "another org cannot delete it");
    assert_eq!(rx.hits().len(), 3);
}

async fn a_receiver_outage_is_retried_on_the_schedule_then_given_up(b: Backend) {
    let app = spawn_with(b, |s| {
        s.webhooks.schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    })
    .await;
    let rx = Receiver::start().await;
    let admin = admin_of(&app, "t1");
    let (id, secret) = endpoint(&app, &admin, &rx.url, &["call.ended"]).await;
    // Down for two attempts: the third gets through.
    rx.fail_next(2);
    let sink: &dyn switchboard::webhook::EventSink = app.state.outbox.as_ref();
    sink.emit("t1", "call.ended", json!({"id": "c-1"})).await;
    let hits = rx.wait_for(3).await;
    assert!(
        hits.iter().all(|h| h.id == hits[0].id),
        "the same webhook-id on every attempt: {hits:?}"
    );
    assert_eq!(checked(&hits[2], &secret)["data"]["id"], "c-1");
    let gaps: Vec<i64> = hits.windows(2).map(|w| w[1].timestamp - w[0].timestamp).collect();
    assert!(
        gaps.iter().all(|g| (0..=2).contains(g)),
        "retries within seconds: {gaps:?}"
    );
    let l = log_when(&app, &admin, &id, all_delivered).await;
    let codes: Vec<i64> = l["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [503, 503, 204], "{l}");
    // A receiver that stays down: three attempts (the first and the schedule's two), then failed.
    rx.fail_next(100);
    sink.emit("t1", "call.ended", json!({"id": "c-2"})).await;
    rx.wait_for(6).await;
    let l = log_when(&app, &admin, &id, |l| {
        l["messages"].as_array().unwrap().iter().any(|m| m["state"] == "failed")
    })
    .await;
    let failed = l["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "failed")
        .unwrap();
    assert_eq!(failed["attempts"], 3, "{failed}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rx.hits().len(), 6, "nothing after giving up");
}

async fn nothing_is_lost_across_a_restart(b: Backend) {
    let app = spawn_with(b, |s| {
        s.webhooks.schedule = vec![Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs(1)];
    })
    .await;
    let rx = Receiver::start().await;
    let admin = admin_of(&app, "t1");
    let (id, secret) = endpoint(&app, &admin, &rx.url, &[]).await;
    rx.fail_next(1);
    let sink: &dyn switchboard::webhook::EventSink = app.state.outbox.as_ref();
    sink.emit("t1", "integration.needs_reconnect", json!({"provider": "ringcentral"}))
        .await;
    let first = rx.wait_for(1).await;
    // The first attempt is logged and the retry scheduled…
    log_when(&app, &admin, &id, |l| {
        l["messages"][0]["attempts"] == 1 && l["messages"][0]["state"] == "pending"
    })
    .await;
    // …then the server stops before the retry is due, and comes back on the same store.
    let app = app.restart(|_| {}).await;
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[1].id, first[0].id, "the same message, after the restart");
    assert_eq!(checked(&hits[1], &secret)["type"], "integration.needs_reconnect");
    let l = log_when(&app, &admin, &id, all_delivered).await;
    assert_eq!(l["messages"][0]["attempts"], 2, "{l}");
}

async fn a_text_received_on_twilio_is_sent(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", "+14155550100").await;
    p.assign("t1", "ann", &[&number]).await;
    let rx = Receiver::start().await;
    let admin = p.token_as(&agent("t1", "boss"), Some("admin"));
    let (_, secret) = endpoint(&p.app, &admin, &rx.url, &["sms.received", "call.ringing"]).await;
    let text = [
        ("MessageSid", "SM00000000000000000000000000000009"),
        ("From", "+14155552671"),
        ("To", "+14155550100"),
        ("Body", "Zoë ☎ here"),
        ("NumSegments", "1"),
    ];
    assert_eq!(p.hook("/sms", &text).await.0, 200);
    assert_eq!(
        p.hook("/sms", &text).await.0,
        200,
        "a re-delivered text is not sent twice"
    );
    let voice = [
        ("CallSid", "CA00000000000000000000000000000009"),
        ("From", "+14155552671"),
        ("To", "+14155550100"),
        ("CallStatus", "ringing"),
    ];
    p.hook("/voice", &voice).await;
    let hits = rx.wait_for(2).await;
    let sms = checked(&hits[0], &secret);
    assert_eq!(
        (sms["type"].as_str(), sms["data"]["message"]["body"].as_str()),
        (Some("sms.received"), Some("Zoë ☎ here"))
    );
    let ring = checked(&hits[1], &secret);
    assert_eq!(
        (ring["type"].as_str(), ring["data"]["fromNumber"].as_str()),
        (Some("call.ringing"), Some("+14155552671"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 2);
}

/// A ringing call (cancelled at once) from `cust` to `ann` of t1.
async fn ring_once(app: &TestApp) {
    let mut cw = app.connect(&customer("t1", "cust")).await;
    let mut aw = app.connect(&agent("t1", "ann")).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "ann"})).await;
    aw.next_of("call.incoming").await;
    cw.request(json!({"type": "call.cancel", "callId": ack["call"]["id"]}))
        .await;
}

async fn endpoints_changed_on_this_node_take_effect_at_once(b: Backend) {
    let app = spawn_app(b).await;
    let admin = admin_of(&app, "t1");
    let (rx1, rx2) = (Receiver::start().await, Receiver::start().await);
    let (first, _) = endpoint(&app, &admin, &rx1.url, &["call.ringing"]).await;
    // The feed has read (and remembers) t1's endpoints: just the first.
    ring_once(&app).await;
    rx1.wait_for(1).await;
    // A second endpoint is added: the next event goes to both.
    let (second, _) = endpoint(&app, &admin, &rx2.url, &["call.ringing"]).await;
    ring_once(&app).await;
    rx2.wait_for(1).await;
    rx1.wait_for(2).await;
    // The first is deleted: the next event goes to the second only.
    let del = app
        .http
        .delete(app.url(&format!("/api/webhooks/endpoints/{first}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    ring_once(&app).await;
    rx2.wait_for(2).await;
    // One emit writes every endpoint's row before any is sent: none was written for the deleted one.
    let store = &app.state.store;
    assert_eq!(store.messages_of(&first, 10).await.unwrap().len(), 2);
    assert_eq!(store.messages_of(&second, 10).await.unwrap().len(), 2);
}

crate::on_both_backends!(
    endpoints_changed_on_this_node_take_effect_at_once,
    an_in_app_call_is_sent_signed_ringing_answered_ended,
    a_receiver_outage_is_retried_on_the_schedule_then_given_up,
    nothing_is_lost_across_a_restart,
    a_text_received_on_twilio_is_sent,
);
