//! Contacts and their timeline (issue #12): pushed by the CRM, numbers in any format matched in E.164, calls (in-app and phone), voicemails, texts and notes newest first with paging, roles, another org 404, `call.incoming.contact`.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::phone_support::*;

const OURS: &str = "+14155550100";
const PAT: &str = "+14155552671";

async fn push(p: &Phone, token: &str, id: &str, body: Value) -> (u16, Value) {
    p.app.put(&format!("/api/contacts/{id}"), Some(token), body).await
}

async fn timeline(p: &Phone, token: &str, id: &str, query: &str) -> (u16, Value) {
    p.app
        .get(&format!("/api/contacts/{id}/activities?{query}"), Some(token))
        .await
}

fn kinds(page: &Value) -> Vec<String> {
    page["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn contacts_are_pushed_in_any_number_format_and_scoped_to_the_org(b: Backend) {
    let p = phone_app(b).await;
    let admin = p.token_as(&agent("t1", "boss"), Some("admin"));
    let (status, c) = push(
        &p,
        &admin,
        "crm-1",
        json!({"name": "Pat Customer", "type": "customer", "region": "US",
               "phoneNumbers": ["(415) 555-2671", "+1 415-555-0199", "14155550198", "+14155552671"],
               "portalUserId": "pat"}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["phoneNumbers"],
        json!(["+14155550198", "+14155550199", PAT]),
        "E.164, deduped"
    );
    assert_eq!(
        (c["type"].as_str(), c["portalUserId"].as_str()),
        (Some("customer"), Some("pat"))
    );
    // Members read; a portal customer does not; another org sees 404, as an unknown id.
    let ann = p.app.token(&agent("t1", "ann"));
    assert_eq!(p.app.get("/api/contacts/crm-1", Some(&ann)).await.0, 200);
    let (status, _) = p
        .app
        .get("/api/contacts/crm-1", Some(&p.app.token(&customer("t1", "pat"))))
        .await;
    assert_eq!(status, 403);
    let eve = p.token_as(&agent("t2", "eve"), Some("admin"));
    let (status, body) = p.app.get("/api/contacts/crm-1", Some(&eve)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(p.app.get("/api/contacts/crm-1?orgId=t1", Some(&eve)).await.0, 404);
    assert_eq!(timeline(&p, &eve, "crm-1", "").await.0, 404);
    // A member may not push; the platform names the org.
    assert_eq!(
        push(&p, &ann, "crm-9", json!({"name": "X", "type": "lead"})).await.0,
        403
    );
    let (status, _) = p
        .app
        .put(
            "/api/contacts/crm-9?orgId=t1",
            Some(&p.service),
            json!({"name": "Lee", "type": "lead"}),
        )
        .await;
    assert_eq!(status, 200);
    // Bad input names what is wrong; a bulk upsert with one bad contact writes none.
    for (body, says) in [
        (json!({"name": "", "type": "lead"}), "name"),
        (json!({"name": "X", "type": "friend"}), "type"),
        (json!({"name": "X", "type": "lead", "phoneNumbers": ["12"]}), "`12`"),
    ] {
        let (status, err) = push(&p, &admin, "crm-2", body).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, err) = p
        .app
        .post(
            "/api/contacts/bulk",
            Some(&admin),
            json!({"contacts": [
                {"id": "crm-3", "name": "Ok", "type": "lead", "phoneNumbers": ["+14155550142"]},
                {"id": "crm-4", "name": "Bad", "type": "lead", "phoneNumbers": ["not a number"]}
            ]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("crm-4"), "{err}");
    assert_eq!(
        p.app.get("/api/contacts/crm-3", Some(&admin)).await.0,
        404,
        "nothing written"
    );
    let (status, done) = p
        .app
        .post(
            "/api/contacts/bulk",
            Some(&admin),
            json!({"contacts": [
                {"id": "crm-3", "name": "Ok", "type": "lead", "phoneNumbers": ["+14155550142"]},
                {"id": "crm-4", "name": "Also ok", "type": "prospect"}
            ]}),
        )
        .await;
    assert_eq!((status, done["upserted"].as_u64()), (200, Some(2)), "{done}");
}

/// Returns once the clock has moved past `t` (at most a millisecond), so the next item is stamped later than the last.
async fn clock_moves_past(t: i64) {
    while switchboard::clock::now_ms() <= t {
        tokio::task::yield_now().await;
    }
}

async fn the_timeline_merges_calls_voicemails_texts_and_notes_newest_first(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    let admin = p.token_as(&agent("t1", "boss"), Some("admin"));
    // The CRM knows Pat by a national number; Twilio will send E.164.
    let (status, _) = push(
        &p,
        &admin,
        "crm-1",
        json!({"name": "Pat Customer", "type": "customer", "region": "US",
               "phoneNumbers": ["(415) 555-2671"], "portalUserId": "pat"}),
    )
    .await;
    assert_eq!(status, 200);

    // 1. Pat calls our number while Ann is online: her call.incoming names the contact.
    let mut ann_ws = p.app.connect(&agent("t1", "ann")).await;
    let voice = [
        ("CallSid", "CA00000000000000000000000000000001"),
        ("From", PAT),
        ("To", OURS),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    assert_eq!(p.hook("/voice", &voice).await.0, 200);
    let ring = ann_ws.next_of("call.incoming").await;
    assert_eq!(
        ring["contact"],
        json!({"id": "crm-1", "name": "Pat Customer", "type": "customer"}),
        "{ring}"
    );
    ann_ws.close().await;
    // 2. A second call, with nobody online: voicemail.
    let voice2 = [
        ("CallSid", "CA00000000000000000000000000000002"),
        ("From", PAT),
        ("To", OURS),
        ("CallStatus", "ringing"),
    ];
    clock_moves_past(switchboard::clock::now_ms()).await;
    let (_, twiml) = p.hook("/voice", &voice2).await;
    assert!(twiml.contains("<Record"), "{twiml}");
    // 3. Pat texts.
    clock_moves_past(switchboard::clock::now_ms()).await;
    let text = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", PAT),
        ("To", OURS),
        ("Body", "Can you call me back?"),
        ("NumSegments", "1"),
    ];
    assert_eq!(p.hook("/sms", &text).await.0, 200);
    // 4. An in-app call from Pat's portal login to Bob.
    clock_moves_past(switchboard::clock::now_ms()).await;
    let mut bob = p.app.connect(&agent("t1", "bob")).await;
    let mut pat = p.app.connect(&customer("t1", "pat")).await;
    let ack = pat.request(json!({"type": "call.start", "calleeId": "bob"})).await;
    let in_app = ack["call"]["id"].as_str().unwrap().to_owned();
    bob.next_of("call.incoming").await;
    pat.request(json!({"type": "call.cancel", "callId": in_app})).await;
    // 5. Ann writes a note.
    clock_moves_past(switchboard::clock::now_ms()).await;
    let ann = p.app.token(&agent("t1", "ann"));
    let (status, note) = p
        .app
        .post(
            "/api/contacts/crm-1/activities",
            Some(&ann),
            json!({"body": "Promised a callback."}),
        )
        .await;
    assert_eq!(
        (status, note["kind"].as_str(), note["memberId"].as_str()),
        (201, Some("note"), Some("ann")),
        "{note}"
    );

    // The admin sees all five, newest first, with the member involved.
    let (status, page) = timeline(&p, &admin, "crm-1", "").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(kinds(&page), ["note", "call", "sms", "voicemail", "call"], "{page}");
    let acts = page["activities"].as_array().unwrap();
    assert_eq!(acts[1]["call"]["id"], in_app.as_str());
    assert_eq!(acts[1]["memberId"], "bob");
    assert_eq!(acts[2]["sms"]["body"], "Can you call me back?");
    assert!(page["nextCursor"].is_null());
    // Pages of two: the same five, none twice.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (status, page) = timeline(&p, &admin, "crm-1", &query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["activities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => query = format!("limit=2&before={c}"),
            None => break,
        }
    }
    let all: Vec<String> = acts.iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, all);
    // Ann (assigned the number) sees the phone calls, the text and the note, not Bob's in-app call.
    let (_, mine) = timeline(&p, &ann, "crm-1", "").await;
    assert_eq!(kinds(&mine), ["note", "sms", "voicemail", "call"], "{mine}");
    // A changed number re-matches at once: Pat's number dropped, only the in-app call and the note stay.
    push(
        &p,
        &admin,
        "crm-1",
        json!({"name": "Pat Customer", "type": "customer", "phoneNumbers": ["+14155550111"], "portalUserId": "pat"}),
    )
    .await;
    let (_, page) = timeline(&p, &admin, "crm-1", "").await;
    assert_eq!(kinds(&page), ["note", "call"], "{page}");
    for q in ["limit=0", "limit=201", "before=garbage"] {
        assert_eq!(timeline(&p, &admin, "crm-1", q).await.0, 400, "{q}");
    }
    assert_eq!(
        p.app
            .post("/api/contacts/crm-1/activities", Some(&ann), json!({"body": " "}))
            .await
            .0,
        400
    );

    // Deleting: only an admin of the org; the contact and its notes go, its calls stay in the history.
    let delete = |token: String, path: &'static str| {
        let app = &p.app;
        async move {
            app.http
                .delete(app.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(delete(ann.clone(), "/api/contacts/crm-1").await, 403);
    let other = p.token_as(&agent("t2", "eve"), Some("admin"));
    assert_eq!(
        delete(other, "/api/contacts/crm-1").await,
        404,
        "another org's contact is unknown"
    );
    assert_eq!(delete(admin.clone(), "/api/contacts/crm-1").await, 204);
    assert_eq!(delete(admin.clone(), "/api/contacts/crm-1").await, 404, "gone");
    assert_eq!(p.app.get("/api/contacts/crm-1", Some(&admin)).await.0, 404);
    assert_eq!(timeline(&p, &admin, "crm-1", "").await.0, 404);
    let (_, calls) = p.app.get("/api/phone/calls?limit=100", Some(&admin)).await;
    assert_eq!(
        calls["calls"].as_array().unwrap().len(),
        2,
        "the phone calls stay: {calls}"
    );
    // The same id pushed again is a new contact: its calls match again by number, the old note is not back.
    push(
        &p,
        &admin,
        "crm-1",
        json!({"name": "Pat Again", "type": "lead", "phoneNumbers": ["(415) 555-2671"], "region": "US"}),
    )
    .await;
    let (_, page) = timeline(&p, &admin, "crm-1", "").await;
    assert_eq!(kinds(&page), ["sms", "voicemail", "call"], "{page}");
}

crate::on_both_backends!(
    contacts_are_pushed_in_any_number_format_and_scoped_to_the_org,
    the_timeline_merges_calls_voicemails_texts_and_notes_newest_first,
);
