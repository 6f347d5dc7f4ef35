//! Daily call metrics (issue #12): every channel (in-app over the socket, RingCentral synced), the org's time zone and its edges, late records recomputed, roles.

use serde_json::{Value, json};

use crate::fake_ringcentral::Rec;
use crate::helpers::*;
use crate::integrations_support::*;

const NY: &str = "America/New_York";

/// Unix ms of local `date`T`time` in `zone`.
fn local_ms(date: &str, time: &str, zone: &str) -> i64 {
    let dt: jiff::civil::DateTime = format!("{date}T{time}").parse().unwrap();
    dt.to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

/// The local date `days_ago` days before today in `zone`.
fn local_day(days_ago: i64, zone: &str) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .date();
    today.checked_sub(jiff::Span::new().days(days_ago)).unwrap().to_string()
}

fn at(id: &str, start_ms: i64, direction: &'static str, result: &str, duration: i64) -> Rec {
    let mut r = rec(id, 0, direction, result);
    r.start_ms = start_ms;
    r.modified_ms = start_ms + 60_000;
    r.duration = duration;
    r
}

async fn metrics(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/metrics/calls/daily?{query}"), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `(day, total, inbound, outbound, answered, missed, talk)` of `member`'s rows (None: the org's).
fn rows(body: &Value, member: Option<&str>) -> Vec<(String, i64, i64, i64, i64, i64, i64)> {
    let list = match member {
        Some(m) => body["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["memberId"] == m)
            .cloned()
            .collect::<Vec<_>>(),
        None => body["org"].as_array().unwrap().clone(),
    };
    list.iter()
        .map(|r| {
            let n = |k: &str| r[k].as_i64().unwrap();
            (
                r["day"].as_str().unwrap().to_owned(),
                n("total"),
                n("inbound"),
                n("outbound"),
                n("answered"),
                n("missed"),
                n("talkSeconds"),
            )
        })
        .collect()
}

async fn every_channel_counts_on_the_orgs_local_day(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    let (status, body) = app
        .put("/api/orgs/t1/settings", Some(&admin), json!({"timeZone": NY}))
        .await;
    assert_eq!((status, body["timeZone"].as_str()), (200, Some(NY)), "{body}");
    let (d1, d2) = (local_day(3, NY), local_day(2, NY));
    // Ann's extension takes the synced inbound calls; 23:30 and 00:30 New York time straddle local midnight.
    fake.add(at("late", local_ms(&d1, "23:30", NY), "Inbound", "Accepted", 120));
    fake.add(at("early", local_ms(&d2, "00:30", NY), "Inbound", "Missed", 0));
    fake.add(at("mid", local_ms(&d2, "12:00", NY), "Inbound", "Voicemail", 0));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    app.put(
        "/api/integrations/ringcentral/extensions/101",
        Some(&admin),
        json!({"userId": "ann"}),
    )
    .await;
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["inserted"].as_u64()), (200, Some(3)), "{report}");

    // An in-app call today, over the socket: Carol calls Ann, Ann answers, Carol hangs up.
    let today = local_day(0, NY);
    let (mut cw, mut aw) = (
        app.connect(&customer("t1", "carol")).await,
        app.connect_token(&token_as(&app, &agent("t1", "ann"), None))
            .await
            .unwrap(),
    );
    let ack = cw.request(json!({"type": "call.start", "calleeId": "ann"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    cw.next_of("call.accepted").await;
    cw.request(json!({"type": "call.end", "callId": id})).await;
    cw.next_of("call.ended").await;

    let body = metrics(&app, &admin, &format!("from={d1}&to={today}")).await;
    assert_eq!(body["timeZone"], NY);
    assert_eq!(body["today"], today.as_str());
    let ann = rows(&body, Some("ann"));
    assert_eq!(ann[0], (d1.clone(), 1, 1, 0, 1, 0, 120), "{body}");
    // `early` rang out (missed); the voicemail is missed too.
    assert_eq!(ann[1], (d2.clone(), 2, 2, 0, 0, 2, 0), "{body}");
    let last = ann.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1, last.2, last.4),
        (today.as_str(), 1, 1, 1),
        "{body}"
    );
    let org = rows(&body, None);
    assert_eq!(
        org.iter().map(|r| r.1).sum::<i64>(),
        4,
        "each call once for the org: {body}"
    );

    // In UTC, 23:30 New York time is already the next day: both synced inbound calls of d2's night move.
    let (status, _) = app
        .put("/api/orgs/t1/settings", Some(&admin), json!({"timeZone": "UTC"}))
        .await;
    assert_eq!(status, 200);
    let body = metrics(&app, &admin, &format!("from={d1}&to={today}")).await;
    let ann = rows(&body, Some("ann"));
    assert_eq!((ann[0].0.as_str(), ann[0].1), (d2.as_str(), 3), "{body}");

    // A member reads only their own days, without the org's totals.
    let ann_token = token_as(&app, &agent("t1", "ann"), None);
    let own = metrics(&app, &ann_token, &format!("from={d1}&to={today}")).await;
    assert!(own["org"].is_null());
    assert!(
        own["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["memberId"] == "ann")
    );
    let (status, body) = app.get("/api/metrics/calls/daily?memberId=bob", Some(&ann_token)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    // Another org's admin cannot read t1; bad input is 400.
    let eve = token_as(&app, &agent("t2", "eve"), Some("admin"));
    let (status, _) = app.get("/api/metrics/calls/daily?orgId=t1", Some(&eve)).await;
    assert_eq!(status, 404);
    for q in [
        "from=2026-13-01",
        "from=2026-12-05&to=2026-12-01",
        "from=2020-01-01&to=2026-12-01",
    ] {
        let (status, body) = app.get(&format!("/api/metrics/calls/daily?{q}"), Some(&admin)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{q}: {body}"
        );
    }
    let (status, body) = app
        .put(
            "/api/orgs/t1/settings",
            Some(&admin),
            json!({"timeZone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .put("/api/orgs/t1/settings", Some(&ann_token), json!({"timeZone": NY}))
        .await;
    assert_eq!(status, 403);
}

async fn a_day_recomputed_after_late_records_equals_a_fresh_computation(b: Backend) {
    // Windows reach three days back, so yesterday's late records are in the next sync's.
    let Rc { app, fake } = rc_app_with(b, |s| {
        s.integrations.sync.overlap = std::time::Duration::from_secs(3 * 24 * 3600);
    })
    .await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    app.put("/api/orgs/t1/settings", Some(&admin), json!({"timeZone": NY}))
        .await;
    let day = local_day(1, NY);
    fake.add(at("a", local_ms(&day, "09:00", NY), "Inbound", "Accepted", 60));
    fake.add(at("b", local_ms(&day, "10:00", NY), "Inbound", "Missed", 0));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    app.put(
        "/api/integrations/ringcentral/extensions/101",
        Some(&admin),
        json!({"userId": "ann"}),
    )
    .await;
    sync(&app, &admin).await;
    let query = format!("from={day}&to={day}");
    let first = metrics(&app, &admin, &query).await;
    assert_eq!(rows(&first, Some("ann")), [(day.clone(), 2, 2, 0, 1, 1, 60)]);

    // Later: b was returned and logged again as answered, and c arrives late on the same day.
    fake.update("b", |r| {
        r.result = "Accepted".into();
        r.duration = 30;
    });
    fake.add(at("c", local_ms(&day, "11:00", NY), "Outbound", "Accepted", 15));
    sync(&app, &admin).await;
    // A re-sync that changes nothing counts nothing twice.
    sync(&app, &admin).await;
    let after = metrics(&app, &admin, &query).await;
    let expected_org = [(day.clone(), 3, 2, 1, 3, 0, 105)];
    assert_eq!(rows(&after, None), expected_org, "{after}");
    assert_eq!(rows(&after, Some("ann")), [(day.clone(), 2, 2, 0, 2, 0, 90)], "{after}");

    // A fresh computation (every row dropped, every call touched again) gives the same.
    app.state.store.set_org_time_zone("t1", NY, now_ms()).await.unwrap();
    let fresh = metrics(&app, &admin, &query).await;
    assert_eq!(fresh["members"], after["members"]);
    assert_eq!(fresh["org"], after["org"]);
}

crate::on_both_backends!(
    every_channel_counts_on_the_orgs_local_day,
    a_day_recomputed_after_late_records_equals_a_fresh_computation,
);
