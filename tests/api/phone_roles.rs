//! Who sees what (platform, org admin, member, another org) across numbers, assignments, calls, texts, usage and invoices; texts threaded and billed once; invoices that add up.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::phone_support::*;

const N1: &str = "+14155550100";
const N2: &str = "+14155550101";
const N3: &str = "+14155550200";
const THEIRS: &str = "+14155552671";

fn len(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(usize::MAX, Vec::len)
}

struct World {
    p: Phone,
    n1: String,
    n3: String,
    call_id: String,
    platform: String,
    t1_admin: String,
    ann: String,
    dee: String,
    t2_admin: String,
}

/// t1 holds N1 (Ann's) and N2 (nobody's), t2 holds N3; a voicemail on N1, a text on N1 and one on N3.
async fn world(b: Backend) -> World {
    let p = phone_app(b).await;
    let n1 = p.add_number("t1", N1).await;
    p.add_number("t1", N2).await;
    let n3 = p.add_number("t2", N3).await;
    p.assign("t1", "ann", &[&n1]).await;
    p.assign("t2", "tom", &[&n3]).await;
    let (_, twiml) = p
        .hook(
            "/voice",
            &[
                ("CallSid", "CA00000000000000000000000000000001"),
                ("From", THEIRS),
                ("To", N1),
            ],
        )
        .await;
    assert!(twiml.contains("<Record"), "{twiml}");
    let call_id = p.only_call().await["id"].as_str().unwrap().to_owned();
    for (sid, to) in [
        ("SM00000000000000000000000000000001", N1),
        ("SM00000000000000000000000000000002", N3),
    ] {
        let text = [
            ("MessageSid", sid),
            ("From", THEIRS),
            ("To", to),
            ("Body", "Hello"),
            ("NumSegments", "1"),
        ];
        assert_eq!(p.hook("/sms", &text).await.0, 200);
    }
    World {
        platform: p.token_as(&agent("t9", "root"), Some("platform_admin")),
        t1_admin: p.token_as(&agent("t1", "boss"), Some("admin")),
        ann: p.app.token(&agent("t1", "ann")),
        dee: p.app.token(&agent("t1", "dee")),
        t2_admin: p.token_as(&agent("t2", "chief"), Some("owner")),
        p,
        n1,
        n3,
        call_id,
    }
}

async fn the_role_matrix_holds_in_every_listing(b: Backend) {
    let w = world(b).await;
    let app = &w.p.app;
    let service = w.p.service.clone();
    let status = |r: (u16, Value)| r.0;
    // Numbers.
    let numbers = "/api/orgs/t1/phone-numbers";
    for (who, want) in [
        (&service, 2),
        (&w.platform, 2),
        (&w.t1_admin, 2),
        (&w.ann, 1),
        (&w.dee, 0),
    ] {
        let (s, body) = app.get(numbers, Some(who)).await;
        assert_eq!((s, len(&body, "phoneNumbers")), (200, want), "{body}");
    }
    assert_eq!(
        status(app.get(numbers, Some(&w.t2_admin)).await),
        404,
        "another org is unknown"
    );
    let n1 = format!("/api/phone/numbers/{}", w.n1);
    assert_eq!(status(app.get(&n1, Some(&w.ann)).await), 200);
    assert_eq!(status(app.get(&n1, Some(&w.dee)).await), 404);
    assert_eq!(status(app.get(&n1, Some(&w.t2_admin)).await), 404);
    let add = json!({"number": "+14155550199"});
    for who in [&w.t1_admin, &w.ann] {
        assert_eq!(status(app.post(numbers, Some(who), add.clone()).await), 403);
    }
    let (s, body) = app.post(numbers, Some(&w.platform), json!({"number": "415 555"})).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (s, body) = app
        .post("/api/orgs/t2/phone-numbers", Some(&service), json!({"number": N1}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "one org per number: {body}"
    );
    // Assignments.
    let dee_assign = "/api/orgs/t1/users/dee/phone-assignments";
    let ids = json!({"phoneNumberIds": [w.n1]});
    assert_eq!(status(app.post(dee_assign, Some(&w.ann), ids.clone()).await), 403);
    assert_eq!(status(app.post(dee_assign, Some(&w.t2_admin), ids.clone()).await), 404);
    let foreign = json!({"phoneNumberIds": [w.n3]});
    assert_eq!(
        status(app.post(dee_assign, Some(&w.t1_admin), foreign).await),
        404,
        "t2's number"
    );
    let (s, body) = app
        .post(dee_assign, Some(&w.t1_admin), json!({"phoneNumberIds": []}))
        .await;
    assert_eq!((s, body["phoneNumberIds"].clone()), (200, json!([])), "{body}");
    let ann_assign = "/api/orgs/t1/users/ann/phone-assignments";
    let (s, body) = app.get(ann_assign, Some(&w.ann)).await;
    assert_eq!((s, body["phoneNumberIds"].clone()), (200, json!([w.n1])), "{body}");
    assert_eq!(status(app.get(ann_assign, Some(&w.dee)).await), 403);
    assert_eq!(status(app.get(ann_assign, Some(&w.t2_admin)).await), 404);
    let (_, mine) = app.get("/api/user/phone-assignments", Some(&w.ann)).await;
    assert_eq!(mine["assignments"][0]["e164"], N1, "{mine}");
    // Members (those who signed in): an admin manages their own org's only.
    let (s, body) = app.get("/api/orgs/t1/members", Some(&w.t1_admin)).await;
    assert_eq!(s, 200, "{body}");
    let ann_row = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == "ann")
        .cloned();
    assert_eq!(
        ann_row.map(|m| m["phoneNumberIds"].clone()),
        Some(json!([w.n1])),
        "{body}"
    );
    assert_eq!(status(app.get("/api/orgs/t1/members", Some(&w.ann)).await), 403);
    assert_eq!(status(app.get("/api/orgs/t1/members", Some(&w.t2_admin)).await), 404);
    // Calls.
    for (who, want) in [
        (&service, 1),
        (&w.t1_admin, 1),
        (&w.ann, 1),
        (&w.dee, 0),
        (&w.t2_admin, 0),
    ] {
        let (s, body) = app.get("/api/phone/calls", Some(who)).await;
        assert_eq!((s, len(&body, "calls")), (200, want), "{body}");
    }
    let call = format!("/api/phone/calls/{}", w.call_id);
    assert_eq!(status(app.get(&call, Some(&w.ann)).await), 200);
    for who in [&w.dee, &w.t2_admin] {
        let (s, body) = app.get(&call, Some(who)).await;
        assert_eq!((s, body["error"]["code"].as_str()), (404, Some("call_not_found")));
    }
    // Texts.
    let threads = "/api/phone/sms/conversations";
    for (who, want) in [
        (&service, 2),
        (&w.t1_admin, 1),
        (&w.ann, 1),
        (&w.dee, 0),
        (&w.t2_admin, 1),
    ] {
        let (s, body) = app.get(threads, Some(who)).await;
        assert_eq!((s, len(&body, "conversations")), (200, want), "{body}");
    }
    let (_, body) = app.get(threads, Some(&w.ann)).await;
    let thread = format!(
        "{threads}/{}/messages",
        body["conversations"][0]["id"].as_str().unwrap()
    );
    let (s, msgs) = app.get(&thread, Some(&w.ann)).await;
    assert_eq!(
        (s, msgs["messages"][0]["body"].as_str()),
        (200, Some("Hello")),
        "{msgs}"
    );
    for who in [&w.dee, &w.t2_admin] {
        assert_eq!(status(app.get(&thread, Some(who)).await), 404);
    }
    // Usage.
    let period = around_now();
    let (s, body) = app
        .get(
            "/api/phone/usage/summary?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            Some(&w.t1_admin),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "at most a year: {body}"
    );
    assert_eq!(
        status(
            app.get(&format!("/api/phone/usage/summary?{period}"), Some(&w.ann))
                .await
        ),
        403
    );
    let (s, body) = app
        .get(&format!("/api/phone/usage/summary?{period}"), Some(&w.t1_admin))
        .await;
    assert_eq!((s, body["orgId"].as_str()), (200, Some("t1")), "{body}");
    let other = format!("/api/phone/usage/summary?{period}&orgId=t2");
    assert_eq!(status(app.get(&other, Some(&w.t1_admin)).await), 404);
    assert_eq!(
        status(
            app.get(&format!("/api/phone/usage/summary?{period}"), Some(&service))
                .await
        ),
        400
    );
    assert_eq!(status(app.get(&other, Some(&service)).await), 200);
    let (s, body) = app
        .get("/api/phone/usage/summary?from=yesterday&to=now", Some(&w.t1_admin))
        .await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("invalid_request")));
    // Invoices.
    let plan = json!({"currency": "USD", "monthlyFeeMinor": 2000, "includedMinutes": 0, "perMinuteMicros": 10000,
                      "perSmsSegmentMicros": 7900, "perNumberMonthMicros": 1000000});
    assert_eq!(
        status(app.put("/api/admin/plans/t1", Some(&w.t1_admin), plan.clone()).await),
        403
    );
    assert_eq!(status(app.put("/api/admin/plans/t1", Some(&service), plan).await), 200);
    let new = json!({"orgId": "t1", "periodStart": "2020-01-01T00:00:00Z", "periodEnd": "2020-12-01T00:00:00Z"});
    assert_eq!(
        status(app.post("/api/admin/invoices", Some(&w.t1_admin), new.clone()).await),
        403
    );
    let (s, inv) = app.post("/api/admin/invoices", Some(&service), new).await;
    assert_eq!(s, 201, "{inv}");
    let one = format!("/api/admin/invoices/{}", inv["id"].as_str().unwrap());
    assert_eq!(status(app.get(&one, Some(&w.t1_admin)).await), 200);
    for who in [&w.t2_admin, &w.ann] {
        assert_eq!(status(app.get(&one, Some(who)).await), 404);
    }
    let (_, list) = app.get("/api/admin/invoices?orgId=t1", Some(&w.t2_admin)).await;
    assert_eq!(list["error"]["code"], "not_found");
    let (_, list) = app.get("/api/admin/invoices", Some(&w.t1_admin)).await;
    assert_eq!(len(&list, "invoices"), 1, "{list}");
}

async fn texts_thread_notify_and_bill_once(b: Backend) {
    let p = phone_app(b).await;
    let n1 = p.add_number("t1", N1).await;
    p.assign("t1", "ann", &[&n1]).await;
    let mut ann_ws = p.app.connect(&agent("t1", "ann")).await;
    let text = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", THEIRS),
        ("To", N1),
        ("Body", "Hi 👋"),
    ];
    let (status, twiml) = p.hook("/sms", &text).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Response"), "{twiml}");
    assert_eq!(p.hook("/sms", &text).await.0, 200, "a re-delivery is a no-op");
    let frame = ann_ws.next_of("sms.received").await;
    assert_eq!(frame["message"]["body"], "Hi 👋");
    assert_eq!(frame["message"]["direction"], "inbound");
    let ann = p.app.token(&agent("t1", "ann"));
    let (status, sent) = p
        .app
        .post(
            "/api/phone/sms",
            Some(&ann),
            json!({"from": N1, "to": THEIRS, "body": "Happy to help"}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(
        sent["conversationId"], frame["conversationId"],
        "one thread per (our number, their number)"
    );
    let form = &p.fake.seen_of("Messages.json")[0];
    assert!(form.contains(&("Body".into(), "Happy to help".into())), "{form:?}");
    let callback = form
        .iter()
        .find(|(k, _)| k == "StatusCallback")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(
        callback,
        format!("{PUBLIC}{HOOKS}/sms-status?messageId={}", sent["id"].as_str().unwrap())
    );
    let sid = sent["externalId"].as_str().unwrap().to_owned();
    for status in ["sent", "delivered", "delivered", "sent"] {
        let cb = [
            ("MessageSid", sid.as_str()),
            ("MessageStatus", status),
            ("Price", "-0.00790"),
            ("PriceUnit", "USD"),
        ];
        assert_eq!(p.hook("/sms-status", &cb).await.0, 204);
    }
    let thread = format!(
        "/api/phone/sms/conversations/{}/messages",
        frame["conversationId"].as_str().unwrap()
    );
    let (_, msgs) = p.app.get(&thread, Some(&ann)).await;
    assert_eq!(len(&msgs, "messages"), 2, "{msgs}");
    assert_eq!(msgs["messages"][0]["status"], "delivered", "never backwards: {msgs}");
    let (_, page) = p.app.get(&format!("{thread}?limit=1"), Some(&ann)).await;
    assert_eq!(len(&page, "messages"), 1);
    let (_, rest) = p
        .app
        .get(
            &format!("{thread}?limit=1&before={}", page["nextCursor"].as_str().unwrap()),
            Some(&ann),
        )
        .await;
    assert_eq!(rest["messages"][0]["direction"], "inbound", "{rest}");
    assert_eq!(p.usage_of("t1", "sms_segments_outbound").await.len(), 1);
    assert_eq!(p.usage_of("t1", "sms_segments_inbound").await.len(), 1);
    let (status, body) = p
        .app
        .post(
            "/api/phone/sms",
            Some(&ann),
            json!({"from": N1, "to": THEIRS, "body": ""}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")));
    let long = "x".repeat(1601);
    let (status, _) = p
        .app
        .post(
            "/api/phone/sms",
            Some(&ann),
            json!({"from": N1, "to": THEIRS, "body": long}),
        )
        .await;
    assert_eq!(status, 400);
}

async fn an_invoice_adds_up_and_redelivered_callbacks_never_double_bill(b: Backend) {
    let p = phone_app(b).await;
    let n1 = p.add_number("t1", N1).await;
    p.assign("t1", "ann", &[&n1]).await;
    // Two voicemail calls (30 s priced by Twilio, 61 s not), each final callback delivered twice.
    for (sid, secs, price) in [
        ("CA00000000000000000000000000000001", "30", Some("-0.00850")),
        ("CA00000000000000000000000000000002", "61", None),
    ] {
        p.hook("/voice", &[("CallSid", sid), ("From", THEIRS), ("To", N1)])
            .await;
        let mut done = vec![("CallSid", sid), ("CallStatus", "completed"), ("CallDuration", secs)];
        if let Some(pr) = price {
            done.push(("Price", pr));
        }
        for _ in 0..2 {
            assert_eq!(p.hook("/status", &done).await.0, 204);
        }
    }
    let text = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", THEIRS),
        ("To", N1),
        ("Body", "x"),
    ];
    p.hook("/sms", &text).await;
    p.hook("/sms", &text).await;
    let plan = json!({"currency": "USD", "monthlyFeeMinor": 2500, "includedMinutes": 1, "perMinuteMicros": 13000,
                      "perSmsSegmentMicros": 7900, "perNumberMonthMicros": 1150000, "markupBps": 2000});
    assert_eq!(p.app.put("/api/admin/plans/t1", Some(&p.service), plan).await.0, 200);
    let period = json!({"orgId": "t1", "periodStart": "2020-01-01T00:00:00Z", "periodEnd": "2100-01-01T00:00:00Z"});
    let (status, body) = p
        .app
        .post("/api/admin/invoices", Some(&p.service), period.clone())
        .await;
    assert_eq!(status, 400, "at most a year: {body}");
    let now = time::OffsetDateTime::now_utc();
    let start = now.replace_day(1).unwrap().replace_time(time::Time::MIDNIGHT);
    let fmt = &time::format_description::well_known::Rfc3339;
    let end = start + time::Duration::days(40);
    let period =
        json!({"orgId": "t1", "periodStart": start.format(fmt).unwrap(), "periodEnd": end.format(fmt).unwrap()});
    let (status, inv) = p
        .app
        .post("/api/admin/invoices", Some(&p.service), period.clone())
        .await;
    assert_eq!(status, 201, "{inv}");
    let lines = inv["lines"].as_array().unwrap();
    let sum: i64 = lines.iter().map(|l| l["amountMinor"].as_i64().unwrap()).sum();
    assert_eq!(inv["totalMinor"].as_i64(), Some(sum), "{inv}");
    let line = |item: &str| lines.iter().find(|l| l["item"] == item).cloned().unwrap_or(Value::Null);
    // 1 + 2 started minutes, one included; one call unpriced, so the plan's rate for all: 2 × 1.3 ¢ = 2.6 → 3 ¢.
    assert_eq!(
        (
            line("call_minutes")["quantity"].as_i64(),
            line("call_minutes")["amountMinor"].as_i64()
        ),
        (Some(2), Some(3))
    );
    assert_eq!(line("sms_segments")["quantity"], 1);
    assert_eq!(line("monthly_fee")["amountMinor"], 2500);
    // The number was held in this month (and the next, if the 40 days reach it).
    let months = line("phone_numbers")["quantity"].as_i64().unwrap();
    assert!((1..=2).contains(&months), "{inv}");
    assert_eq!(line("phone_numbers")["amountMinor"].as_i64(), Some(months * 115));
    // The usage behind it matches the lines.
    let usage = p.usage_of("t1", "call_minutes_inbound").await;
    let minutes: i64 = usage.iter().map(|r| r["quantity"].as_i64().unwrap()).sum();
    assert_eq!(minutes, 3);
    // Rebuilt after more re-deliveries: the same total.
    p.hook("/sms", &text).await;
    let (_, again) = p.app.post("/api/admin/invoices", Some(&p.service), period).await;
    assert_eq!(again["totalMinor"], inv["totalMinor"]);
    assert_eq!(again["lines"], inv["lines"]);
}

crate::on_both_backends!(
    the_role_matrix_holds_in_every_listing,
    texts_thread_notify_and_bill_once,
    an_invoice_adds_up_and_redelivered_callbacks_never_double_bill,
);
