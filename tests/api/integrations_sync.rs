//! RingCentral call-log sync (issue #12) against the fake: paging without totals, duplicates and updated records, 429 and expired tokens mid-sync, a refused refresh, two nodes at once.

use std::collections::HashMap;

use serde_json::{Value, json};
use switchboard::store::PhoneNumber;

use crate::fake_ringcentral::Rec;
use crate::helpers::*;
use crate::integrations_support::*;

/// The org's number `+16505550123`, assigned to bob.
async fn give_bob_a_number(app: &TestApp) {
    let store = &app.state.store;
    store
        .insert_number(&PhoneNumber {
            id: "pn-bob".into(),
            org_id: "t1".into(),
            e164: "+16505550123".into(),
            provider: "ringcentral".into(),
            provider_sid: None,
            label: None,
            voice: true,
            sms: false,
            created_at: now_ms(),
            released_at: None,
        })
        .await
        .unwrap();
    store
        .set_assignments("t1", "bob", &["pn-bob".into()], now_ms())
        .await
        .unwrap();
}

fn seven() -> Vec<Rec> {
    vec![
        rec("R1", 10, "Inbound", "Accepted"),
        rec("R2", 20, "Inbound", "Missed"),
        rec("R3", 30, "Outbound", "Accepted"),
        rec("R4", 40, "Inbound", "Voicemail"),
        rec("R5", 50, "Outbound", "No Answer"),
        rec("R6", 60, "Inbound", "Accepted"),
        rec("R7", 70, "Outbound", "Busy"),
    ]
}

/// The synced RingCentral calls `token` may see, by external id.
async fn synced(app: &TestApp, token: &str) -> HashMap<String, Value> {
    synced_from(app, token, "ringcentral").await
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

async fn pages_without_totals_are_followed_deduped_and_a_later_sync_updates(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    fake.omit_totals(true);
    fake.repeat_last_record(true);
    for r in seven() {
        fake.add(r);
    }
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    give_bob_a_number(&app).await;
    let (status, _) = app
        .put(
            "/api/integrations/ringcentral/extensions/101",
            Some(&admin),
            json!({"userId": "ann"}),
        )
        .await;
    assert_eq!(status, 204);

    let (status, report) = sync(&app, &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["state"], "done", "{report}");
    // 7 records, 3 a page, each page after the first repeating the last one: 3 pages, 9 read, 2 twice.
    assert_eq!(
        (n(&report, "pages"), n(&report, "records"), n(&report, "duplicates")),
        (3, 9, 2),
        "{report}"
    );
    assert_eq!((n(&report, "inserted"), n(&report, "updated")), (7, 0), "{report}");
    assert_eq!(n(&report, "requests"), 3);
    assert_eq!(fake.counts().log_requests, 3);

    let calls = synced(&app, &admin).await;
    assert_eq!(calls.len(), 7, "{calls:?}");
    let r1 = &calls["R1"];
    assert_eq!(r1["channel"], "pstn");
    assert_eq!(r1["direction"], "inbound");
    assert_eq!(
        (r1["status"].as_str(), r1["duration"].as_i64()),
        (Some("COMPLETED"), Some(95))
    );
    assert_eq!(r1["fromNumber"], "+16505550100");
    assert_eq!(
        r1["toNumber"], "+16505550199",
        "RingCentral's number without + is stored in E.164"
    );
    assert_eq!(r1["toUserId"], "ann", "matched by the extension mapped to ann");
    assert_eq!(calls["R2"]["status"], "MISSED");
    assert_eq!(calls["R7"]["status"], "BUSY");
    let r3 = &calls["R3"];
    assert_eq!(
        (r3["direction"].as_str(), r3["fromUserId"].as_str()),
        (Some("outbound"), Some("bob")),
        "{r3}"
    );
    // The history is in call order: R1 (10 minutes ago) before R7 (70).
    let (_, page) = app.get("/api/phone/calls?limit=100", Some(&admin)).await;
    let order: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["externalId"].as_str())
        .collect();
    assert_eq!(order, ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]);
    // Members see their own: ann the inbound on extension 101, bob the outbound on his number.
    let ann = synced(&app, &token_as(&app, &agent("t1", "ann"), None)).await;
    let mut ann_ids: Vec<&String> = ann.keys().collect();
    ann_ids.sort();
    assert_eq!(ann_ids, ["R1", "R2", "R4", "R6"]);
    assert_eq!(synced(&app, &token_as(&app, &agent("t1", "bob"), None)).await.len(), 3);
    // The raw record is kept.
    let raw: Value = serde_json::from_str(
        &app.state
            .store
            .provider_record("ringcentral", "R4")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(raw["result"], "Voicemail");

    // Later: R2 was called back and re-logged; R8, which began before the
    // last sync's end, is logged only now. The overlapping window finds both.
    fake.update("R2", |r| {
        r.result = "Accepted".into();
        r.duration = 40;
    });
    fake.add(rec("R8", 5, "Inbound", "Accepted"));
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("done")), "{report}");
    assert_eq!(
        (n(&report, "inserted"), n(&report, "updated"), n(&report, "unchanged")),
        (1, 1, 6),
        "{report}"
    );
    let calls = synced(&app, &admin).await;
    assert_eq!(calls.len(), 8);
    assert_eq!(
        (calls["R2"]["status"].as_str(), calls["R2"]["duration"].as_i64()),
        (Some("COMPLETED"), Some(40))
    );
    // The integration shows what the last sync did.
    let (_, list) = app.get("/api/integrations", Some(&admin)).await;
    let i = &list["integrations"][0];
    assert_eq!(i["progress"]["inserted"], 1);
    assert!(i["lastSyncAt"].is_i64() && i["lastError"].is_null(), "{i}");
    assert!(i["syncedTo"].as_i64().unwrap() > now_ms() - 60_000);
}

async fn a_429_and_an_access_token_expiring_mid_sync_are_ridden_out(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    for r in seven() {
        fake.add(r);
    }
    // The first token serves one page, then answers 401 (expired).
    fake.tokens_serve(1);
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    fake.tokens_serve(u32::MAX);
    fake.throttle_next(&[1]);
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["state"], "done", "{report}");
    assert_eq!((n(&report, "inserted"), n(&report, "pages")), (7, 3));
    assert_eq!((n(&report, "rateLimited"), n(&report, "refreshes")), (1, 1), "{report}");
    // 429, page 1, page 2 refused (expired), the refresh, page 2, page 3.
    assert_eq!(n(&report, "requests"), 6, "{report}");
    let c = fake.counts();
    assert_eq!((c.throttled, c.refreshes, c.refused_refreshes), (1, 1, 0));
    let bearers = fake.bearers_seen();
    assert!(
        bearers[0].ends_with("-access-1") && bearers.last().unwrap().ends_with("-access-2"),
        "{bearers:?}"
    );
    // The new pair is what is stored (sealed).
    let row = app.state.store.integration("t1", "ringcentral").await.unwrap().unwrap();
    let sealer = switchboard::providers::seal::Sealer::new(&KEY);
    assert!(
        sealer
            .open(row.refresh_token.as_deref().unwrap())
            .unwrap()
            .ends_with("-refresh-2")
    );

    // A Retry-After beyond what one sync waits ends the sync with the error shown; the cursor stays.
    let before = row.synced_to;
    fake.throttle_next(&[3600]);
    let (status, report) = sync(&app, &admin).await;
    assert_eq!((status, report["state"].as_str()), (200, Some("failed")), "{report}");
    assert!(report["error"].as_str().unwrap().contains("rate limited"), "{report}");
    let row = app.state.store.integration("t1", "ringcentral").await.unwrap().unwrap();
    assert_eq!(row.synced_to, before);
    assert!(row.last_error.unwrap().contains("rate limited"));
    assert_eq!(row.status, "active", "a rate limit is not a reconnect");
}

async fn a_refused_refresh_marks_needs_reconnect_and_tells_the_admin(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    fake.add(rec("R1", 10, "Inbound", "Accepted"));
    let ada = agent("t1", "ada");
    let admin = token_as(&app, &ada, Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    let mut ws = app.connect_token(&admin).await.expect("socket");
    // Another admin of the org is told too; a member and another org's admin are not.
    let mut bea = app
        .connect_token(&token_as(&app, &agent("t1", "bea"), Some("owner")))
        .await
        .expect("socket");
    let mut member_ws = app
        .connect_token(&token_as(&app, &agent("t1", "bo"), None))
        .await
        .expect("socket");
    let mut eve = app
        .connect_token(&token_as(&app, &agent("t2", "eve"), Some("admin")))
        .await
        .expect("socket");
    let rx = crate::webhook_receiver::Receiver::start().await;
    let (_, secret) = crate::webhooks_out::endpoint(&app, &admin, &rx.url, &["integration.needs_reconnect"]).await;
    fake.expire_access_tokens();
    fake.revoke_refresh_token();
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(
        (status, report["state"].as_str()),
        (200, Some("needs_reconnect")),
        "{report}"
    );
    assert_eq!(fake.counts().refused_refreshes, 1);
    let hook = crate::webhooks_out::checked(&rx.wait_for(1).await[0], &secret);
    assert_eq!(hook["type"], "integration.needs_reconnect");
    assert_eq!(
        (hook["data"]["provider"].as_str(), hook["data"]["accountId"].as_str()),
        (Some("ringcentral"), Some(account()))
    );
    let frame = ws.next_of("integration.status").await;
    assert_eq!(
        (frame["provider"].as_str(), frame["status"].as_str()),
        (Some("ringcentral"), Some("needs_reconnect"))
    );
    assert_eq!(bea.next_of("integration.status").await, frame);
    // The frame went to every socket in one publish, before the admins read
    // it: a ping answered now comes after it, had it been sent.
    for other in [&mut member_ws, &mut eve] {
        assert_eq!(other.request(json!({"type": "ping"})).await["type"], "pong");
        assert!(
            !other.has_queued("integration.status"),
            "only the org's admins are told"
        );
    }
    let member = token_as(&app, &agent("t1", "bo"), None);
    let (_, list) = app.get("/api/integrations", Some(&member)).await;
    let i = &list["integrations"][0];
    assert_eq!(
        (i["status"].as_str(), i["needsReconnect"].as_bool()),
        (Some("needs_reconnect"), Some(true))
    );
    assert!(i["lastError"].as_str().unwrap().contains("refresh refused"), "{i}");
    // Not silently retried: a sync is refused until the admin reconnects.
    let (status, body) = sync(&app, &admin).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fake.counts().refused_refreshes, 1);
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    let (status, report) = sync(&app, &admin).await;
    assert_eq!(
        (status, report["state"].as_str(), n(&report, "inserted")),
        (200, Some("done"), 1),
        "{report}"
    );
}

async fn two_nodes_syncing_at_once_never_refresh_twice(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    for r in seven() {
        fake.add(r);
    }
    let other = spawn_beside(&app, |s| settings_for(&fake, s)).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    for round in 1..=4u32 {
        // Every round starts with an expired access token: whichever node syncs must refresh.
        fake.expire_access_tokens();
        let (a, b) = tokio::join!(sync(&app, &admin), sync(&other, &admin));
        let statuses = [a.0, b.0];
        assert!(statuses.contains(&200), "{a:?} {b:?}");
        for (status, body) in [&a, &b] {
            match status {
                200 => assert_eq!(body["state"], "done", "{body}"),
                409 => assert_eq!(body["error"]["code"], "conflict"),
                s => panic!("unexpected {s}: {body}"),
            }
        }
        let c = fake.counts();
        assert_eq!(c.refused_refreshes, 0, "round {round}: a refresh token was spent twice");
        assert_eq!(c.refreshes, round, "round {round}: one refresh per round");
    }
    let calls = synced(&app, &admin).await;
    assert_eq!(calls.len(), 7, "every record once, whichever node wrote it");
}

async fn the_scheduler_syncs_each_integration_on_its_interval(b: Backend) {
    let fake = crate::fake_ringcentral::FakeRingCentral::start().await;
    let app = spawn_with(b, |s| {
        settings_for(&fake, s);
        s.integrations.sync.tick = std::time::Duration::from_millis(100);
        s.integrations.sync.interval = std::time::Duration::from_secs(1);
    })
    .await;
    fake.add(rec("R1", 10, "Inbound", "Accepted"));
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    // Polled with a deadline: the scheduler's runs are what is waited for.
    let mut first = None;
    for _ in 0..100 {
        let row = app.state.store.integration("t1", "ringcentral").await.unwrap().unwrap();
        if row.last_sync_at.is_some() {
            first = row.last_sync_at;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = first.expect("no scheduled sync within 5 s");
    assert_eq!(synced(&app, &admin).await.len(), 1);
    fake.add(rec("R2", 3, "Outbound", "Accepted"));
    // The next one comes after the interval, not before.
    let mut second = None;
    for _ in 0..100 {
        let row = app.state.store.integration("t1", "ringcentral").await.unwrap().unwrap();
        if row.last_sync_at != Some(first) {
            second = row.last_sync_at;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = second.expect("no second scheduled sync within 5 s");
    assert!(second - first >= 1_000, "synced again after {} ms", second - first);
    assert_eq!(synced(&app, &admin).await.len(), 2);
}

/// 2,000 calls over 20 pages at 100 a page, paced at 600 requests a minute: every record once, and the figures of the run (printed for docs/integrations.md).
async fn a_large_log_is_synced_completely_within_the_budget(b: Backend) {
    let Rc { app, fake } = rc_app_with(b, |s| {
        s.integrations.sync.requests_per_minute = 600;
        if let Some(rc) = s.integrations.ringcentral.as_mut() {
            rc.page_size = 100;
        }
    })
    .await;
    fake.omit_totals(true);
    for i in 0..2_000 {
        let (dir, result) = if i % 3 == 0 {
            ("Outbound", "Accepted")
        } else {
            ("Inbound", "Missed")
        };
        fake.add(rec(&format!("L{i:04}"), 1 + i / 10, dir, result));
    }
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(&app, &fake, &admin).await.0, 200);
    let (status, r) = sync(&app, &admin).await;
    assert_eq!((status, r["state"].as_str()), (200, Some("done")), "{r}");
    assert_eq!(
        (n(&r, "pages"), n(&r, "records"), n(&r, "inserted")),
        (20, 2_000, 2_000),
        "{r}"
    );
    assert_eq!(n(&r, "requests"), 20);
    // Paced: 20 requests at one per 100 ms take at least 1.9 s, and never beat the budget.
    assert!(n(&r, "elapsedMs") >= 1_900, "{r}");
    assert!(r["requestsPerMinute"].as_f64().unwrap() <= 600.0, "{r}");
    let rows = app
        .state
        .store
        .phone_calls(&switchboard::model::Scope::Platform, "~", 200)
        .await
        .unwrap();
    assert_eq!(rows.len(), 200);
    println!(
        "sync figures ({b:?}): {} records, {} pages, {} requests, {} ms, {} requests/min",
        n(&r, "records"),
        n(&r, "pages"),
        n(&r, "requests"),
        n(&r, "elapsedMs"),
        r["requestsPerMinute"]
    );
}

/// Across nodes: the sync that finds the refresh refused runs on node A; the admins connected to node B are told, its members are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_on_another_node_are_told_of_a_needed_reconnect() {
    let fake = crate::fake_ringcentral::FakeRingCentral::start().await;
    fake.add(rec("R1", 10, "Inbound", "Accepted"));
    let (nodes, _) =
        crate::cluster_support::in_process_nodes(2, &crate::cluster_support::redis_url(), |s| settings_for(&fake, s))
            .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let admin = token_as(a, &agent("t1", "ada"), Some("admin"));
    assert_eq!(connect(a, &fake, &admin).await.0, 200);
    let mut bea_on_b = b
        .connect_token(&token_as(b, &agent("t1", "bea"), Some("admin")))
        .await
        .expect("socket");
    let mut bo_on_b = b
        .connect_token(&token_as(b, &agent("t1", "bo"), None))
        .await
        .expect("socket");
    fake.expire_access_tokens();
    fake.revoke_refresh_token();
    let (status, report) = sync(a, &admin).await;
    assert_eq!(
        (status, report["state"].as_str()),
        (200, Some("needs_reconnect")),
        "{report}"
    );
    let frame = bea_on_b.next_of("integration.status").await;
    assert_eq!(
        (frame["provider"].as_str(), frame["status"].as_str()),
        (Some("ringcentral"), Some("needs_reconnect"))
    );
    // B delivered the message to its admins and members in one go: a pong now comes after it, had bo been sent it.
    assert_eq!(bo_on_b.request(json!({"type": "ping"})).await["type"], "pong");
    assert!(!bo_on_b.has_queued("integration.status"));
}

crate::on_both_backends!(
    a_large_log_is_synced_completely_within_the_budget,
    the_scheduler_syncs_each_integration_on_its_interval,
    pages_without_totals_are_followed_deduped_and_a_later_sync_updates,
    a_429_and_an_access_token_expiring_mid_sync_are_ridden_out,
    a_refused_refresh_marks_needs_reconnect_and_tells_the_admin,
    two_nodes_syncing_at_once_never_refresh_twice,
);
