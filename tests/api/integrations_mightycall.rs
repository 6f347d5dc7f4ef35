//! MightyCall (issue #12) against the fake: connecting with the org's key (sealed, refused keys attach nothing), the call list paged by offset, deduped and mapped, tokens refreshed or re-issued from the key, a disabled key marking needs-reconnect.

use std::collections::HashMap;

use serde_json::{Value, json};
use switchboard::config::IntegrationSettings;
use switchboard::providers::mightycall::MightyCallSettings;
use switchboard::providers::seal::Sealer;

use crate::fake_mightycall::{API_KEY, FakeMightyCall, McCall, USER_KEY};
use crate::helpers::*;
use crate::integrations_support::{KEY, now_ms, synced_from, token_as};

/// Calls per page the tests ask for (small, so a few calls make pages).
const PAGE: u32 = 3;

struct Mc {
    app: TestApp,
    fake: FakeMightyCall,
}

async fn mc_app(b: Backend) -> Mc {
    let fake = FakeMightyCall::start().await;
    let url = fake.url.clone();
    let app = spawn_with(b, |s| {
        s.integrations = IntegrationSettings {
            sealer: Some(Sealer::new(&KEY)),
            ringcentral: None,
            mightycall: Some(MightyCallSettings {
                api_url: url,
                page_size: PAGE,
            }),
            sync: switchboard::integrations::SyncSettings {
                tick: std::time::Duration::from_secs(3600),
                requests_per_minute: 6_000,
                max_retry_after: std::time::Duration::from_secs(5),
                ..Default::default()
            },
        };
    })
    .await;
    Mc { app, fake }
}

async fn connect(app: &TestApp, token: &str, api_key: &str, user_key: &str) -> (u16, Value) {
    app.post(
        "/api/integrations/mightycall/connect",
        Some(token),
        json!({"apiKey": api_key, "userKey": user_key}),
    )
    .await
}

async fn sync(app: &TestApp, token: &str) -> (u16, Value) {
    app.post("/api/integrations/mightycall/sync", Some(token), json!({}))
        .await
}

fn call(id: &str, minutes_ago: i64, direction: &'static str, status: &str) -> McCall {
    McCall {
        id: id.into(),
        start_ms: now_ms() - minutes_ago * 60_000,
        duration_ms: if status == "Connected" { 95_400 } else { 0 },
        direction,
        status: status.into(),
        customer: "+14155550111".into(),
        business: "(650) 555-0123".into(),
        extension: Some(if direction == "Incoming" { "101" } else { "102" }.into()),
    }
}

fn seven() -> Vec<McCall> {
    vec![
        call("M1", 10, "Incoming", "Connected"),
        call("M2", 20, "Incoming", "Missed"),
        call("M3", 30, "Outgoing", "Connected"),
        call("M4", 40, "Incoming", "VoiceMail"),
        call("M5", 50, "Outgoing", "Dropped"),
        call("M6", 60, "Incoming", "Connected"),
        call("M7", 70, "Outgoing", "Busy"),
    ]
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

async fn synced(app: &TestApp, token: &str) -> HashMap<String, Value> {
    synced_from(app, token, "mightycall").await
}

async fn connecting_with_a_key_seals_it_and_a_refused_key_attaches_nothing(b: Backend) {
    let Mc { app, fake } = mc_app(b).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    let member = token_as(&app, &agent("t1", "bo"), None);

    // Only an admin connects; the OAuth route says how MightyCall connects instead.
    let (status, body) = connect(&app, &member, API_KEY, USER_KEY).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = app.get("/api/integrations/mightycall/connect", Some(&admin)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("POST"), "{body}");
    let (status, body) = app
        .get("/api/integrations/mightycall/callback?code=c&state=s", None)
        .await;
    assert_eq!(status, 400, "{body}");

    // Bad input is named; a key MightyCall refuses is a 400 and stores nothing.
    for bad in [
        json!({"apiKey": "", "userKey": USER_KEY}),
        json!({"apiKey": API_KEY}),
        json!({"apiKey": API_KEY, "userKey": "x".repeat(300)}),
        json!({"apiKey": API_KEY, "userKey": USER_KEY, "extra": 1}),
    ] {
        let (status, body) = app
            .post("/api/integrations/mightycall/connect", Some(&admin), bad.clone())
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad} → {body}"
        );
    }
    let (status, body) = connect(&app, &admin, API_KEY, "not-the-user-key").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("invalid_client"),
        "{body}"
    );
    assert!(!body.to_string().contains("not-the-user-key"), "{body}");
    let (_, list) = app.get("/api/integrations", Some(&admin)).await;
    assert_eq!(list["integrations"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(fake.counts().refused, 1);

    let (status, view) = connect(&app, &admin, API_KEY, USER_KEY).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["provider"].as_str(), view["status"].as_str()),
        (Some("mightycall"), Some("active"))
    );
    let account = view["accountId"].as_str().unwrap();
    assert!(
        account.starts_with("key-") && !account.contains(&API_KEY[..8]),
        "{view}"
    );
    assert_eq!(fake.counts().key_grants, 1);

    // At rest the key and the tokens are sealed.
    let row = app.state.store.integration("t1", "mightycall").await.unwrap().unwrap();
    let sealed = row.credentials.clone().unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains(API_KEY) && !sealed.contains(USER_KEY));
    assert!(row.access_token.starts_with("v1.") && !row.access_token.contains("mc-access"));
    let opened = Sealer::new(&KEY).open(&sealed).unwrap();
    assert!(opened.contains(API_KEY) && opened.contains(USER_KEY));
    // Every member sees the status, never a key or a token.
    let (_, list) = app.get("/api/integrations", Some(&member)).await;
    assert_eq!(list["integrations"][0]["provider"], "mightycall");
    let text = list.to_string();
    assert!(
        !text.contains(API_KEY) && !text.contains("mc-access") && !text.contains("v1."),
        "{text}"
    );

    // Reconnecting with the same key is the same account.
    let (status, again) = connect(&app, &admin, API_KEY, USER_KEY).await;
    assert_eq!((status, again["accountId"].as_str()), (200, Some(account)));
}

async fn the_call_list_is_paged_by_offset_deduped_mapped_and_updated_later(b: Backend) {
    let Mc { app, fake } = mc_app(b).await;
    fake.omit_total(true);
    for c in seven() {
        fake.add(c);
    }
    // A call that comes in while the sync reads page one pushes every later call down one place.
    fake.arrives_mid_sync(call("M0", 1, "Incoming", "Connected"));
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &admin, API_KEY, USER_KEY).await.0, 200);
    for (ext, user) in [("101", "ann"), ("102", "bob")] {
        let path = format!("/api/integrations/mightycall/extensions/{ext}");
        let (status, _) = app.put(&path, Some(&admin), json!({"userId": user})).await;
        assert_eq!(status, 204);
    }

    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("done")), "{report}");
    // Pages at skip 0, 3, 6: 3 + 3 + 2 calls; M3 is on pages one and two (M0 arrived between them).
    assert_eq!(fake.pages_asked(), [(0, 3), (3, 3), (6, 3)]);
    assert_eq!(
        (n(&report, "pages"), n(&report, "records"), n(&report, "duplicates")),
        (3, 8, 1),
        "{report}"
    );
    assert_eq!((n(&report, "inserted"), n(&report, "updated")), (7, 0), "{report}");

    let calls = synced(&app, &admin).await;
    let mut ids: Vec<&String> = calls.keys().collect();
    ids.sort();
    assert_eq!(
        ids,
        ["M1", "M2", "M3", "M4", "M5", "M6", "M7"],
        "M0 waits for the next sync"
    );
    let m1 = &calls["M1"];
    assert_eq!(
        (m1["channel"].as_str(), m1["direction"].as_str()),
        (Some("pstn"), Some("inbound"))
    );
    assert_eq!(
        (m1["status"].as_str(), m1["duration"].as_i64()),
        (Some("COMPLETED"), Some(95)),
        "{m1}"
    );
    assert_eq!(m1["fromNumber"], "+14155550111");
    assert_eq!(
        m1["toNumber"], "+16505550123",
        "the business number, from national format to E.164"
    );
    assert_eq!(m1["toUserId"], "ann", "matched by extension 101");
    assert_eq!(calls["M2"]["status"], "MISSED");
    assert_eq!(calls["M4"]["status"], "MISSED");
    assert_eq!(calls["M5"]["status"], "CANCELLED");
    assert_eq!(calls["M7"]["status"], "BUSY");
    let m3 = &calls["M3"];
    assert_eq!(
        (
            m3["direction"].as_str(),
            m3["fromUserId"].as_str(),
            m3["toNumber"].as_str()
        ),
        (Some("outbound"), Some("bob"), Some("+14155550111")),
        "{m3}"
    );
    let raw: Value = serde_json::from_str(
        &app.state
            .store
            .provider_record("mightycall", "M4")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(raw["callStatus"], "VoiceMail", "the raw call is kept");

    // Later: M2 was called back and re-logged; M0 is found by the overlapping
    // window; M8 is logged late; the total (9) is given now.
    fake.omit_total(false);
    fake.add(call("M8", 80, "Outgoing", "Connected"));
    fake.update("M2", |c| {
        c.status = "Connected".into();
        c.duration_ms = 40_000;
    });
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("done")), "{report}");
    assert_eq!(
        (n(&report, "inserted"), n(&report, "updated"), n(&report, "unchanged")),
        (2, 1, 6),
        "{report}"
    );
    // Three full pages make the total: no fourth (empty) page is asked for.
    assert_eq!(&fake.pages_asked()[3..], [(0, 3), (3, 3), (6, 3)]);
    let calls = synced(&app, &admin).await;
    assert_eq!(
        (calls["M2"]["status"].as_str(), calls["M2"]["duration"].as_i64()),
        (Some("COMPLETED"), Some(40))
    );
    assert!(calls.contains_key("M0") && calls.contains_key("M8"));
}

async fn tokens_are_refreshed_or_reissued_and_a_disabled_key_needs_reconnect(b: Backend) {
    let Mc { app, fake } = mc_app(b).await;
    for c in seven() {
        fake.add(c);
    }
    // The first token serves one page, then answers 401.
    fake.tokens_serve(1);
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &admin, API_KEY, USER_KEY).await.0, 200);
    fake.tokens_serve(u32::MAX);
    fake.throttle_next(&[1]);
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("done")), "{report}");
    assert_eq!((n(&report, "inserted"), n(&report, "pages")), (7, 3), "{report}");
    assert_eq!((n(&report, "rateLimited"), n(&report, "refreshes")), (1, 1), "{report}");
    let c = fake.counts();
    assert_eq!((c.key_grants, c.refresh_grants, c.refused), (1, 1, 0), "{c:?}");

    // The refresh token is refused: a token is issued afresh from the org's key.
    fake.revoke_refresh_token();
    fake.expire_access_tokens();
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("done")), "{report}");
    let c = fake.counts();
    assert_eq!((c.key_grants, c.refresh_grants, c.refused), (2, 1, 1), "{c:?}");

    // The user key is turned off at MightyCall: only an admin's reconnect helps.
    fake.disable_user_key();
    fake.revoke_refresh_token();
    fake.expire_access_tokens();
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(
        (status, report["state"].as_str()),
        (200, Some("needs_reconnect")),
        "{report}"
    );
    let (_, list) = app.get("/api/integrations", Some(&admin)).await;
    let i = &list["integrations"][0];
    assert_eq!(
        (i["status"].as_str(), i["needsReconnect"].as_bool()),
        (Some("needs_reconnect"), Some(true))
    );
    assert!(i["lastError"].as_str().unwrap().contains("invalid_client"), "{i}");
    let (status, body) = sync(&app, &admin).await;
    assert_eq!(status, 409, "{body}");
}

crate::on_both_backends!(
    connecting_with_a_key_seals_it_and_a_refused_key_attaches_nothing,
    the_call_list_is_paged_by_offset_deduped_mapped_and_updated_later,
    tokens_are_refreshed_or_reissued_and_a_disabled_key_needs_reconnect,
);
