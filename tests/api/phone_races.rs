//! Twilio retries and races its callbacks (one consistent row, one usage record); a crash mid-placement is swept up.

use crate::helpers::*;
use crate::phone_support::*;

const OURS: &str = "+14155550100";
const THEIRS: &str = "+14155552671";

async fn concurrent_callbacks_leave_one_row_and_bill_once(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    for u in ["ann", "bob"] {
        p.assign("t1", u, &[&number]).await;
    }
    let _ann = p.app.connect(&agent("t1", "ann")).await;
    let _bob = p.app.connect(&agent("t1", "bob")).await;
    for round in 0..3 {
        let sid = format!("CA{round:032}");
        let (status, twiml) = p
            .hook("/voice", &[("CallSid", &sid), ("From", THEIRS), ("To", OURS)])
            .await;
        assert_eq!(status, 200, "{twiml}");
        let (_, list) = p.app.get("/api/phone/calls?limit=1", Some(&p.service)).await;
        let id = list["calls"][0]["id"].as_str().unwrap().to_owned();
        // Both softphones report an answer at once, and the parent's completion is delivered 8 times at once.
        let agent_q = format!("/status?callId={id}&leg=agent");
        let mut hooks = Vec::new();
        for who in ["client:ann", "client:bob"] {
            let (p, q, sid) = (&p, agent_q.clone(), sid.clone());
            hooks.push(Box::pin(async move {
                let params = [
                    ("CallSid", "CA99999999999999999999999999999999"),
                    ("ParentCallSid", sid.as_str()),
                    ("CallStatus", "in-progress"),
                    ("To", who),
                ];
                p.hook(&q, &params).await.0
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send + '_>>);
        }
        let answered: Vec<u16> = futures_util::future::join_all(hooks).await;
        assert_eq!(answered, [204, 204]);
        let row = p.call(&id).await;
        assert_eq!(row["status"], "ACTIVE");
        let taker = row["toUserId"].as_str().unwrap().to_owned();
        assert!(taker == "ann" || taker == "bob", "{row}");
        let done = [
            ("CallSid", sid.as_str()),
            ("CallStatus", "completed"),
            ("CallDuration", "75"),
            ("Price", "-0.01700"),
            ("PriceUnit", "USD"),
        ];
        let statuses = futures_util::future::join_all((0..8).map(|_| p.hook("/status", &done))).await;
        assert!(statuses.iter().all(|(s, _)| *s == 204), "{statuses:?}");
        let row = p.call(&id).await;
        assert_eq!(row["status"], "COMPLETED", "{row}");
        assert_eq!(row["toUserId"], taker.as_str(), "the first answer holds");
        assert_eq!(row["priceMicros"], 17_000);
    }
    let usage = p.usage_of("t1", "call_minutes_inbound").await;
    assert_eq!(usage.len(), 3, "one record per call: {usage:?}");
    assert!(
        usage.iter().all(|u| u["quantity"] == 2),
        "75 s is two started minutes: {usage:?}"
    );
}

/// What a process killed between the insert and Twilio's answer leaves: the sweeper ends it, and only it.
async fn a_placement_or_text_left_by_a_crash_is_ended_failed(b: Backend) {
    use switchboard::model::Direction;
    use switchboard::phone::calls::{NewPhoneCall, new_row};
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    let store = p.app.state.telephony.store();
    let now = switchboard::clock::now_ms();
    let pending = |id: &str, at| {
        let external = format!("pending-{id}");
        new_row(
            NewPhoneCall {
                id: id.to_owned(),
                org_id: "t1",
                direction: Direction::Outbound,
                external_id: &external,
                from_number: OURS,
                to_number: THEIRS,
                phone_number_id: &number,
                member: Some(("ann", None)),
                record: false,
                node_id: "gone",
            },
            at,
        )
    };
    let old = "01900000-0000-7000-8000-000000000001";
    let fresh = "01900000-0000-7000-8000-000000000002";
    assert!(store.insert_phone_call(&pending(old, now - 600_000)).await.unwrap());
    assert!(store.insert_phone_call(&pending(fresh, now - 1_000)).await.unwrap());
    let thread = unsent_text(store, &number, "01900000-0000-7000-8000-0000000000a1", now - 600_000).await;
    assert_eq!(p.app.state.telephony.sweep_once(now).await.unwrap(), 1);
    assert_eq!(p.call(old).await["status"], "FAILED");
    assert_eq!(
        p.call(fresh).await["status"],
        "RINGING",
        "a placement still in flight is left alone"
    );
    let (_, msgs) = p
        .app
        .get(
            &format!("/api/phone/sms/conversations/{}/messages", thread),
            Some(&p.service),
        )
        .await;
    assert_eq!(msgs["messages"][0]["status"], "failed", "{msgs}");
    assert_eq!(p.app.state.telephony.sweep_once(now).await.unwrap(), 0, "once");
}

/// A text's status callback that beats Twilio's answer to the send (its sid not stored yet) is kept, by our id in its URL.
async fn a_text_status_before_the_send_answer_is_kept(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    let store = p.app.state.telephony.store();
    let now = switchboard::clock::now_ms();
    let id = "01900000-0000-7000-8000-0000000000b1";
    unsent_text(store, &number, id, now).await;
    let sid = "SM0123456789abcdef0123456789abcdef";
    let cb = [("MessageSid", sid), ("MessageStatus", "sent")];
    assert_eq!(p.hook(&format!("/sms-status?messageId={id}"), &cb).await.0, 204);
    let m = store.message(id).await.unwrap().unwrap();
    assert_eq!((m.status.as_str(), m.external_id.as_deref()), ("sent", Some(sid)));
    // Twilio's late answer to the send (`queued`) keeps the later status.
    store.set_message_sent(id, sid, "queued", 1, now).await.unwrap();
    assert_eq!(store.message(id).await.unwrap().unwrap().status, "sent");
    assert_eq!(
        p.usage_of("t1", "sms_segments_outbound").await.len(),
        1,
        "billed from `sent` on"
    );
}

/// Placing calls and sending texts share the per-member rate limit of starting calls.
async fn calls_and_texts_are_rate_limited_per_member(b: Backend) {
    let p = phone_app_with(b, |s| {
        s.call_rate_burst = 2;
        s.call_rate_per_minute = 1;
    })
    .await;
    let number = p.add_number("t1", OURS).await;
    p.assign("t1", "ann", &[&number]).await;
    p.assign("t1", "bob", &[&number]).await;
    let ann = p.app.token(&agent("t1", "ann"));
    let call = serde_json::json!({"from": OURS, "to": THEIRS});
    let text = serde_json::json!({"from": OURS, "to": THEIRS, "body": "hi"});
    assert_eq!(p.app.post("/api/phone/calls", Some(&ann), call.clone()).await.0, 201);
    assert_eq!(p.app.post("/api/phone/sms", Some(&ann), text.clone()).await.0, 201);
    let r = p
        .app
        .http
        .post(p.app.url("/api/phone/sms"))
        .bearer_auth(&ann)
        .json(&text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(p.fake.seen_of("Messages.json").len(), 1, "nothing sent when refused");
    // Another member has their own allowance.
    let bob = p.app.token(&agent("t1", "bob"));
    assert_eq!(p.app.post("/api/phone/calls", Some(&bob), call).await.0, 201);
}

/// An outbound text written but not (yet) handed to Twilio, in a thread of `number`; the thread's id.
async fn unsent_text(store: &switchboard::store::Store, number: &str, id: &str, at: i64) -> String {
    use switchboard::store::{Conversation, SmsMessage};
    let thread = store
        .touch_conversation(&Conversation {
            id: "c1".into(),
            org_id: "t1".into(),
            phone_number_id: number.into(),
            our_number: OURS.into(),
            their_number: THEIRS.into(),
            last_message_at: at,
            created_at: at,
        })
        .await
        .unwrap();
    let text = SmsMessage {
        id: id.into(),
        conversation_id: thread.id.clone(),
        org_id: "t1".into(),
        direction: "outbound".into(),
        from_number: OURS.into(),
        to_number: THEIRS.into(),
        body: "unsent".into(),
        status: "accepted".into(),
        provider: "twilio".into(),
        external_id: None,
        segments: 1,
        price_micros: None,
        price_unit: None,
        user_id: Some("ann".into()),
        created_at: at,
        updated_at: at,
    };
    assert!(store.insert_message(&text).await.unwrap());
    thread.id
}

crate::on_both_backends!(
    concurrent_callbacks_leave_one_row_and_bill_once,
    a_placement_or_text_left_by_a_crash_is_ended_failed,
    a_text_status_before_the_send_answer_is_kept,
    calls_and_texts_are_rate_limited_per_member,
);
