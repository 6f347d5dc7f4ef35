//! Who may do what: bad tokens, tenants, impersonation, rate limits, the admin API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use switchboard::auth::Verifier;

use crate::helpers::*;

fn unsigned(header: serde_json::Value, claims: &switchboard::auth::Claims) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).unwrap())
    )
}

async fn bad_tokens_are_refused_on_rest_and_socket(b: Backend) {
    let app = spawn_app(b).await;
    let p = customer("t1", "c");
    let good = claims_of(&p);
    let mut cases: Vec<(&str, String, &str)> = Vec::new();

    let mut expired = good.clone();
    expired.exp = Some(expired.iat.unwrap() - 7200);
    cases.push(("expired", app.mint(&expired), "token_expired"));

    let other = Verifier::new(b"some-other-secret-some-other-secret", AUDIENCE);
    cases.push(("wrong secret", other.mint(&good).unwrap(), "invalid_token"));

    cases.push((
        "alg none",
        unsigned(json!({"alg": "none", "typ": "JWT"}), &good),
        "invalid_token",
    ));

    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    cases.push(("HS512", hs512, "invalid_token"));

    let mut aud = good.clone();
    aud.aud = Some(json!("anon"));
    cases.push(("wrong audience", app.mint(&aud), "invalid_audience"));

    let mut no_tenant = good.clone();
    no_tenant.app_metadata.tenant_id = None;
    cases.push(("no tenant", app.mint(&no_tenant), "missing_tenant_claim"));

    let mut no_type = good.clone();
    no_type.app_metadata.participant_type = None;
    cases.push(("no type", app.mint(&no_type), "missing_participant_type_claim"));

    let mut no_sub = good.clone();
    no_sub.sub = None;
    cases.push(("no sub", app.mint(&no_sub), "missing_sub_claim"));

    cases.push(("garbage", "not.a.jwt".into(), "invalid_token"));

    for (name, token, code) in &cases {
        let (status, body) = app.get("/api/voip/history", Some(token)).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"]["code"], *code, "{name}");
        let refused = app.connect_token(token).await.err();
        assert_eq!(refused, Some(401), "{name}: socket must be refused before the upgrade");
    }
    let (status, body) = app.get("/api/voip/history", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("missing_token")));
    // The good token works on both.
    assert_eq!(app.get("/api/voip/history", Some(&app.mint(&good))).await.0, 200);
    assert!(app.connect_token(&app.mint(&good)).await.is_ok());
    // A service key is not a participant.
    let (status, body) = app.get("/api/voip/history", Some(&app.service_token())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
}

async fn tenants_are_walled_off(b: Backend) {
    let app = spawn_app(b).await;
    let _a = app.connect(&agent("t1", "a")).await;
    let mut other = app.connect(&customer("t2", "x")).await;
    let err = other.request(json!({"type": "call.start", "calleeId": "a"})).await;
    assert_eq!(err["code"], "participant_not_found");
    let err2 = other
        .request(json!({"type": "call.start", "calleeId": "nobody-at-all"}))
        .await;
    assert_eq!(err2["code"], "participant_not_found");
    assert_eq!(
        err["message"], err2["message"],
        "a foreign id looks exactly like an unknown one"
    );
    let (status, body) = app
        .post(
            "/api/voip/start-call",
            Some(&app.token(&customer("t2", "x"))),
            json!({"calleeSupabaseId": "a"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("participant_not_found"))
    );
    // The same user id in another tenant is another person with its own history.
    let (_, list) = app
        .get("/api/voip/agents/available", Some(&app.token(&customer("t2", "x"))))
        .await;
    assert_eq!(list, json!([]));
}

async fn impersonation_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let mut cw = app.connect(&customer("t1", "c")).await;
    let mut aw = app.connect(&agent("t1", "a")).await;
    let mut mallory = app.connect(&agent("t1", "m")).await;
    let mut foreign = app.connect(&agent("t2", "a")).await; // same user id, other tenant
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;

    for ws in [&mut mallory, &mut foreign] {
        for ty in ["call.accept", "call.decline", "call.cancel", "call.end"] {
            let err = ws.request(json!({"type": ty, "callId": id})).await;
            assert_eq!(err["code"], "call_not_found", "{ty}: {err}");
        }
        let err = ws
            .request(json!({"type": "rtc.signal", "callId": id, "data": {"x": 1}}))
            .await;
        assert_eq!(err["code"], "call_not_found");
    }
    for p in [agent("t1", "m"), agent("t2", "a")] {
        let (status, body) = app.get(&format!("/api/voip/calls/{id}"), Some(&app.token(&p))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("call_not_found")));
        let (status, _) = app
            .post(&format!("/api/voip/calls/{id}/accept"), Some(&app.token(&p)), json!({}))
            .await;
        assert_eq!(status, 404);
    }
    let err = cw.request(json!({"type": "call.accept", "callId": id})).await;
    assert_eq!(err["code"], "not_callee");
    let err = aw.request(json!({"type": "call.cancel", "callId": id})).await;
    assert_eq!(err["code"], "not_caller");
    let (status, body) = app
        .post(
            &format!("/api/voip/calls/{id}/accept"),
            Some(&app.token(&customer("t1", "c"))),
            json!({}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("not_callee")));
    // Still ringing: nothing above changed it.
    let (_, row) = app
        .get(&format!("/api/voip/calls/{id}"), Some(&app.token(&agent("t1", "a"))))
        .await;
    assert_eq!(row["status"], "RINGING");
    // Customers cannot call customers, nobody calls themselves.
    let _c2 = app.connect(&customer("t1", "c2")).await;
    let mut c3 = app.connect(&customer("t1", "c3")).await;
    assert_eq!(
        c3.request(json!({"type": "call.start", "calleeId": "c2"})).await["code"],
        "call_not_allowed"
    );
    assert_eq!(
        c3.request(json!({"type": "call.start", "calleeId": "c3"})).await["code"],
        "cannot_call_self"
    );
}

async fn start_call_is_rate_limited(b: Backend) {
    let app = spawn_with(b, |s| {
        s.call_rate_per_minute = 2;
        s.call_rate_burst = 2;
    })
    .await;
    let c = customer("t1", "c");
    let mut cw = app.connect(&c).await;
    let _aw = app.connect(&agent("t1", "a")).await;
    for _ in 0..2 {
        let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
        assert_eq!(ack["type"], "ack");
        let id = ack["call"]["id"].as_str().unwrap().to_owned();
        cw.request(json!({"type": "call.cancel", "callId": id})).await;
    }
    assert_eq!(
        cw.request(json!({"type": "call.start", "calleeId": "a"})).await["code"],
        "rate_limited"
    );
    let (status, body) = app
        .post(
            "/api/voip/start-call",
            Some(&app.token(&c)),
            json!({"calleeSupabaseId": "a"}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")));
    // Other users are unaffected.
    let mut other = app.connect(&customer("t1", "d")).await;
    assert_eq!(
        other.request(json!({"type": "call.start", "calleeId": "a"})).await["type"],
        "ack"
    );
}

async fn admin_api_needs_a_service_key(b: Backend) {
    let app = spawn_app(b).await;
    let svc = app.service_token();
    let body = json!({"tenantId": "t9", "participantType": "PORTAL_CUSTOMER", "firstName": "Pre", "email": "pre@x.io"});
    let (status, got) = app.put("/api/admin/participants/pre-1", Some(&svc), body.clone()).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["userId"], "pre-1");
    assert_eq!(got["participantType"], "PORTAL_CUSTOMER");
    let (status, got) = app.get("/api/admin/participants/pre-1?tenantId=t9", Some(&svc)).await;
    assert_eq!((status, got["firstName"].as_str()), (200, Some("Pre")));
    let (status, got) = app.get("/api/admin/participants/pre-1?tenantId=t8", Some(&svc)).await;
    assert_eq!(
        (status, got["error"]["code"].as_str()),
        (404, Some("participant_not_found"))
    );
    let user = app.token(&agent("t9", "boss"));
    let (status, got) = app
        .put("/api/admin/participants/pre-2", Some(&user), body.clone())
        .await;
    assert_eq!((status, got["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = app.put("/api/admin/participants/pre-2", None, body).await;
    assert_eq!(status, 401);
    let (status, got) = app
        .put(
            "/api/admin/participants/pre-3",
            Some(&svc),
            json!({"participantType": "CRM_USER"}),
        )
        .await;
    assert_eq!((status, got["error"]["code"].as_str()), (400, Some("invalid_request")));
    let (status, _) = app
        .put(
            "/api/admin/participants/pre-3",
            Some(&svc),
            json!({"tenantId": "t9", "participantType": "GOD"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.get("/api/admin/participants/pre-1", Some(&svc)).await;
    assert_eq!(status, 400, "tenantId is required");
}

crate::on_both_backends!(
    bad_tokens_are_refused_on_rest_and_socket,
    tenants_are_walled_off,
    impersonation_is_refused,
    start_call_is_rate_limited,
    admin_api_needs_a_service_key,
);
