//! The REST surface: call actions, history paging, presence lists, errors, health and metrics.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

async fn rest_call_flow_and_history_paging(b: Backend) {
    let app = spawn_app(b).await;
    let (c, a) = (customer("t1", "c"), agent("t1", "a"));
    let (ct, at) = (app.token(&c), app.token(&a));
    let mut aw = app.connect(&a).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (status, body) = app
            .post(
                "/api/voip/start-call",
                Some(&ct),
                json!({"calleeSupabaseId": "a", "callerName": "Cee"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "RINGING");
        assert!(body["callerToken"].is_null() && body["livekitUrl"].is_null());
        let id = body["callId"].as_str().unwrap().to_owned();
        assert_eq!(aw.next_of("call.incoming").await["callId"], id.as_str());
        let action = if i % 2 == 0 { "accept" } else { "decline" };
        let (status, body) = app
            .post(&format!("/api/voip/calls/{id}/{action}"), Some(&at), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        if action == "accept" {
            assert_eq!(body["status"], "ACTIVE");
            let (status, body) = app
                .post(&format!("/api/voip/calls/{id}/end"), Some(&ct), json!({}))
                .await;
            assert_eq!((status, body["status"].as_str()), (200, Some("COMPLETED")));
        }
        ids.push(id);
    }
    // Newest first, three per page, pages chained by `before`.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let (status, page) = app
            .get(&format!("/api/voip/history?limit=3&before={before}"), Some(&ct))
            .await;
        assert_eq!(status, 200);
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().unwrap()["id"].as_str().unwrap().to_owned();
        seen.extend(page.into_iter().map(|r| r["id"].as_str().unwrap().to_owned()));
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let (_, agent_view) = app.get("/api/voip/history", Some(&at)).await;
    assert_eq!(agent_view.as_array().unwrap().len(), 7);
    // A third party sees none of it.
    let (_, other) = app.get("/api/voip/history", Some(&app.token(&agent("t1", "z")))).await;
    assert_eq!(other, json!([]));

    for bad in ["limit=0", "limit=201", "limit=abc", "before=not-a-uuid"] {
        let (status, body) = app.get(&format!("/api/voip/history?{bad}"), Some(&ct)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }
}

async fn rest_errors_are_json_with_stable_codes(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token(&customer("t1", "c"));
    let cases = [
        (
            app.post("/api/voip/start-call", Some(&t), json!({})).await,
            400,
            "invalid_request",
        ),
        (
            app.post("/api/voip/start-call", Some(&t), json!({"calleeSupabaseId": ""}))
                .await,
            400,
            "invalid_request",
        ),
        (
            app.post("/api/voip/start-call", Some(&t), json!({"calleeSupabaseId": 5}))
                .await,
            400,
            "invalid_request",
        ),
        (
            app.post("/api/voip/calls/xyz/explode", Some(&t), json!({})).await,
            404,
            "not_found",
        ),
        (app.get("/api/voip/calls/xyz", Some(&t)).await, 404, "call_not_found"),
        (app.get("/api/nothing-here", Some(&t)).await, 404, "not_found"),
        (
            app.get("/api/voip/start-call", Some(&t)).await,
            405,
            "method_not_allowed",
        ),
    ];
    for ((status, body), want_status, want_code) in cases {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"]["code"], want_code, "{body}");
        assert!(body["error"]["message"].is_string());
    }
    let resp = app
        .http
        .post(app.url("/api/voip/start-call"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"calleeSupabaseId\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let big = "a".repeat(100 * 1024);
    let (status, body) = app
        .post("/api/voip/start-call", Some(&t), json!({"calleeSupabaseId": big}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

async fn agents_list_and_presence_frames_follow_agents(b: Backend) {
    let app = spawn_app(b).await;
    let c = customer("t1", "c");
    let ct = app.token(&c);
    let mut cw = app.connect(&c).await;
    let (_, list) = app.get("/api/voip/agents/available", Some(&ct)).await;
    assert_eq!(list, json!([]));

    let mut aw = app.connect(&agent("t1", "a")).await;
    let p = cw.next_of("presence").await;
    assert_eq!(
        (p["supabaseUserId"].as_str(), p["status"].as_str()),
        (Some("a"), Some("available"))
    );
    assert_eq!(p["firstName"], "Agent a");
    let (_, list) = app.get("/api/voip/agents/available", Some(&ct)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let row = &list[0];
    assert_eq!(row["supabaseUserId"], "a");
    assert_eq!(row["firstName"], "Agent a");
    assert_eq!(row["lastName"], "Tester");
    assert_eq!(row["email"], "a@example.com");
    assert_eq!(row["status"], "available");

    aw.request(json!({"type": "status.set", "status": "away"})).await;
    assert_eq!(cw.next_of("presence").await["status"], "away");
    assert_eq!(app.get("/api/voip/agents/available", Some(&ct)).await.1, json!([]));
    aw.request(json!({"type": "status.set", "status": "available"})).await;
    assert_eq!(cw.next_of("presence").await["status"], "available");

    // In a call the agent is busy, then available again.
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cw.next_of("presence").await["status"], "busy");
    assert_eq!(app.get("/api/voip/agents/available", Some(&ct)).await.1, json!([]));
    cw.request(json!({"type": "call.cancel", "callId": id})).await;
    assert_eq!(cw.next_of("presence").await["status"], "available");

    // Other tenants hear nothing; customers produce no presence.
    let mut far = app.connect(&customer("t2", "far")).await;
    let _c2 = app.connect(&customer("t1", "c2")).await;
    aw.close().await;
    assert_eq!(cw.next_of("presence").await["status"], "offline");
    far.expect_no("presence", Duration::from_millis(300)).await;
    cw.expect_no("presence", Duration::from_millis(100)).await;
}

async fn health_readiness_and_metrics(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(app.get("/healthz", None).await, (200, json!({"status": "ok"})));
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["store"], if b == Backend::Sqlite { "sqlite" } else { "postgres" });
    let mut cw = app.connect(&customer("t1", "c")).await;
    let _aw = app.connect(&agent("t1", "a")).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(ack["type"], "ack");
    // REST errors are counted by code, like socket ones.
    let (status, _) = app
        .get("/api/voip/calls/nope", Some(&app.token(&customer("t1", "c"))))
        .await;
    assert_eq!(status, 404);
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("switchboard_sockets 2"), "{text}");
    assert!(text.contains("switchboard_calls_total{status=\"RINGING\"} 1"), "{text}");
    assert!(text.contains("switchboard_calls_open{status=\"RINGING\"} 1"), "{text}");
    assert!(text.contains("switchboard_call_setup_seconds_count 1"), "{text}");
    assert!(
        text.contains("switchboard_errors_total{code=\"call_not_found\"} 1"),
        "{text}"
    );
}

async fn web_demo_is_served_and_other_methods_get_json(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>demo</title>").unwrap();
    let path = dir.path().to_path_buf();
    let app = spawn_with(b, move |s| s.web_dir = Some(path)).await;
    let page = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<title>demo</title>"));
    let (status, body) = app.post("/", None, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, body) = app.get("/missing.js", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    // No --dev: the dev route does not exist.
    let (status, _) = app.post("/dev/token", None, json!({"userId": "x"})).await;
    assert_eq!(status, 405);
}

crate::on_both_backends!(
    web_demo_is_served_and_other_methods_get_json,
    rest_call_flow_and_history_paging,
    rest_errors_are_json_with_stable_codes,
    agents_list_and_presence_frames_follow_agents,
    health_readiness_and_metrics,
);
