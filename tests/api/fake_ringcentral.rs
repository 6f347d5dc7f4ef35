//! A fake RingCentral for the integration tests: the OAuth endpoints and the account call log as RingCentral documents them.
//!
//! - `GET /restapi/oauth/authorize` redirects (302) to the `redirect_uri`
//!   with `code` and `state`, as RingCentral's login page does once the
//!   user grants access.
//! - `POST /restapi/oauth/token` takes Basic client auth and a form body
//!   (`grant_type=authorization_code` with `code` and `redirect_uri`, or
//!   `grant_type=refresh_token`); it answers `access_token`, `token_type`,
//!   `expires_in`, `refresh_token`, `refresh_token_expires_in`, `scope`,
//!   `owner_id`, `endpoint_id`. Refresh tokens are single use: a reused one
//!   is `400 invalid_grant` ("Token not found", `OAU-211`).
//! - `GET /restapi/v1.0/account/~` answers the account (`id`).
//! - `GET /restapi/v1.0/account/~/call-log` filters on `dateFrom`/`dateTo`,
//!   pages by `page`/`perPage`, and answers `records`, `paging` and
//!   `navigation` (`nextPage` while more remain), with
//!   `X-Rate-Limit-{Group,Limit,Remaining,Window}` headers.
//!
//! Knobs: omit the totals from `paging`; answer the next N call-log requests
//! with `429` and `Retry-After`; expire the access token after N call-log
//! requests; repeat the last record of each page at the top of the next;
//! change a record (a later version, with a new `lastModifiedTime`).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const CLIENT_ID: &str = "rc-client-id";
pub const CLIENT_SECRET: &str = "rc-client-secret";
pub const ACCOUNT_ID: &str = "37439510";
/// The code the authorize page hands out.
pub const CODE: &str = "U0pDMTFQMDFQQVMwMXxBQUJfTVpHWk";

/// One call in the fake's log.
#[derive(Clone, Debug)]
pub struct Rec {
    pub id: String,
    pub start_ms: i64,
    pub duration: i64,
    /// `Inbound` | `Outbound`.
    pub direction: &'static str,
    pub result: String,
    pub from: Option<String>,
    pub from_ext: Option<String>,
    pub to: Option<String>,
    pub to_ext: Option<String>,
    pub modified_ms: i64,
}

impl Rec {
    fn json(&self, base: &str) -> Value {
        let party = |n: &Option<String>, e: &Option<String>| {
            let mut p = json!({});
            if let Some(n) = n {
                p["phoneNumber"] = json!(n);
            }
            if let Some(e) = e {
                p["extensionNumber"] = json!(e);
            }
            p
        };
        json!({
            "uri": format!("{base}/restapi/v1.0/account/{ACCOUNT_ID}/call-log/{}?view=Detailed", self.id),
            "id": self.id,
            "sessionId": format!("4{}", self.start_ms % 100_000_000),
            "telephonySessionId": format!("s-{}", self.id),
            "startTime": iso(self.start_ms),
            "duration": self.duration,
            "type": "Voice",
            "internalType": "Local",
            "direction": self.direction,
            "action": if self.direction == "Inbound" { "Phone Call" } else { "VoIP Call" },
            "result": self.result,
            "from": party(&self.from, &self.from_ext),
            "to": party(&self.to, &self.to_ext),
            "lastModifiedTime": iso(self.modified_ms),
            "transport": "PSTN",
            "legs": []
        })
    }
}

pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn parse_iso(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[derive(Default)]
struct Inner {
    base: String,
    records: Vec<Rec>,
    /// Access tokens that work, with the call-log requests each has left (None: unlimited).
    access: Vec<(String, Option<u32>)>,
    /// The one refresh token that works now.
    refresh: Option<String>,
    issued: u32,
    omit_totals: bool,
    repeat_last: bool,
    /// Call-log requests answered `429` next, with this `Retry-After`.
    throttle: Vec<u64>,
    /// Call-log requests the next issued access token serves before it expires.
    next_token_budget: Option<u32>,
    pub refreshes: u32,
    pub refused_refreshes: u32,
    pub code_exchanges: u32,
    pub log_requests: u32,
    pub throttled: u32,
    /// Every authorization header the call log saw.
    pub bearer_seen: Vec<String>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake RingCentral. Clones share it.
#[derive(Clone)]
pub struct FakeRingCentral {
    /// Its server URL (`RINGCENTRAL_SERVER_URL`).
    pub url: String,
    state: Shared,
}

/// What the fake counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub code_exchanges: u32,
    pub refreshes: u32,
    pub refused_refreshes: u32,
    pub log_requests: u32,
    pub throttled: u32,
}

impl FakeRingCentral {
    pub async fn start() -> FakeRingCentral {
        let state = Shared::default();
        let app = axum::Router::new()
            .route("/restapi/oauth/authorize", routing::get(authorize))
            .route("/restapi/oauth/token", routing::post(token))
            .route("/restapi/v1.0/account/~", routing::get(account))
            .route("/restapi/v1.0/account/~/call-log", routing::get(call_log))
            .route(
                &format!("/restapi/v1.0/account/{ACCOUNT_ID}/call-log"),
                routing::get(call_log),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        state.lock().base = url.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeRingCentral { url, state }
    }

    pub fn add(&self, r: Rec) {
        self.state.lock().records.push(r);
    }

    /// Replaces record `id` by `change(old)` with a later `lastModifiedTime`.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Rec)) {
        let mut inner = self.state.lock();
        let r = inner.records.iter_mut().find(|r| r.id == id).expect("no such record");
        change(r);
        r.modified_ms += 60_000;
    }

    pub fn omit_totals(&self, on: bool) {
        self.state.lock().omit_totals = on;
    }

    /// Each page starts with the record that ended the previous one.
    pub fn repeat_last_record(&self, on: bool) {
        self.state.lock().repeat_last = on;
    }

    /// The next call-log requests answer `429` with these `Retry-After` seconds.
    pub fn throttle_next(&self, retry_after_secs: &[u64]) {
        self.state.lock().throttle.extend_from_slice(retry_after_secs);
    }

    /// Every access token issued from now on serves `n` call-log requests and then answers `401` (expired).
    pub fn tokens_serve(&self, n: u32) {
        self.state.lock().next_token_budget = Some(n);
    }

    /// Every access token stops working now (`401` on its next use).
    pub fn expire_access_tokens(&self) {
        self.state.lock().access.clear();
    }

    /// The refresh token is revoked: the next refresh is `invalid_grant`.
    pub fn revoke_refresh_token(&self) {
        self.state.lock().refresh = None;
    }

    pub fn counts(&self) -> Counts {
        let i = self.state.lock();
        Counts {
            code_exchanges: i.code_exchanges,
            refreshes: i.refreshes,
            refused_refreshes: i.refused_refreshes,
            log_requests: i.log_requests,
            throttled: i.throttled,
        }
    }

    /// Every access token the call log was sent, in order.
    pub fn bearers_seen(&self) -> Vec<String> {
        self.state.lock().bearer_seen.clone()
    }
}

fn rc_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"errorCode": code, "message": message, "errors": [{"errorCode": code, "message": message}]}).to_string(),
    )
        .into_response()
}

fn oauth_error(error: &str, description: &str, code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": error, "error_description": description,
            "errors": [{"errorCode": code, "message": description}]})
        .to_string(),
    )
        .into_response()
}

async fn authorize(Query(q): Query<Vec<(String, String)>>) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("response_type").as_deref() != Some("code") || get("client_id").as_deref() != Some(CLIENT_ID) {
        return oauth_error("invalid_request", "Unsupported response type or client", "OAU-250");
    }
    let (Some(redirect), Some(state)) = (get("redirect_uri"), get("state")) else {
        return oauth_error("invalid_request", "redirect_uri and state are required", "OAU-250");
    };
    let location: String = form_urlencoded::Serializer::new(format!("{redirect}?"))
        .append_pair("code", CODE)
        .append_pair("state", &state)
        .finish();
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn issue(inner: &mut Inner) -> Value {
    inner.issued += 1;
    let n = inner.issued;
    let access = format!("U1BCMDFQMDFQQVMwMXxBQUFG-access-{n}");
    let refresh = format!("U1BCMDFQMDFQQVMwMXxBQUFG-refresh-{n}");
    let budget = inner.next_token_budget;
    inner.access.push((access.clone(), budget));
    inner.refresh = Some(refresh.clone());
    json!({
        "access_token": access, "token_type": "bearer", "expires_in": 3600,
        "refresh_token": refresh, "refresh_token_expires_in": 604800,
        "scope": "ReadCallLog ReadAccounts", "owner_id": "1234567890", "endpoint_id": "AbCdEf"
    })
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": "invalid_client", "error_description": "Invalid client", "errors": [{"errorCode": "OAU-123"}]})
                .to_string(),
        )
            .into_response();
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut inner = s.lock();
    let answer = match get("grant_type") {
        Some("authorization_code") => {
            if get("code") != Some(CODE) || get("redirect_uri").is_none() {
                return oauth_error("invalid_grant", "Invalid authorization code", "OAU-109");
            }
            inner.code_exchanges += 1;
            issue(&mut inner)
        }
        Some("refresh_token") => {
            let given = get("refresh_token");
            if given.is_none() || inner.refresh.as_deref() != given {
                inner.refused_refreshes += 1;
                return oauth_error("invalid_grant", "Token not found", "OAU-211");
            }
            inner.refreshes += 1;
            // Single use: the old pair stops working.
            inner.access.clear();
            issue(&mut inner)
        }
        _ => return oauth_error("unsupported_grant_type", "Unsupported grant type", "OAU-251"),
    };
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

/// `Ok(())` if the bearer token works (and spends one call-log request of its budget when `spend`).
fn check_bearer(inner: &mut Inner, headers: &HeaderMap, spend: bool) -> Result<(), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    if spend {
        inner.bearer_seen.push(token.clone());
    }
    let Some(entry) = inner.access.iter_mut().find(|(t, _)| *t == token) else {
        return Err(Box::new(rc_error(
            StatusCode::UNAUTHORIZED,
            "TokenInvalid",
            "Token not found",
        )));
    };
    match &mut entry.1 {
        Some(0) => Err(Box::new(rc_error(
            StatusCode::UNAUTHORIZED,
            "TokenExpired",
            "Access token expired",
        ))),
        Some(n) if spend => {
            *n -= 1;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn account(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = s.lock();
    if let Err(r) = check_bearer(&mut inner, &headers, false) {
        return *r;
    }
    let base = inner.base.clone();
    Json(
        json!({"uri": format!("{base}/restapi/v1.0/account/{ACCOUNT_ID}"), "id": ACCOUNT_ID.parse::<i64>().unwrap(),
        "serviceInfo": {"brand": {"name": "RingCentral"}}, "status": "Confirmed"}),
    )
    .into_response()
}

async fn call_log(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut inner = s.lock();
    inner.log_requests += 1;
    if !inner.throttle.is_empty() {
        let secs = inner.throttle.remove(0);
        inner.throttled += 1;
        let mut r = rc_error(StatusCode::TOO_MANY_REQUESTS, "CMN-301", "Request rate exceeded");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_str(&secs.to_string()).unwrap());
        return r;
    }
    if let Err(r) = check_bearer(&mut inner, &headers, true) {
        return *r;
    }
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let from = get("dateFrom").and_then(|d| parse_iso(&d)).unwrap_or(i64::MIN);
    let to = get("dateTo").and_then(|d| parse_iso(&d)).unwrap_or(i64::MAX);
    let per_page: usize = get("perPage")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    // Newest first, as RingCentral lists them.
    let mut matching: Vec<&Rec> = inner
        .records
        .iter()
        .filter(|r| r.start_ms >= from && r.start_ms < to)
        .collect();
    matching.sort_by(|a, b| b.start_ms.cmp(&a.start_ms).then(a.id.cmp(&b.id)));
    let start = (page - 1) * per_page;
    let end = (start + per_page).min(matching.len());
    let base = inner.base.clone();
    let mut records: Vec<Value> = matching
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .map(|r| r.json(&base))
        .collect();
    if inner.repeat_last && start > 0 && start <= matching.len() {
        records.insert(0, matching[start - 1].json(&base));
    }
    let link = |p: usize| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q {
            if k != "page" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("page", &p.to_string());
        json!({"uri": format!("{base}/restapi/v1.0/account/{ACCOUNT_ID}/call-log?{}", ser.finish())})
    };
    let mut navigation = json!({"firstPage": link(1)});
    if end < matching.len() {
        navigation["nextPage"] = link(page + 1);
    }
    if page > 1 {
        navigation["previousPage"] = link(page - 1);
    }
    let mut paging = json!({"page": page, "perPage": per_page, "pageStart": start, "pageEnd": end.saturating_sub(1)});
    if !inner.omit_totals {
        paging["totalPages"] = json!(matching.len().div_ceil(per_page));
        paging["totalElements"] = json!(matching.len());
    }
    let body = json!({"uri": link(page)["uri"], "records": records, "paging": paging, "navigation": navigation});
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("x-rate-limit-group"),
                "heavy".to_owned(),
            ),
            (header::HeaderName::from_static("x-rate-limit-limit"), "10".to_owned()),
            (
                header::HeaderName::from_static("x-rate-limit-remaining"),
                "9".to_owned(),
            ),
            (header::HeaderName::from_static("x-rate-limit-window"), "60".to_owned()),
        ],
        body.to_string(),
    )
        .into_response()
}
