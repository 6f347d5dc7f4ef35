//! The Twilio REST client (`switchboard::phone::rest`) against the fake Twilio: calls, texts, number search/provision/release, recording media, error bodies; and the fake's own webhook signing.

use axum::http::{HeaderMap, StatusCode};
use switchboard::phone::rest::{Capabilities, OutboundCall, TwilioAccount, TwilioError, TwilioRest};
use switchboard::phone::signature;

use crate::fake_twilio::{self, FakeTwilio, RECORDING, SID, TOKEN};

fn client(fake: &FakeTwilio) -> TwilioRest {
    TwilioRest::new(fake.account())
}

fn client_with_token(fake: &FakeTwilio, token: &str) -> TwilioRest {
    TwilioRest::new(TwilioAccount {
        auth_token: token.to_owned(),
        ..fake.account()
    })
}

fn call(to: &str) -> OutboundCall<'_> {
    OutboundCall {
        from: "+14155550100",
        to,
        twiml_url: "https://sb.example/api/phone/webhooks/twilio/voice?callId=c1",
        status_callback: "https://sb.example/api/phone/webhooks/twilio/status",
        record: true,
        recording_callback: Some("https://sb.example/api/phone/webhooks/twilio/recording"),
    }
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn caps(voice: bool, sms: bool, mms: bool) -> Capabilities {
    Capabilities { voice, sms, mms }
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_call_is_placed_with_the_documented_form_and_its_resource_read() {
    let fake = FakeTwilio::start().await;
    let c = client(&fake);
    let r = c.create_call(&call("+442079460958")).await.unwrap();
    assert!(is_sid(&r.sid, "CA"), "{}", r.sid);
    assert_eq!(r.status, "queued");
    assert_eq!((r.price, r.price_unit.as_deref()), (None, Some("USD")));
    let seen = fake.seen();
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
    // Each call is its own resource.
    let again = c.create_call(&call("+442079460958")).await.unwrap();
    assert!(
        is_sid(&again.sid, "CA") && again.sid != r.sid,
        "{} {}",
        again.sid,
        r.sid
    );
    assert_eq!(fake.seen_of("Calls.json").len(), 2);
}

#[tokio::test]
async fn a_text_is_sent_and_its_segments_read() {
    let fake = FakeTwilio::start().await;
    let c = client(&fake);
    let r = c
        .send_message("+14155550100", "+14155552671", "héllo & bye", "https://sb.example/s")
        .await
        .unwrap();
    assert!(is_sid(&r.sid, "SM"), "{}", r.sid);
    assert_eq!(
        (r.status.as_str(), r.num_segments.as_deref(), r.price),
        ("queued", Some("1"), None)
    );
    let sent = fake.seen_of("Messages.json");
    assert!(
        sent[0].contains(&("Body".to_owned(), "héllo & bye".to_owned())),
        "{:?}",
        sent[0]
    );
    // 161 GSM-7 characters are two segments; 71 UCS-2 ones too.
    for body in ["a".repeat(161), "ж".repeat(71)] {
        let r = c
            .send_message("+14155550100", "+14155552671", &body, "s")
            .await
            .unwrap();
        assert_eq!(r.num_segments.as_deref(), Some("2"), "{body}");
    }
}

#[tokio::test]
async fn twilios_error_bodies_come_back_with_their_codes() {
    let fake = FakeTwilio::start().await;
    match client(&fake).create_call(&call("555")).await {
        Err(TwilioError::Api(e)) => {
            assert_eq!((e.status, e.code), (400, Some(21211)));
            assert!(e.message.contains("not a valid phone number"));
            assert_eq!(e.more_info.as_deref(), Some("https://www.twilio.com/docs/errors/21211"));
        }
        other => panic!("{other:?}"),
    }
    let wrong = client_with_token(&fake, "wrong-token");
    match wrong.create_call(&call("+442079460958")).await {
        Err(TwilioError::Api(e)) => assert_eq!((e.status, e.code), (401, Some(20003))),
        other => panic!("{other:?}"),
    }
    // The refused credential never reached the resource.
    assert_eq!(fake.seen_of("Calls.json").len(), 1);
}

#[tokio::test]
async fn a_failure_set_up_with_fail_next_comes_back_once_and_in_order() {
    let fake = FakeTwilio::start().await;
    fake.fail_next(503, 20500, "Service Unavailable");
    fake.fail_next(429, 20429, "Too Many Requests");
    let c = client(&fake);
    let api = |r: Result<(), TwilioError>| match r {
        Err(TwilioError::Api(e)) => (e.status, e.code, e.message),
        other => panic!("{other:?}"),
    };
    let first = api(c
        .send_message("+14155550100", "+14155552671", "hi", "s")
        .await
        .map(drop));
    assert_eq!(first, (503, Some(20500), "Service Unavailable".to_owned()));
    let second = api(c.provision_number("+14155550100", "v", "s", "st").await.map(drop));
    assert_eq!(second, (429, Some(20429), "Too Many Requests".to_owned()));
    assert!(fake.owned().is_empty(), "a failed provision buys nothing");
    c.create_call(&call("+442079460958")).await.unwrap();
    let resources: Vec<_> = fake.seen().into_iter().map(|(r, _)| r).collect();
    assert_eq!(resources, ["Messages.json", "IncomingPhoneNumbers.json", "Calls.json"]);
}

#[tokio::test]
async fn an_unreachable_twilio_is_a_transport_error_and_the_token_never_prints() {
    // A port nobody listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let account = TwilioAccount {
        api_url: format!("http://127.0.0.1:{port}"),
        account_sid: SID.to_owned(),
        auth_token: TOKEN.to_owned(),
    };
    let shown = format!("{account:?}");
    assert!(shown.contains("<redacted>") && !shown.contains(TOKEN), "{shown}");
    let err = TwilioRest::new(account)
        .create_call(&call("+442079460958"))
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::Transport(_)), "{err:?}");
    assert!(
        !err.to_string().contains(TOKEN) && !format!("{err:?}").contains(TOKEN),
        "{err}"
    );
}

#[tokio::test]
async fn a_search_without_filters_sends_only_the_page_size_and_reads_the_documented_page() {
    let fake = FakeTwilio::start().await;
    let found = client(&fake).search_numbers("US", None, None, 3).await.unwrap();
    let numbers: Vec<_> = found.iter().map(|n| n.phone_number.as_str()).collect();
    assert_eq!(numbers, ["+14155550100", "+14155550123", "+15105550142"]);
    assert_eq!(found[0].friendly_name, "(415) 555-0100");
    assert_eq!(found[0].locality.as_deref(), Some("San Francisco"));
    assert_eq!(found[0].region.as_deref(), Some("CA"));
    assert_eq!((found[2].locality.as_deref(), found[2].region.as_deref()), (None, None));
    assert_eq!(found[0].iso_country, "US");
    assert_eq!(found[0].capabilities, caps(true, true, true));
    assert_eq!(found[1].capabilities, caps(true, true, false));
    assert_eq!(found[2].capabilities, caps(true, false, false));
    let seen = fake.seen();
    assert_eq!(seen[0].0, "AvailablePhoneNumbers/US/Local.json");
    assert_eq!(pairs(&seen[0].1), [("PageSize", "3")]);
}

#[tokio::test]
async fn a_search_with_filters_sends_them_encoded_and_the_country_upper_case() {
    let fake = FakeTwilio::start().await;
    let found = client(&fake)
        .search_numbers("us", Some("510"), Some("%0199"), 5)
        .await
        .unwrap();
    let numbers: Vec<_> = found.iter().map(|n| n.phone_number.as_str()).collect();
    assert_eq!(numbers, ["+15105550199"]);
    let searches = fake.seen_of("AvailablePhoneNumbers/US/Local.json");
    assert_eq!(
        pairs(&searches[0]),
        [("PageSize", "5"), ("AreaCode", "510"), ("Contains", "%0199")]
    );
}

#[tokio::test]
async fn a_bad_country_or_page_size_is_refused_before_any_request() {
    let fake = FakeTwilio::start().await;
    let c = client(&fake);
    for country in ["", "U", "USA", "U1", "é", "./", "U/"] {
        match c.search_numbers(country, None, None, 10).await {
            Err(e @ TwilioError::Invalid(_)) => assert!(e.to_string().contains("two letters"), "{e}"),
            other => panic!("{country:?}: {other:?}"),
        }
    }
    for size in [0, 1001] {
        let err = c.search_numbers("US", None, None, size).await.unwrap_err();
        assert!(matches!(err, TwilioError::Invalid(_)), "{err:?}");
    }
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn a_number_is_provisioned_with_the_documented_form_and_its_resource_read() {
    let fake = FakeTwilio::start().await;
    let (voice, sms, status) = (
        "https://sb.example/v?a=1&b=2",
        "https://sb.example/s",
        "https://sb.example/st",
    );
    let n = client(&fake)
        .provision_number("+14155550123", voice, sms, status)
        .await
        .unwrap();
    assert_eq!(n.sid, "PN00000000000000000000014155550123");
    assert_eq!(
        (n.phone_number.as_str(), n.friendly_name.as_str()),
        ("+14155550123", "(415) 555-0123")
    );
    assert_eq!(n.capabilities, caps(true, true, false));
    assert_eq!(fake.owned(), std::slice::from_ref(&n.sid));
    let seen = fake.seen();
    assert_eq!(seen[0].0, "IncomingPhoneNumbers.json");
    assert_eq!(
        pairs(&seen[0].1),
        [
            ("PhoneNumber", "+14155550123"),
            ("VoiceUrl", voice),
            ("VoiceMethod", "POST"),
            ("SmsUrl", sms),
            ("SmsMethod", "POST"),
            ("StatusCallback", status),
            ("StatusCallbackMethod", "POST"),
        ]
    );
}

#[tokio::test]
async fn a_release_is_answered_204_and_a_second_one_404() {
    let fake = FakeTwilio::start().await;
    let c = client(&fake);
    let n = c.provision_number("+14155550100", "v", "s", "st").await.unwrap();
    c.release_number(&n.sid).await.unwrap();
    assert!(fake.owned().is_empty());
    match c.release_number(&n.sid).await {
        Err(TwilioError::Api(e)) => {
            assert_eq!((e.status, e.code), (404, Some(20404)));
            assert!(e.message.contains(&n.sid), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    let released = format!("IncomingPhoneNumbers/{}.json", n.sid);
    assert_eq!(fake.seen_of(&released).len(), 2);
}

#[tokio::test]
async fn a_malformed_sid_is_refused_before_any_request() {
    let fake = FakeTwilio::start().await;
    let c = client(&fake);
    let hex = "0123456789abcdef0123456789abcdef";
    // Empty, short, the wrong prefix, a non-hex digit, too long, a path.
    let not_pn = format!(",PN123,RE{hex},PN{}g,PN{hex}0,PN{}/../Calls", &hex[1..], &hex[..22]);
    for sid in not_pn.split(',') {
        let err = c.release_number(sid).await.unwrap_err();
        assert!(matches!(err, TwilioError::Invalid(_)), "{sid:?}: {err:?}");
    }
    for sid in format!("PN{hex},RE{}.json,RE{}%2F", &hex[5..], &hex[3..]).split(',') {
        let err = c.recording_media(sid).await.unwrap_err();
        assert!(err.to_string().contains("RE and 32 hex digits"), "{sid:?}: {err}");
    }
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn recording_bytes_stream_back_unchanged() {
    let fake = FakeTwilio::start().await;
    let mut resp = client(&fake).recording_media(RECORDING).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    let mut got = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    let sent = fake_twilio::recording_bytes();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the bytes differ");
    assert_eq!(fake.seen()[0].0, format!("Recordings/{RECORDING}.mp3"));
}

#[tokio::test]
async fn twilios_error_bodies_come_back_for_numbers_and_recordings() {
    let fake = FakeTwilio::start().await;
    let api = |r: Result<(), TwilioError>| match r {
        Err(TwilioError::Api(e)) => (e.status, e.code),
        other => panic!("{other:?}"),
    };
    let (c, wrong) = (client(&fake), client_with_token(&fake, "wrong-token"));
    let missing = "RE00000000000000000000000000000000";
    let got = [
        api(c.provision_number("+15005550000", "v", "s", "st").await.map(drop)),
        api(c.search_numbers("GB", None, None, 5).await.map(drop)),
        api(c.recording_media(missing).await.map(drop)),
        api(wrong.recording_media(RECORDING).await.map(drop)),
        api(wrong.search_numbers("US", None, None, 5).await.map(drop)),
        api(wrong.release_number(&format!("PN{:0>32}", "1")).await),
    ];
    let unauthorized = (401, Some(20003));
    let expected = [
        (400, Some(21422)),
        (404, Some(20404)),
        (404, Some(20404)),
        unauthorized,
        unauthorized,
        unauthorized,
    ];
    assert_eq!(got, expected);
}

#[tokio::test]
async fn the_fake_refuses_what_twilio_refuses() {
    let fake = FakeTwilio::start().await;
    let http = reqwest::Client::new();
    let calls = format!("{}/2010-04-01/Accounts/{SID}/Calls.json", fake.url);
    // Not form-encoded.
    let resp = http
        .post(&calls)
        .basic_auth(SID, Some(TOKEN))
        .json(&serde_json::json!({"To": "+1"}))
        .send()
        .await;
    let resp = resp.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (body["code"].as_i64(), body["status"].as_u64()),
        (Some(20001), Some(400))
    );
    // No credentials, and another account's path.
    let resp = http.post(&calls).form(&[("To", "+14155552671")]).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let other = calls.replace(SID, "AC00000000000000000000000000000000");
    let resp = http
        .post(&other)
        .basic_auth(SID, Some(TOKEN))
        .form(&[("To", "+1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A resource it does not serve: Twilio's 404 body, not an empty one.
    let queues = calls.replace("Calls.json", "Queues.json");
    let resp = http.get(&queues).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20404);
    // A text with no body.
    let messages = calls.replace("Calls.json", "Messages.json");
    let form = [("From", "+14155550100"), ("To", "+14155552671"), ("Body", "")];
    let resp = http
        .post(&messages)
        .basic_auth(SID, Some(TOKEN))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(fake.seen_of("Calls.json").is_empty());
    assert_eq!(fake.seen_of("Messages.json").len(), 1);
}

/// A webhook that checks the signature the way switchboard is configured:
/// over its public URL, not the address it listens on.
async fn receiver(public_url: &'static str) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: HeaderMap, body: String| async move {
                let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
                let sig = headers
                    .get("x-twilio-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let url = format!("{public_url}{}", uri.path_and_query().map_or("", |p| p.as_str()));
                match signature::is_valid(TOKEN, &url, &params, sig) {
                    true => (StatusCode::OK, [("content-type", "text/xml")], "<Response/>"),
                    false => (StatusCode::FORBIDDEN, [("content-type", "text/plain")], "bad signature"),
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_webhook_is_signed_over_the_public_url() {
    let public = "https://sb.example";
    let base = receiver(public).await;
    let http = reqwest::Client::new();
    let params = [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("Body", "héllo & = +"),
    ];
    let path = "/hook?callId=c1&x=%20";
    let got = fake_twilio::post_webhook(&http, public, &base, path, &params).await;
    assert_eq!(got, (200, "<Response/>".to_owned(), "text/xml".to_owned()));
    // A trailing slash on the public URL changes nothing.
    let (status, ..) = fake_twilio::post_webhook(&http, "https://sb.example/", &base, path, &params).await;
    assert_eq!(status, 200);
    // Signed over where the server listens, wrong, or missing: refused.
    let over_base = fake_twilio::sign(&format!("{base}{path}"), &params);
    let other_params = fake_twilio::sign(&format!("{public}{path}"), &params[..1]);
    for sig in [
        Some(over_base.as_str()),
        Some(other_params.as_str()),
        Some("bm9wZQ=="),
        None,
    ] {
        let got = fake_twilio::post_webhook_signed_with(&http, &base, path, &params, sig).await;
        assert_eq!((got.0, got.2.as_str()), (403, "text/plain"), "{sig:?}");
    }
}
