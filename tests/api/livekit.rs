//! LiveKit mode: room tokens checked with the livekit-api crate's own `TokenVerifier`.

use std::time::Duration;

use livekit_api::access_token::TokenVerifier;
use serde_json::json;
use switchboard::config::LiveKitSettings;
use switchboard::media::MediaMode;

use crate::helpers::*;

const KEY: &str = "APIkey123";
const LK_SECRET: &str = "livekit-secret-livekit-secret-livekit-secret";

async fn livekit_tokens_are_scoped_to_each_participant(b: Backend) {
    let app = spawn_with(b, |s| {
        s.media_mode = MediaMode::Livekit;
        s.livekit = Some(LiveKitSettings {
            api_key: KEY.into(),
            api_secret: LK_SECRET.into(),
            ws_url: Some("wss://lk.example.com".into()),
            token_ttl: Duration::from_secs(600),
        });
    })
    .await;
    let verifier = TokenVerifier::with_api_key(KEY, LK_SECRET);
    let (c, a) = (customer("t1", "cust"), agent("t1", "agent"));
    let mut aw = app.connect(&a).await;
    assert_eq!(aw.welcome["mediaMode"], "livekit");

    let (status, body) = app
        .post(
            "/api/voip/start-call",
            Some(&app.token(&c)),
            json!({"calleeSupabaseId": "agent", "callerName": "Cu"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["livekitUrl"], "wss://lk.example.com");
    let room = body["roomName"].as_str().unwrap().to_owned();
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 5, "no callee token or anything else in {keys:?}");

    let caller = verifier.verify(body["callerToken"].as_str().unwrap()).unwrap();
    assert_eq!(caller.sub, "cust");
    assert_eq!(caller.name, "Customer cust Tester");
    assert_eq!(caller.video.room, room);
    assert!(caller.video.room_join);
    assert!(caller.video.can_publish() && caller.video.can_subscribe());
    assert!(!caller.video.room_admin && !caller.video.room_create);
    let meta: serde_json::Value = serde_json::from_str(&caller.metadata).unwrap();
    assert_eq!(meta["participantType"], "PORTAL_CUSTOMER");
    assert_eq!(meta["callId"], body["callId"]);
    let ttl = caller.exp as i64 - caller.nbf as i64;
    assert!((590..=610).contains(&ttl), "ttl {ttl}");

    let incoming = aw.next_of("call.incoming").await;
    let callee = verifier.verify(incoming["token"].as_str().unwrap()).unwrap();
    assert_eq!(callee.sub, "agent");
    assert_eq!(callee.video.room, room);
    assert!(callee.video.room_join && callee.video.can_publish());
    assert_ne!(incoming["token"], body["callerToken"]);
    assert_eq!(incoming["livekitUrl"], "wss://lk.example.com");

    // A token from another key does not verify.
    assert!(
        TokenVerifier::with_api_key(KEY, "another-secret-another-secret-another")
            .verify(body["callerToken"].as_str().unwrap())
            .is_err()
    );

    let ack = aw
        .request(json!({"type": "call.accept", "callId": body["callId"]}))
        .await;
    let again = verifier.verify(ack["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (again.sub.as_str(), again.video.room.as_str()),
        ("agent", room.as_str())
    );
    // The caller's socket learns of the accept, with nothing of the callee's.
    let cw = app.connect(&c).await;
    let active = &cw.welcome["activeCalls"][0];
    assert_eq!(active["status"], "ACTIVE");
    assert!(cw.welcome.to_string().find(ack["token"].as_str().unwrap()).is_none());
    // A reloaded page rejoins the room with a fresh token of its own.
    let rejoin = verifier.verify(active["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (rejoin.sub.as_str(), rejoin.video.room.as_str()),
        ("cust", room.as_str())
    );
    assert_eq!(active["livekitUrl"], "wss://lk.example.com");
}

crate::on_both_backends!(livekit_tokens_are_scoped_to_each_participant);
