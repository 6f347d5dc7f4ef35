//! The REST client against a fake Twilio that follows the documented requests (form-encoded, Basic auth) and answers (resources, error bodies).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A request the fake received: the resource and the form fields, in order.
type Seen = (String, Vec<(String, String)>);

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"code": code, "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()});
    (status, axum::Json(body)).into_response()
}

async fn create(
    State(fake): State<Fake>,
    Path((account, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let want = format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")));
    if account != SID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        return error(StatusCode::BAD_REQUEST, 20001, "form-encoded bodies only");
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    fake.seen.lock().unwrap().push((resource.clone(), form.clone()));
    let to = get("To").unwrap_or_default();
    if !to.starts_with('+') {
        return error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let sid = match resource.as_str() {
        "Calls.json" => "CA0123456789abcdef0123456789abcdef",
        "Messages.json" => "SM0123456789abcdef0123456789abcdef",
        _ => return error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
    };
    let body = json!({"sid": sid, "account_sid": SID, "status": "queued", "from": get("From"), "to": to,
        "price": null, "price_unit": "USD", "num_segments": if sid.starts_with("SM") { json!("1") } else { json!(null) },
        "uri": format!("/2010-04-01/Accounts/{SID}/{resource}")});
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

async fn fake_twilio() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/{resource}", axum::routing::post(create))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn client(api_url: &str, token: &str) -> TwilioRest {
    TwilioRest::new(TwilioAccount {
        api_url: api_url.to_owned(),
        account_sid: SID.to_owned(),
        auth_token: token.to_owned(),
    })
}

fn call<'a>(to: &'a str) -> OutboundCall<'a> {
    OutboundCall {
        from: "+14155550100",
        to,
        twiml_url: "https://sb.example/api/phone/webhooks/twilio/voice?callId=c1",
        status_callback: "https://sb.example/api/phone/webhooks/twilio/status",
        record: true,
        recording_callback: Some("https://sb.example/api/phone/webhooks/twilio/recording"),
    }
}

#[tokio::test]
async fn a_call_is_placed_with_the_documented_form_and_its_resource_read() {
    let (url, fake) = fake_twilio().await;
    let r = client(&url, TOKEN).create_call(&call("+442079460958")).await.unwrap();
    assert_eq!(r.sid, "CA0123456789abcdef0123456789abcdef");
    assert_eq!(r.status, "queued");
    assert_eq!(r.price, None);
    let seen = fake.seen.lock().unwrap();
    let (resource, form) = &seen[0];
    assert_eq!(resource, "Calls.json");
    let values = |k: &str| {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(values("From"), ["+14155550100"]);
    assert_eq!(values("To"), ["+442079460958"]);
    assert_eq!(
        values("Url"),
        ["https://sb.example/api/phone/webhooks/twilio/voice?callId=c1"]
    );
    assert_eq!(
        values("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(values("Record"), ["true"]);
    assert_eq!(
        values("RecordingStatusCallback"),
        ["https://sb.example/api/phone/webhooks/twilio/recording"]
    );
}

#[tokio::test]
async fn a_text_is_sent_and_its_segments_read() {
    let (url, fake) = fake_twilio().await;
    let r = client(&url, TOKEN)
        .send_message("+14155550100", "+14155552671", "héllo & bye", "https://sb.example/s")
        .await
        .unwrap();
    assert_eq!(
        (r.sid.as_str(), r.num_segments.as_deref()),
        ("SM0123456789abcdef0123456789abcdef", Some("1"))
    );
    let seen = fake.seen.lock().unwrap();
    assert!(
        seen[0].1.contains(&("Body".to_owned(), "héllo & bye".to_owned())),
        "{:?}",
        seen[0].1
    );
}

#[tokio::test]
async fn twilios_error_bodies_come_back_with_their_codes() {
    let (url, _) = fake_twilio().await;
    match client(&url, TOKEN).create_call(&call("555")).await {
        Err(TwilioError::Api(e)) => {
            assert_eq!((e.status, e.code), (400, Some(21211)));
            assert!(e.message.contains("not a valid phone number"));
        }
        other => panic!("{other:?}"),
    }
    match client(&url, "wrong-token").create_call(&call("+442079460958")).await {
        Err(TwilioError::Api(e)) => assert_eq!((e.status, e.code), (401, Some(20003))),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_twilio_is_a_transport_error_and_the_token_never_prints() {
    // A port nobody listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"), TOKEN);
    let err = c.create_call(&call("+442079460958")).await.unwrap_err();
    assert!(matches!(err, TwilioError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains(TOKEN));
    let shown = format!("{:?}", c.account);
    assert!(shown.contains("<redacted>") && !shown.contains(TOKEN), "{shown}");
}
