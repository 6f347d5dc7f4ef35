//! A fake Twilio for the integration tests: its REST API as documented (Calls, Messages, AvailablePhoneNumbers, IncomingPhoneNumbers, Recordings media), and webhooks signed as Twilio signs them.
//!
//! [`FakeTwilio::start`] serves, on 127.0.0.1:0, the paths under
//! `/2010-04-01/Accounts/{AccountSid}/` that switchboard calls. Every request
//! must carry Basic auth with [`SID`] and [`TOKEN`] (else Twilio's 401, code
//! 20003), a POST must be form-encoded (else 400), and a refusal is Twilio's
//! JSON error body (`code`, `message`, `more_info`, `status`). What the fake
//! received is kept in order ([`FakeTwilio::seen`]); [`FakeTwilio::fail_next`]
//! makes the next request fail with a chosen Twilio error.
//!
//! [`post_webhook`] plays Twilio calling switchboard back: a form POST with
//! `X-Twilio-Signature` computed over the public URL (the one configured at
//! Twilio), whatever address the server actually listens on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use switchboard::phone::rest::TwilioAccount;
use switchboard::phone::signature;

/// The account: `AC` and 32 hex digits, as the config requires.
pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
/// The account's auth token (Twilio's are 32 hex digits).
pub const TOKEN: &str = "fedcba9876543210fedcba9876543210";
/// The one recording the fake holds ([`recording_bytes`]).
pub const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";

/// The numbers on offer: (E.164, locality, its SMS and MMS capabilities).
/// All are US numbers with voice; provisioning one gives it the SID
/// `PN` + its digits zero-padded to 32.
pub const STOCK: [(&str, Option<&str>, bool, bool); 4] = [
    ("+14155550100", Some("San Francisco"), true, true),
    ("+14155550123", Some("San Francisco"), true, false),
    ("+15105550142", None, false, false),
    ("+15105550199", Some("Oakland"), true, true),
];

/// A request the fake received: the resource under the account (e.g.
/// `Calls.json`, `IncomingPhoneNumbers/PN….json`) and its form fields (the
/// query's for a GET), in order.
pub type Seen = (String, Vec<(String, String)>);

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    /// The SIDs of the IncomingPhoneNumbers provisioned and not yet released.
    owned: Vec<String>,
    /// Errors the next requests answer: (HTTP status, Twilio code, message).
    failures: VecDeque<(u16, i64, String)>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the request, then answers the first failure queued, if any.
    fn receive(&self, resource: &str, fields: &[(String, String)]) -> Result<(), Refused> {
        let mut inner = self.lock();
        inner.seen.push((resource.to_owned(), fields.to_vec()));
        match inner.failures.pop_front() {
            Some((status, code, message)) => Err(error(status, code, &message)),
            None => Ok(()),
        }
    }
}

/// A running fake Twilio. Clones share it.
#[derive(Clone)]
pub struct FakeTwilio {
    /// Its API root, e.g. `http://127.0.0.1:40123` (for `TWILIO_API_URL`).
    pub url: String,
    state: Shared,
}

impl FakeTwilio {
    /// Serves on 127.0.0.1:0 for as long as the test's runtime runs.
    pub async fn start() -> FakeTwilio {
        let state = Shared::default();
        let at = |path: &str| format!("/2010-04-01/Accounts/{{account}}/{path}");
        let app = axum::Router::new()
            .route(&at("Calls.json"), routing::post(calls))
            .route(&at("Messages.json"), routing::post(messages))
            .route(&at("AvailablePhoneNumbers/{country}/{file}"), routing::get(search))
            .route(&at("IncomingPhoneNumbers.json"), routing::post(provision))
            .route(&at("IncomingPhoneNumbers/{file}"), routing::delete(release))
            .route(&at("Recordings/{file}"), routing::get(media))
            .fallback(unknown)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTwilio { url, state }
    }

    /// The account as switchboard's client takes it: this fake, [`SID`], [`TOKEN`].
    pub fn account(&self) -> TwilioAccount {
        TwilioAccount {
            api_url: self.url.clone(),
            account_sid: SID.to_owned(),
            auth_token: TOKEN.to_owned(),
        }
    }

    /// Every authorized request received so far, in order (a refused
    /// credential or content type is not kept; a request refused for its
    /// content, or by [`Self::fail_next`], is).
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().seen.clone()
    }

    /// The fields of each request to `resource` (e.g. `"Calls.json"`), in order.
    pub fn seen_of(&self, resource: &str) -> Vec<Vec<(String, String)>> {
        let inner = self.state.lock();
        inner
            .seen
            .iter()
            .filter(|(r, _)| r == resource)
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// The next authorized request, to any endpoint, is answered this
    /// Twilio error instead (e.g. `503, 20500`, or `429, 20429`), and does
    /// nothing. Called n times, the next n requests fail, in that order.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        self.state.lock().failures.push_back((status, code, message.to_owned()));
    }

    /// The SIDs of the numbers provisioned and not released, in order.
    pub fn owned(&self) -> Vec<String> {
        self.state.lock().owned.clone()
    }
}

/// The signature Twilio sends, with [`TOKEN`], for `params` POSTed to `url`
/// (the full URL as configured at Twilio, query included).
pub fn sign(url: &str, params: &[(&str, &str)]) -> String {
    let params: Vec<(String, String)> = params.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    signature::compute(TOKEN, url, &params)
}

/// Twilio calling a webhook: POSTs `params` form-encoded to
/// `base + path_and_query` (where the server listens), signed over
/// `public_url + path_and_query` (what Twilio was given). Answers the
/// status, the body and its content type.
pub async fn post_webhook(
    client: &reqwest::Client,
    public_url: &str,
    base: &str,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> (u16, String, String) {
    let signature = sign(&format!("{}{path_and_query}", public_url.trim_end_matches('/')), params);
    post_webhook_signed_with(client, base, path_and_query, params, Some(&signature)).await
}

/// [`post_webhook`] with the `X-Twilio-Signature` given (a wrong one), or
/// none at all.
pub async fn post_webhook_signed_with(
    client: &reqwest::Client,
    base: &str,
    path_and_query: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> (u16, String, String) {
    let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
    let mut request = client.post(&url).header("user-agent", "TwilioProxy/1.1").form(params);
    if let Some(s) = signature {
        request = request.header("x-twilio-signature", s);
    }
    let resp = request.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, resp.text().await.unwrap_or_default(), content_type)
}

/// The recording's MP3 (300 kB of every byte value), sent as a chunked stream.
pub fn recording_bytes() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A handler's answer: a refusal is Twilio's error body.
type Answer = Result<Response, Refused>;

/// Twilio's error body and its HTTP status.
struct Refused(StatusCode, Value);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn error(status: u16, code: i64, message: &str) -> Refused {
    let body = json!({"code": code, "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
    Refused(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

fn not_found(resource: &str) -> Refused {
    let message = format!("The requested resource /2010-04-01/Accounts/{SID}/{resource} was not found");
    error(404, 20404, &message)
}

/// Twilio's 401 unless the request is the account's, with its Basic auth.
fn authorized(account: &str, headers: &HeaderMap) -> Result<(), Refused> {
    let want = format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")));
    let got = headers.get("authorization").and_then(|v| v.to_str().ok());
    match account == SID && got == Some(want.as_str()) {
        true => Ok(()),
        false => Err(error(401, 20003, "Authenticate")),
    }
}

/// The form fields of a POST, which must be form-encoded.
fn form_of(headers: &HeaderMap, body: &str) -> Result<Vec<(String, String)>, Refused> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(error(400, 20001, "form-encoded bodies only"));
    }
    serde_urlencoded::from_str(body).map_err(|_| error(400, 20001, "the body is not form-encoded"))
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// Auth, the form, then the request recorded (and any failure queued answered).
fn admit(
    fake: &Shared,
    account: &str,
    headers: &HeaderMap,
    resource: &str,
    body: &str,
) -> Result<Vec<(String, String)>, Refused> {
    authorized(account, headers)?;
    let form = form_of(headers, body)?;
    fake.receive(resource, &form)?;
    Ok(form)
}

/// A new SID: the prefix and 32 random hex digits.
fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Twilio's date format (RFC 2822), now.
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// A North American number as Twilio formats it; others as they are.
fn friendly(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(d) if d.len() == 10 => format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        _ => e164.to_owned(),
    }
}

/// Twilio's 21211 unless `to` is E.164.
fn check_to(to: &str) -> Result<(), Refused> {
    let digits = to.strip_prefix('+').unwrap_or_default();
    match (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        true => Ok(()),
        false => Err(error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        )),
    }
}

/// The Call resource, created `queued` (201).
async fn calls(State(fake): State<Shared>, Path(account): Path<String>, headers: HeaderMap, body: String) -> Answer {
    let form = admit(&fake, &account, &headers, "Calls.json", &body)?;
    let (from, to) = (
        field(&form, "From").unwrap_or_default(),
        field(&form, "To").unwrap_or_default(),
    );
    check_to(&to)?;
    let (sid, date) = (new_sid("CA"), now());
    let uri = format!("/2010-04-01/Accounts/{SID}/Calls/{sid}");
    let sub = |name: &str| format!("{uri}/{name}.json");
    let body = json!({"account_sid": SID, "annotation": null, "answered_by": null, "api_version": "2010-04-01",
        "caller_name": null, "date_created": date, "date_updated": date, "direction": "outbound-api",
        "duration": null, "end_time": null, "forwarded_from": null, "from": from, "from_formatted": friendly(&from),
        "group_sid": null, "parent_call_sid": null, "phone_number_sid": null, "price": null, "price_unit": "USD",
        "queue_time": "0", "sid": sid, "start_time": null, "status": "queued",
        "subresource_uris": {"notifications": sub("Notifications"), "recordings": sub("Recordings"),
            "payments": sub("Payments"), "events": sub("Events"), "siprec": sub("Siprec"), "streams": sub("Streams"),
            "transcriptions": sub("Transcriptions"), "user_defined_message_subscriptions":
            sub("UserDefinedMessageSubscriptions"), "user_defined_messages": sub("UserDefinedMessages")},
        "to": to, "to_formatted": friendly(&to), "trunk_sid": null, "uri": format!("{uri}.json")});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The Message resource, created `queued` (201), its segments counted.
async fn messages(State(fake): State<Shared>, Path(account): Path<String>, headers: HeaderMap, body: String) -> Answer {
    let form = admit(&fake, &account, &headers, "Messages.json", &body)?;
    let (from, to) = (
        field(&form, "From").unwrap_or_default(),
        field(&form, "To").unwrap_or_default(),
    );
    let text = field(&form, "Body").unwrap_or_default();
    check_to(&to)?;
    if text.is_empty() {
        return Err(error(400, 21602, "Message body is required."));
    }
    let (sid, date) = (new_sid("SM"), now());
    let uri = format!("/2010-04-01/Accounts/{SID}/Messages/{sid}");
    let body = json!({"account_sid": SID, "api_version": "2010-04-01", "body": text, "date_created": date,
        "date_sent": null, "date_updated": date, "direction": "outbound-api", "error_code": null,
        "error_message": null, "from": from, "messaging_service_sid": null, "num_media": "0",
        "num_segments": num_segments(&text).to_string(), "price": null, "price_unit": "USD", "sid": sid,
        "status": "queued", "subresource_uris": {"media": format!("{uri}/Media.json")}, "to": to,
        "uri": format!("{uri}.json")});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// The segments Twilio counts for a body: GSM-7 (160 septets, 153 per
/// segment once split) if every character is in it, else UCS-2 (70 UTF-16
/// units, 67 per segment); no character is split across segments.
fn num_segments(body: &str) -> usize {
    let septets = |c: char| match (GSM7_BASIC.contains(c), GSM7_EXTENSION.contains(c)) {
        (true, _) => Some(1),
        (_, true) => Some(2),
        _ => None,
    };
    let (sizes, single, per_segment) = match body.chars().map(septets).collect::<Option<Vec<_>>>() {
        Some(sizes) => (sizes, 160, 153),
        None => (body.chars().map(char::len_utf16).collect(), 70, 67),
    };
    if sizes.iter().sum::<usize>() <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for size in sizes {
        if used + size > per_segment {
            (count, used) = (count + 1, 0);
        }
        used += size;
    }
    count
}

/// AvailablePhoneNumbers' documented page; capabilities keyed `voice`, `SMS`, `MMS`.
async fn search(
    State(fake): State<Shared>,
    Path((account, country, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Answer {
    authorized(&account, &headers)?;
    let resource = format!("AvailablePhoneNumbers/{country}/{file}");
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&query.unwrap_or_default()).unwrap_or_default();
    fake.receive(&resource, &query)?;
    if country != "US" || file != "Local.json" {
        return Err(not_found(&resource));
    }
    let size: usize = field(&query, "PageSize").map_or(50, |p| p.parse().unwrap_or(0));
    let pattern = field(&query, "Contains").unwrap_or_default().replace(['*', '%'], "");
    let area = field(&query, "AreaCode");
    let numbers: Vec<_> = STOCK
        .iter()
        .filter(|(n, ..)| area.as_ref().is_none_or(|a| n[2..].starts_with(a.as_str())) && n.contains(&pattern))
        .take(size)
        .map(|&(n, locality, sms, mms)| {
            json!({"friendly_name": friendly(n), "phone_number": n, "lata": "722", "locality": locality,
                "rate_center": "SNFC CNTRL", "latitude": "37.780000", "longitude": "-122.420000",
                "region": locality.map(|_| "CA"), "postal_code": "94110", "iso_country": "US",
                "address_requirements": "none", "beta": false,
                "capabilities": {"voice": true, "SMS": sms, "MMS": mms, "fax": false}})
        })
        .collect();
    let uri = format!("/2010-04-01/Accounts/{SID}/{resource}");
    let page = json!({"available_phone_numbers": numbers, "end": numbers.len().saturating_sub(1),
        "first_page_uri": format!("{uri}?PageSize={size}&Page=0"), "next_page_uri": null, "page": 0,
        "page_size": size, "previous_page_uri": null, "start": 0, "uri": format!("{uri}?PageSize={size}")});
    Ok(axum::Json(page).into_response())
}

/// IncomingPhoneNumbers' documented resource (201); capabilities keyed `voice`, `sms`, `mms`.
async fn provision(
    State(fake): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let form = admit(&fake, &account, &headers, "IncomingPhoneNumbers.json", &body)?;
    let get = |k: &str| field(&form, k);
    let number = get("PhoneNumber").unwrap_or_default();
    let Some(&(n, _, sms, mms)) = STOCK.iter().find(|(n, ..)| *n == number) else {
        return Err(error(400, 21422, &format!("PhoneNumber {number} is not available")));
    };
    let sid = format!("PN{:0>32}", &n[1..]);
    fake.lock().owned.push(sid.clone());
    let date = now();
    let body = json!({"account_sid": SID, "address_requirements": "none", "address_sid": null, "api_version": "2010-04-01",
        "beta": false, "capabilities": {"voice": true, "sms": sms, "mms": mms, "fax": false},
        "date_created": date, "date_updated": date,
        "emergency_status": "Active", "friendly_name": friendly(n), "identity_sid": null, "origin": "twilio",
        "phone_number": n, "sid": sid, "sms_application_sid": "", "sms_fallback_method": "POST",
        "sms_fallback_url": "", "sms_method": get("SmsMethod"), "sms_url": get("SmsUrl"),
        "status_callback": get("StatusCallback"), "status_callback_method": get("StatusCallbackMethod"),
        "trunk_sid": null, "uri": format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{sid}.json"),
        "voice_application_sid": "", "voice_caller_id_lookup": false, "voice_fallback_method": "POST",
        "voice_fallback_url": null, "voice_method": get("VoiceMethod"), "voice_url": get("VoiceUrl"),
        "status": "in-use"});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// 204 with no body for a number the account has; 404 and Twilio's error body otherwise.
async fn release(
    State(fake): State<Shared>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    authorized(&account, &headers)?;
    let resource = format!("IncomingPhoneNumbers/{file}");
    fake.receive(&resource, &[])?;
    let mut inner = fake.lock();
    let Some(i) = inner.owned.iter().position(|sid| file == format!("{sid}.json")) else {
        return Err(not_found(&resource));
    };
    inner.owned.remove(i);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// [`RECORDING`]'s MP3, in 64 KiB chunks; any other recording is 404.
async fn media(
    State(fake): State<Shared>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    authorized(&account, &headers)?;
    let resource = format!("Recordings/{file}");
    fake.receive(&resource, &[])?;
    if file != format!("{RECORDING}.mp3") {
        return Err(not_found(&resource));
    }
    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> =
        recording_bytes().chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    Ok(([("content-type", "audio/mpeg")], body).into_response())
}

/// Any other path or method: Twilio's 404 body.
async fn unknown(uri: axum::http::Uri) -> Refused {
    let path = uri.path();
    let message = format!("The requested resource {path} was not found");
    error(404, 20404, &message)
}
