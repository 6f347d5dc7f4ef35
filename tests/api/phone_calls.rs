//! Phone calls end to end against the fake Twilio: inbound ringing → answer → completed, voicemail, outbound, callbacks repeated and out of order, bad signatures.

use std::time::Duration;

use serde_json::json;

use crate::fake_twilio::{RECORDING, recording_bytes};
use crate::helpers::*;
use crate::phone_support::*;

const OURS: &str = "+14155550100";
const THEIRS: &str = "+14155552671";
const PARENT: &str = "CA00000000000000000000000000000001";
const CHILD: &str = "CA00000000000000000000000000000002";

fn completed(duration: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", PARENT.into()),
        ("CallStatus", "completed".into()),
        ("CallDuration", duration.into()),
        ("From", THEIRS.into()),
        ("To", OURS.into()),
        ("Direction", "inbound".into()),
        ("Price", "-0.00850".into()),
        ("PriceUnit", "USD".into()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

async fn inbound_rings_available_members_then_answered_completed(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    p.assign("t1", "bob", &[&number]).await;
    p.assign("t1", "cy", &[&number]).await;
    let mut ann = p.app.connect(&agent("t1", "ann")).await;
    let mut bob = p.app.connect(&agent("t1", "bob")).await;
    // cy is assigned but offline: not rung.
    let voice = [
        ("CallSid", PARENT),
        ("From", THEIRS),
        ("To", OURS),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let (status, twiml) = p.hook("/voice", &voice).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(
        twiml.contains(">ann</Client>") && twiml.contains(">bob</Client>"),
        "{twiml}"
    );
    assert!(!twiml.contains("cy</Client>"), "an offline member is not rung: {twiml}");
    let ring = ann.next_of("call.incoming").await;
    assert_eq!(ring["channel"], "pstn");
    assert_eq!(ring["from"]["number"], THEIRS);
    assert_eq!(ring["toNumber"], OURS);
    let call_id = ring["callId"].as_str().unwrap().to_owned();
    assert_eq!(bob.next_of("call.incoming").await["callId"], call_id.as_str());
    // Twilio retries the webhook: still one row.
    assert_eq!(p.hook("/voice", &voice).await.0, 200);
    let row = p.only_call().await;
    assert_eq!(
        (row["id"].as_str(), row["status"].as_str()),
        (Some(call_id.as_str()), Some("RINGING"))
    );
    assert_eq!(row["channel"], "pstn");
    assert_eq!(row["externalId"], PARENT);
    assert_eq!(row["direction"], "inbound");
    // The parent's own in-progress (our TwiML runs) is not an answer.
    let in_progress = [
        ("CallSid", PARENT),
        ("CallStatus", "in-progress"),
        ("From", THEIRS),
        ("To", OURS),
    ];
    assert_eq!(p.hook("/status", &in_progress).await.0, 204);
    assert_eq!(p.call(&call_id).await["status"], "RINGING");
    // Ann's softphone answers.
    let agent_q = format!("/status?callId={call_id}&leg=agent");
    let answered = [
        ("CallSid", CHILD),
        ("ParentCallSid", PARENT),
        ("CallStatus", "in-progress"),
        ("To", "client:ann"),
    ];
    assert_eq!(p.hook(&agent_q, &answered).await.0, 204);
    let row = p.call(&call_id).await;
    assert_eq!(row["status"], "ACTIVE");
    assert_eq!(row["toUserId"], "ann");
    assert_eq!(bob.next_of("call.answered_elsewhere").await["callId"], call_id.as_str());
    assert_eq!(
        ann.next_of("call.accepted").await["callId"],
        call_id.as_str(),
        "the one who took it is told"
    );
    // On the phone, Ann shows busy and is not rung for the next phone call.
    bob.next_where("ann busy", |v| {
        v["type"] == "presence" && v["supabaseUserId"] == "ann" && v["status"] == "busy"
    })
    .await;
    let next_call = [
        ("CallSid", "CA00000000000000000000000000000009"),
        ("From", THEIRS),
        ("To", OURS),
    ];
    let (_, twiml) = p.hook("/voice", &next_call).await;
    assert!(
        twiml.contains(">bob</Client>") && !twiml.contains(">ann</Client>"),
        "{twiml}"
    );
    // An action request without Twilio's DialCallStatus is refused, and changes nothing.
    let (status, _) = p
        .hook(
            &format!("/voice?step=after-dial&callId={call_id}"),
            &[("CallSid", PARENT)],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(p.call(&call_id).await["status"], "ACTIVE");
    // The dial ends after 42 s of talk.
    let after = format!("/voice?step=after-dial&callId={call_id}");
    let dial_done = [
        ("CallSid", PARENT),
        ("DialCallSid", CHILD),
        ("DialCallStatus", "completed"),
        ("DialCallDuration", "42"),
    ];
    let (status, twiml) = p.hook(&after, &dial_done).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Hangup"), "{twiml}");
    let ended = ann.next_of("call.ended").await;
    assert_eq!(
        (ended["status"].as_str(), ended["duration"].as_i64()),
        (Some("COMPLETED"), Some(42))
    );
    bob.next_where("ann available", |v| {
        v["type"] == "presence" && v["supabaseUserId"] == "ann" && v["status"] == "available"
    })
    .await;
    // The parent's completed callback brings the price; a repeat and a late `ringing` change nothing.
    let done = completed("50");
    assert_eq!(p.hook("/status", &pairs(&done)).await.0, 204);
    let row = p.call(&call_id).await;
    assert_eq!(row["status"], "COMPLETED");
    assert_eq!(row["duration"], 42);
    assert_eq!(row["priceMicros"], 8_500);
    assert_eq!(row["priceUnit"], "USD");
    assert_eq!(p.hook("/status", &pairs(&done)).await.0, 204);
    let late = [
        ("CallSid", PARENT),
        ("CallStatus", "ringing"),
        ("From", THEIRS),
        ("To", OURS),
    ];
    assert_eq!(p.hook("/status", &late).await.0, 204);
    assert_eq!(
        p.call(&call_id).await,
        row,
        "a repeated or late callback changes nothing"
    );
    // Billed once: 50 s of the parent leg is one started minute, at Twilio's price.
    let usage = p.usage_of("t1", "call_minutes_inbound").await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(
        (usage[0]["quantity"].as_i64(), usage[0]["priceMicros"].as_i64()),
        (Some(1), Some(8_500))
    );
    // Ann's history has it, with the phone fields; an in-app row keeps its shape plus `channel`.
    let (_, hist) = p
        .app
        .get("/api/voip/history", Some(&p.app.token(&agent("t1", "ann"))))
        .await;
    // Both calls of her number; the one she took carries the phone fields.
    let mine = hist.as_array().unwrap();
    assert_eq!(mine.len(), 2, "{hist}");
    let taken: Vec<&serde_json::Value> = mine.iter().filter(|c| c["id"] == call_id.as_str()).collect();
    assert_eq!(
        (taken[0]["channel"].as_str(), taken[0]["fromNumber"].as_str()),
        (Some("pstn"), Some(THEIRS))
    );
}

async fn nobody_available_or_no_answer_is_voicemail(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    // Nobody online: straight to voicemail.
    let voice = [
        ("CallSid", PARENT),
        ("From", THEIRS),
        ("To", OURS),
        ("CallStatus", "ringing"),
    ];
    let (status, twiml) = p.hook("/voice", &voice).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Record") && twiml.contains("kind=voicemail"), "{twiml}");
    let call_id = p.only_call().await["id"].as_str().unwrap().to_owned();
    let rec_q = format!("/recording?callId={call_id}&kind=voicemail");
    let rec = [
        ("CallSid", PARENT),
        ("RecordingSid", RECORDING),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "17"),
    ];
    assert_eq!(p.hook(&rec_q, &rec).await.0, 204);
    assert_eq!(p.hook(&rec_q, &rec).await.0, 204, "a repeat is a no-op");
    assert_eq!(p.hook("/status", &pairs(&completed("30"))).await.0, 204);
    let row = p.call(&call_id).await;
    assert_eq!(row["status"], "MISSED");
    assert_eq!(row["voicemail"], true);
    assert_eq!(row["recordingSeconds"], 17);
    assert_eq!(row["recordingUrl"], format!("/api/phone/calls/{call_id}/recording"));
    assert_eq!(p.usage_of("t1", "recording_minutes").await.len(), 1);
    // The assigned member streams it; a colleague without the number and another org cannot.
    let ann = p.app.token(&agent("t1", "ann"));
    let resp = p
        .app
        .http
        .get(p.app.url(&format!("/api/phone/calls/{call_id}/recording")))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    assert!(resp.bytes().await.unwrap().as_ref() == recording_bytes().as_slice());
    for stranger in [
        p.app.token(&agent("t1", "dee")),
        p.token_as(&agent("t2", "boss"), Some("admin")),
    ] {
        let (status, body) = p
            .app
            .get(&format!("/api/phone/calls/{call_id}/recording"), Some(&stranger))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("call_not_found")),
            "{body}"
        );
    }

    // Ringing nobody answers: the dial's no-answer turns to voicemail too.
    const SECOND: &str = "CA00000000000000000000000000000003";
    let mut ann_ws = p.app.connect(&agent("t1", "ann")).await;
    let voice = [
        ("CallSid", SECOND),
        ("From", THEIRS),
        ("To", OURS),
        ("CallStatus", "ringing"),
    ];
    let (_, twiml) = p.hook("/voice", &voice).await;
    assert!(twiml.contains(">ann</Client>"), "{twiml}");
    let (status, body) = p.app.get("/api/phone/calls", Some(&p.service)).await;
    assert_eq!(status, 200);
    let second = body["calls"][0]["id"].as_str().unwrap().to_owned();
    let no_answer = [("CallSid", SECOND), ("DialCallStatus", "no-answer")];
    let (_, twiml) = p
        .hook(&format!("/voice?step=after-dial&callId={second}"), &no_answer)
        .await;
    assert!(twiml.contains("<Record"), "{twiml}");
    assert_eq!(p.call(&second).await["voicemail"], true);
    assert_eq!(
        ann_ws.next_of("call.cancelled").await["callId"],
        second.as_str(),
        "the ringing stopped"
    );
    // The caller hangs up after the message: the number's members see it missed.
    let done = [("CallSid", SECOND), ("CallStatus", "completed"), ("CallDuration", "40")];
    assert_eq!(p.hook("/status", &done).await.0, 204);
    let missed = ann_ws.next_of("call.missed").await;
    assert_eq!(missed["callId"], second.as_str());
}

async fn a_bad_or_missing_signature_is_403_and_changes_nothing(b: Backend) {
    let p = phone_app(b).await;
    p.add_number("t1", OURS).await;
    let voice = [("CallSid", PARENT), ("From", THEIRS), ("To", OURS)];
    // Signed over another URL (the listening address, not the public one), or with params changed.
    let wrong_url = crate::fake_twilio::sign(&p.app.url("/api/phone/webhooks/twilio/voice"), &voice);
    let tampered = crate::fake_twilio::sign(
        &format!("{PUBLIC}{HOOKS}/voice"),
        &[("CallSid", PARENT), ("From", "+15005550006"), ("To", OURS)],
    );
    for sig in [Some(wrong_url.as_str()), Some(tampered.as_str()), Some(""), None] {
        assert_eq!(p.hook_signed("/voice", &voice, sig).await, 403, "{sig:?}");
    }
    for path in ["/status", "/recording?callId=x", "/sms", "/sms-status"] {
        assert_eq!(p.hook_signed(path, &voice, None).await, 403, "{path}");
    }
    let (_, body) = p.app.get("/api/phone/calls", Some(&p.service)).await;
    assert_eq!(body["calls"], json!([]), "nothing written");
}

async fn an_outbound_call_is_placed_bridged_and_billed(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    let ann = p.app.token(&agent("t1", "ann"));
    let mut ann_ws = p.app.connect(&agent("t1", "ann")).await;
    let (status, placed) = p
        .app
        .post(
            "/api/phone/calls",
            Some(&ann),
            json!({"from": "(415) 555-0100", "to": THEIRS}),
        )
        .await;
    // The caller id must be written in E.164 or with a country: a bare national number is refused.
    assert_eq!(
        (status, placed["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{placed}"
    );
    let (status, placed) = p
        .app
        .post(
            "/api/phone/calls",
            Some(&ann),
            json!({"from": OURS, "to": "+44 20 7946 0958", "record": true}),
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    let sent = p.fake.seen_of("Calls.json");
    assert_eq!(sent.len(), 1);
    let field = |k: &str| sent[0].iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("From").as_deref(), Some(OURS));
    assert_eq!(field("To").as_deref(), Some("+442079460958"));
    let id = placed["id"].as_str().unwrap().to_owned();
    assert_eq!(
        field("Url"),
        Some(format!("{PUBLIC}{HOOKS}/voice?step=bridge&callId={id}"))
    );
    assert_eq!(
        field("StatusCallback"),
        Some(format!("{PUBLIC}{HOOKS}/status?callId={id}"))
    );
    assert_eq!(field("Record").as_deref(), Some("true"));
    let sid = placed["externalId"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("CA") && sid.len() == 34, "{placed}");
    assert_eq!(
        (placed["direction"].as_str(), placed["fromUserId"].as_str()),
        (Some("outbound"), Some("ann"))
    );
    // The far end answers: Twilio asks what to do, and is told to ring Ann's softphone.
    let (_, twiml) = p
        .hook(
            &format!("/voice?step=bridge&callId={id}"),
            &[("CallSid", &sid), ("CallStatus", "in-progress")],
        )
        .await;
    assert!(twiml.contains(">ann</Client>"), "{twiml}");
    let status_q = format!("/status?callId={id}");
    let answered = [("CallSid", sid.as_str()), ("CallStatus", "in-progress"), ("From", OURS)];
    assert_eq!(p.hook(&status_q, &answered).await.0, 204);
    assert_eq!(p.call(&id).await["status"], "ACTIVE");
    let done = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("CallDuration", "61"),
        ("From", OURS),
    ];
    assert_eq!(p.hook(&status_q, &done).await.0, 204);
    assert_eq!(p.hook(&status_q, &done).await.0, 204);
    let row = p.call(&id).await;
    assert_eq!(
        (row["status"].as_str(), row["duration"].as_i64()),
        (Some("COMPLETED"), Some(61))
    );
    assert_eq!(ann_ws.next_of("call.ended").await["callId"], id.as_str());
    let usage = p.usage_of("t1", "call_minutes_outbound").await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["quantity"], 2, "61 s is two started minutes");
    assert_eq!(
        usage[0]["priceSource"], "plan",
        "no price in the callback: the plan's rate applies"
    );

    // A number not assigned to the caller is unknown to them; Twilio's refusal is a 502 and a FAILED row.
    let bob = p.app.token(&agent("t1", "bob"));
    let (status, body) = p
        .app
        .post("/api/phone/calls", Some(&bob), json!({"from": OURS, "to": THEIRS}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    p.fake
        .fail_next(400, 21211, "The 'To' number is not a valid phone number.");
    let (status, body) = p
        .app
        .post("/api/phone/calls", Some(&ann), json!({"from": OURS, "to": THEIRS}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("provider_error")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a valid phone number"),
        "{body}"
    );
    let (_, list) = p.app.get("/api/phone/calls", Some(&ann)).await;
    assert_eq!(list["calls"][0]["status"], "FAILED", "{list}");
    assert_eq!(list["calls"][0]["endReason"], "provider_failed", "{list}");
    assert_eq!(list["calls"].as_array().unwrap().len(), 2);
    ann_ws.expect_no("call.incoming", Duration::from_millis(50)).await;
}

async fn the_softphone_token_and_its_outgoing_call(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    let (status, t) = p
        .app
        .get("/api/phone/token", Some(&p.app.token(&agent("t1", "ann"))))
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["identity"], "ann");
    let jwt = t["token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["grants"]["identity"], "ann");
    assert_eq!(claims["grants"]["voice"]["incoming"]["allow"], true);
    assert_eq!(
        claims["grants"]["voice"]["outgoing"]["application_sid"],
        "AP0123456789abcdef0123456789abcdef"
    );
    // The softphone dials: TwiML dials the number with Ann's caller id.
    let out = [("CallSid", PARENT), ("From", "client:ann"), ("To", THEIRS)];
    let (status, twiml) = p.hook("/voice", &out).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains(&format!("callerId=\"{OURS}\"")) && twiml.contains(THEIRS),
        "{twiml}"
    );
    let row = p.only_call().await;
    assert_eq!(
        (row["fromUserId"].as_str(), row["direction"].as_str()),
        (Some("ann"), Some("outbound"))
    );
    // Someone with no number is told so, and nothing is written.
    let (_, twiml) = p
        .hook("/voice", &[("CallSid", CHILD), ("From", "client:bob"), ("To", THEIRS)])
        .await;
    assert!(twiml.contains("<Say>") && !twiml.contains("<Dial"), "{twiml}");
    let (_, list) = p.app.get("/api/phone/calls", Some(&p.service)).await;
    assert_eq!(list["calls"].as_array().unwrap().len(), 1);
    // A caller id must be one of the softphone's numbers that can call.
    let (s, fax) = p
        .app
        .post(
            "/api/orgs/t1/phone-numbers",
            Some(&p.service),
            json!({"number": "+14155550142", "voice": false}),
        )
        .await;
    assert_eq!(s, 201, "{fax}");
    p.assign("t1", "ann", &[&number, fax["id"].as_str().unwrap()]).await;
    let params = [
        ("CallSid", CHILD),
        ("From", "client:ann"),
        ("To", THEIRS),
        ("CallerId", "+14155550142"),
    ];
    let (_, twiml) = p.hook("/voice", &params).await;
    assert!(twiml.contains("<Say>") && !twiml.contains("<Dial"), "{twiml}");
    // The phone routes serve phone calls only: an in-app call stays its participants'.
    let _agent = p.app.connect(&agent("t1", "dee")).await;
    let carol = p.app.token(&customer("t1", "carol"));
    let (s, started) = p
        .app
        .post("/api/voip/start-call", Some(&carol), json!({"calleeSupabaseId": "dee"}))
        .await;
    assert_eq!(s, 200, "{started}");
    let in_app = format!("/api/phone/calls/{}", started["callId"].as_str().unwrap());
    let admin = p.token_as(&agent("t1", "boss"), Some("admin"));
    for who in [&p.service, &admin] {
        let (s, body) = p.app.get(&in_app, Some(who)).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (404, Some("call_not_found")),
            "{body}"
        );
    }
}

crate::on_both_backends!(
    inbound_rings_available_members_then_answered_completed,
    nobody_available_or_no_answer_is_voicemail,
    a_bad_or_missing_signature_is_403_and_changes_nothing,
    an_outbound_call_is_placed_bridged_and_billed,
    the_softphone_token_and_its_outgoing_call,
);
