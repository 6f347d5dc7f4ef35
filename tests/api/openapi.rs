//! The OpenAPI document: every route it lists is called with its documented examples, and every
//! answer must be a documented status whose body validates against the documented schema.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::fake_twilio::{FakeTwilio, RECORDING, post_webhook};
use crate::helpers::*;
use crate::phone_support::PUBLIC;

/// Validates `body` against `schema`, whose `$ref`s point into `doc`'s components.
fn check_schema(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        obj.insert("components".into(), doc["components"].clone());
    }
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the body does not match the document: {errors:?}\nbody: {body}"
    );
}

/// The example the document gives for an operation's JSON body, if it has one.
fn body_example(doc: &Value, op: &Value) -> Option<Value> {
    let content = &op["requestBody"]["content"]["application/json"];
    if !content["example"].is_null() {
        return Some(content["example"].clone());
    }
    let schema = &content["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    (!schema["example"].is_null()).then(|| schema["example"].clone())
}

struct Fixture {
    app: TestApp,
    customer: String,
    service: String,
    call_id: String,
    /// Phone rows the phone routes' `{id}`s stand for.
    phone: PhoneIds,
    _agent: Ws,
    _twilio: FakeTwilio,
    _ringcentral: crate::fake_ringcentral::FakeRingCentral,
    _mightycall: crate::fake_mightycall::FakeMightyCall,
    /// Webhook endpoints: one read, one deleted.
    hooks: (String, String),
}

struct PhoneIds {
    call: String,
    /// Carol's number (read and patched).
    number: String,
    /// Nobody's (released by the DELETE).
    spare: String,
    conversation: String,
    invoice: String,
}

/// A number, a voicemail with its recording and a text on it (Carol's), a plan and an invoice.
async fn seed_phone(app: &TestApp, service: &str) -> PhoneIds {
    let add = |number: &'static str| async move {
        let (s, n) = app
            .post("/api/orgs/t1/phone-numbers", Some(service), json!({ "number": number }))
            .await;
        assert_eq!(s, 201, "{n}");
        n["id"].as_str().unwrap().to_owned()
    };
    let number = add("+14155550100").await;
    let spare = add("+14155550101").await;
    let (s, body) = app
        .post(
            "/api/orgs/t1/users/carol/phone-assignments",
            Some(service),
            json!({ "phoneNumberIds": [number] }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let hook = |path: String, params: Vec<(&'static str, &'static str)>| async move {
        let (s, body, _) = post_webhook(&app.http, PUBLIC, &app.url(""), &path, &params).await;
        assert!((200..300).contains(&s), "{path}: {s} {body}");
    };
    let (sid, caller, ours) = ("CA00000000000000000000000000000001", "+14155552671", "+14155550100");
    hook(
        "/api/phone/webhooks/twilio/voice".into(),
        vec![("CallSid", sid), ("From", caller), ("To", ours)],
    )
    .await;
    let (_, calls) = app.get("/api/phone/calls", Some(service)).await;
    let call = calls["calls"][0]["id"].as_str().unwrap().to_owned();
    hook(
        format!("/api/phone/webhooks/twilio/recording?callId={call}&kind=voicemail"),
        vec![
            ("CallSid", sid),
            ("RecordingSid", RECORDING),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "9"),
        ],
    )
    .await;
    hook(
        "/api/phone/webhooks/twilio/sms".into(),
        vec![
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("From", caller),
            ("To", ours),
            ("Body", "Hi"),
        ],
    )
    .await;
    let (_, threads) = app.get("/api/phone/sms/conversations", Some(service)).await;
    let conversation = threads["conversations"][0]["id"].as_str().unwrap().to_owned();
    let plan = json!({"currency": "USD", "monthlyFeeMinor": 2500, "includedMinutes": 0, "perMinuteMicros": 13000,
                      "perSmsSegmentMicros": 7900, "perNumberMonthMicros": 1150000});
    assert_eq!(app.put("/api/admin/plans/t1", Some(service), plan).await.0, 200);
    let period = json!({"orgId": "t1", "periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z"});
    let (s, invoice) = app.post("/api/admin/invoices", Some(service), period).await;
    assert_eq!(s, 201, "{invoice}");
    PhoneIds {
        call,
        number,
        spare,
        conversation,
        invoice: invoice["id"].as_str().unwrap().to_owned(),
    }
}

async fn fixture(b: Backend) -> Fixture {
    let twilio = FakeTwilio::start().await;
    let account = twilio.account();
    let ringcentral = crate::fake_ringcentral::FakeRingCentral::start().await;
    // The documented example key is the fake's: `POST …/mightycall/connect` succeeds with it.
    let mightycall = crate::fake_mightycall::FakeMightyCall::start().await;
    let app = spawn_with(b, |s| {
        crate::integrations_support::settings_for(&ringcentral, s);
        s.integrations.mightycall = Some(switchboard::providers::mightycall::MightyCallSettings {
            api_url: mightycall.url.clone(),
            page_size: 3,
        });
        s.dev = true;
        s.twilio = Some(switchboard::phone::settings::TwilioSettings {
            account,
            twiml_app_sid: Some("AP0123456789abcdef0123456789abcdef".into()),
            api_key: Some("SK0123456789abcdef0123456789abcdef".into()),
            api_secret: Some("api-secret-for-tests".into()),
            public_url: PUBLIC.into(),
        })
    })
    .await;
    let agent = app.connect(&agent("t1", "agent-1")).await;
    let customer = app.token(&customer("t1", "carol"));
    let (status, placed) = app
        .post(
            "/api/voip/start-call",
            Some(&customer),
            json!({"calleeSupabaseId": "agent-1"}),
        )
        .await;
    assert_eq!(status, 200, "{placed}");
    let call_id = placed["callId"].as_str().unwrap().to_owned();
    let service = app.service_token();
    let phone = seed_phone(&app, &service).await;
    // t1 connected to RingCentral (the DELETE, sync and extension routes act on it).
    let admin = crate::integrations_support::token_as(&app, &crate::helpers::agent("t1", "ada"), Some("admin"));
    let (status, connected) = crate::integrations_support::connect(&app, &ringcentral, &admin).await;
    assert_eq!(status, 200, "{connected}");
    let hook = |n: u16| {
        let (app, service) = (&app, &service);
        async move {
            let url = format!("http://127.0.0.1:9/fixture-{n}");
            let (s, e) = app
                .post("/api/webhooks/endpoints?orgId=t1", Some(service), json!({"url": url}))
                .await;
            assert_eq!(s, 201, "{e}");
            e["id"].as_str().unwrap().to_owned()
        }
    };
    let hooks = (hook(1).await, hook(2).await);
    // The contact the contact routes' examples name (DELETE runs before PUT re-creates it).
    let (s, c) = app
        .put(
            "/api/contacts/crm-1001?orgId=t1",
            Some(&service),
            json!({"name": "Pat Example", "type": "customer", "phoneNumbers": ["+16505550142"]}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    Fixture {
        hooks,
        service,
        app,
        customer,
        call_id,
        phone,
        _agent: agent,
        _twilio: twilio,
        _ringcentral: ringcentral,
        _mightycall: mightycall,
    }
}

/// Calls one documented operation with its examples; returns the status, after checking the answer.
async fn call_operation(f: &Fixture, doc: &Value, path: &str, method: &str, op: &Value, token: Option<&str>) -> u16 {
    let what = format!("{} {path}", method.to_uppercase());
    let mut url = path.to_owned();
    let mut query = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap();
        let example = match &p["example"] {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        match p["in"].as_str() {
            // A real call of the fixture stands in for the example call id.
            Some("path") if name == "id" && path.starts_with("/api/voip/calls/") => {
                url = url.replace("{id}", &f.call_id)
            }
            Some("path") if name == "id" => {
                let id = match path {
                    p if p.starts_with("/api/phone/calls/") => &f.phone.call,
                    "/api/phone/numbers/{id}" if method == "delete" => &f.phone.spare,
                    "/api/phone/numbers/{id}" => &f.phone.number,
                    p if p.starts_with("/api/phone/sms/conversations/") => &f.phone.conversation,
                    "/api/admin/invoices/{id}" => &f.phone.invoice,
                    "/api/webhooks/endpoints/{id}" => &f.hooks.1,
                    "/api/webhooks/endpoints/{id}/deliveries" => &f.hooks.0,
                    _ => &example,
                };
                url = url.replace("{id}", id)
            }
            Some("path") => url = url.replace(&format!("{{{name}}}"), &example),
            Some("query") if name != "access_token" => query.push((name.to_owned(), example)),
            _ => {}
        }
    }
    assert!(!url.contains('{'), "{what}: a path parameter has no example");
    let mut req = f
        .app
        .http
        .request(method.to_uppercase().parse().unwrap(), f.app.url(&url))
        .query(&query);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(body) = body_example(doc, op) {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.bytes().await.unwrap();
    let documented = &op["responses"][status.to_string()];
    assert!(
        !documented.is_null(),
        "{what}: answered {status}, which the document does not list: {}",
        String::from_utf8_lossy(&bytes)
    );
    let Some(content) = documented["content"].as_object() else {
        return status;
    };
    let (media, spec) = content
        .iter()
        .find(|(m, _)| ctype.starts_with(m.as_str()))
        .unwrap_or_else(|| panic!("{what}: {status} came as {ctype:?}, documented as {:?}", content.keys()));
    if media == "application/json" && !spec["schema"].is_null() {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        check_schema(doc, &spec["schema"], &body, &format!("{what} → {status}"));
    }
    status
}

async fn every_documented_route_answers_as_documented(b: Backend) {
    let f = fixture(b).await;
    let (status, doc) = f.app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    // The routes the server has: a route missing from the document fails here.
    let listed: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    for route in [
        "/api/voip/agents/available",
        "/api/voip/participants",
        "/api/voip/start-call",
        "/api/voip/history",
        "/api/voip/calls/{id}",
        "/api/voip/calls/{id}/{action}",
        "/api/voip/calls/{id}/recording",
        "/api/voip/calls/{id}/recording/{side}",
        "/api/voip/ws",
        "/api/admin/participants/{id}",
        "/api/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
        "/dev/token",
        "/api/phone/numbers",
        "/api/phone/numbers/{id}",
        "/api/phone/calls",
        "/api/phone/calls/{id}/recording",
        "/api/phone/webhooks/twilio/voice",
        "/api/phone/sms/conversations/{id}/messages",
        "/api/orgs/{org_id}/users/{user_id}/phone-assignments",
        "/api/admin/invoices",
        "/api/integrations",
        "/api/integrations/{provider}/connect",
        "/api/integrations/{provider}/callback",
        "/api/integrations/{provider}/sync",
        "/api/metrics/calls/daily",
        "/api/contacts/{id}/activities",
        "/api/webhooks/endpoints",
        "/api/webhooks/endpoints/{id}/deliveries",
    ] {
        assert!(listed.contains(route), "{route} is not documented: {listed:?}");
    }
    let mut succeeded = BTreeSet::new();
    // Writes first (PUT before GET of the same participant, the start-call after the action), then reads.
    let mut ops: Vec<(&str, &str, &Value)> = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path, method, op));
        }
    }
    // The integration is disconnected after it was synced and its extensions set.
    ops.sort_by_key(|(path, method, _)| {
        (
            *method == "get",
            path.contains("start-call"),
            *method == "delete" && path.starts_with("/api/integrations"),
            path.to_string(),
        )
    });
    for (path, method, op) in &ops {
        let security: Vec<&str> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        let token = if security.contains(&"service_key") {
            Some(f.service.as_str())
        } else if security.contains(&"bearer") {
            Some(f.customer.as_str())
        } else {
            None
        };
        let status = call_operation(&f, &doc, path, method, op, token).await;
        if (200..300).contains(&status) {
            succeeded.insert(format!("{} {path}", method.to_uppercase()));
        }
        // Without its token, a secured route says why, as documented.
        if token.is_some() {
            assert_eq!(
                call_operation(&f, &doc, path, method, op, None).await,
                401,
                "{method} {path}"
            );
        }
    }
    // Everything but what needs a WebSocket or a recording (not in p2p mode) succeeded with its examples.
    // Twilio's webhooks need its signature, which a documented example cannot carry (tests/api/phone_calls.rs sign them).
    let expected_failures = [
        "POST /api/phone/webhooks/twilio/voice",
        "POST /api/phone/webhooks/twilio/status",
        "POST /api/phone/webhooks/twilio/recording",
        "POST /api/phone/webhooks/twilio/sms",
        "POST /api/phone/webhooks/twilio/sms-status",
        // The provider's redirect carries a state signed for one connect, which no example can be.
        "GET /api/integrations/{provider}/callback",
        "GET /api/voip/ws",
        "GET /api/voip/calls/{id}/recording",
        "GET /api/voip/calls/{id}/recording/{side}",
    ];
    for op in &ops {
        let name = format!("{} {}", op.1.to_uppercase(), op.0);
        assert_eq!(
            succeeded.contains(&name),
            !expected_failures.contains(&name.as_str()),
            "{name}: succeeded = {succeeded:?}"
        );
    }
}

crate::on_both_backends!(every_documented_route_answers_as_documented);
