//! A fake MightyCall for the integration tests: the token request as MightyCall documents it, and the call list in the shape public clients read.
//!
//! - `POST /v4/auth/token` wants `x-api-key` and a form body:
//!   `grant_type=client_credentials` with `client_id` (the API key) and
//!   `client_secret` (the user key), or `grant_type=refresh_token` with the
//!   `refresh_token` ("Authentication via API"). It answers `access_token`,
//!   `token_type`, `expires_in` (24 h) and `refresh_token`; a wrong key or
//!   user key is `400 {"error": "invalid_client"}`, a refresh token that is
//!   not the current one `400 {"error": "invalid_grant"}`.
//! - `GET /v4/api/calls` wants `Authorization: Bearer` and `x-api-key`,
//!   filters on `startUtc`/`endUtc` (UTC, no zone), pages by
//!   `skip`/`pageSize`, newest first, and answers
//!   `{"data": {"calls": [...], "total": N}}`. This part is not in
//!   MightyCall's readable documentation (docs/integrations.md).
//!
//! Knobs: omit `total`; add a call at the top of the list after the first
//! page (offset paging then repeats one call); answer the next requests
//! `429` with `Retry-After`; expire access tokens after N call-list requests;
//! revoke the refresh token; disable the user key.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing;
use serde_json::{Value, json};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

pub const API_KEY: &str = "3f9a6c1e-7b2d-4f10-9e8a-0c5d2b7a1e44";
pub const USER_KEY: &str = "b4e2d8a0-1c6f-4a3b-8d92-7e5f0a1c3b66";

/// One call in the fake's list.
#[derive(Clone, Debug)]
pub struct McCall {
    pub id: String,
    pub start_ms: i64,
    pub duration_ms: i64,
    /// `Incoming` | `Outgoing`.
    pub direction: &'static str,
    pub status: String,
    /// The customer's number.
    pub customer: String,
    /// Our business number.
    pub business: String,
    /// The extension on our side.
    pub extension: Option<String>,
}

impl McCall {
    fn json(&self) -> Value {
        let ours = json!({"name": "Agent", "phone": self.business, "extension": self.extension});
        let theirs = json!({"name": "Customer", "phone": self.customer, "extension": null});
        let connected = self.status == "Connected";
        let (caller, mut called) = if self.direction == "Incoming" {
            (theirs, ours)
        } else {
            (ours, theirs)
        };
        called["isConnected"] = json!(connected);
        json!({
            "id": self.id,
            "direction": self.direction,
            "callStatus": self.status,
            "dateTimeUtc": utc(self.start_ms),
            "duration": self.duration_ms,
            "businessNumber": self.business,
            "caller": caller,
            "called": [called],
            "callRecord": if connected { json!({"fileName": format!("{}.mp3", self.id), "uri": format!("https://recordings.invalid/{}.mp3", self.id)}) } else { Value::Null },
        })
    }
}

pub fn utc(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap()
}

fn parse_utc(s: &str) -> Option<i64> {
    PrimitiveDateTime::parse(s, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .ok()
        .map(|t| (t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

#[derive(Default)]
struct Inner {
    calls: Vec<McCall>,
    access: Vec<(String, Option<u32>)>,
    refresh: Option<String>,
    issued: u32,
    key_disabled: bool,
    omit_total: bool,
    /// Added at the top once the first page was served.
    arrives_mid_sync: Option<McCall>,
    throttle: Vec<u64>,
    next_token_budget: Option<u32>,
    key_grants: u32,
    refresh_grants: u32,
    refused: u32,
    list_requests: u32,
    throttled: u32,
    /// Every `(skip, pageSize)` the call list was asked for.
    pages_asked: Vec<(u64, u64)>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the fake counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McCounts {
    pub key_grants: u32,
    pub refresh_grants: u32,
    pub refused: u32,
    pub list_requests: u32,
    pub throttled: u32,
}

/// A running fake MightyCall. Clones share it.
#[derive(Clone)]
pub struct FakeMightyCall {
    /// Its API URL (`MIGHTYCALL_API_URL`), ending in `/v4`.
    pub url: String,
    state: Shared,
}

impl FakeMightyCall {
    pub async fn start() -> FakeMightyCall {
        let state = Shared::default();
        let app = axum::Router::new()
            .route("/v4/auth/token", routing::post(token))
            .route("/v4/api/calls", routing::get(calls))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v4", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeMightyCall { url, state }
    }

    pub fn add(&self, c: McCall) {
        self.state.lock().calls.push(c);
    }

    pub fn update(&self, id: &str, change: impl FnOnce(&mut McCall)) {
        let mut inner = self.state.lock();
        change(inner.calls.iter_mut().find(|c| c.id == id).expect("no such call"));
    }

    pub fn omit_total(&self, on: bool) {
        self.state.lock().omit_total = on;
    }

    /// `c` joins the top of the list right after the next first page is served.
    pub fn arrives_mid_sync(&self, c: McCall) {
        self.state.lock().arrives_mid_sync = Some(c);
    }

    pub fn throttle_next(&self, retry_after_secs: &[u64]) {
        self.state.lock().throttle.extend_from_slice(retry_after_secs);
    }

    /// Access tokens issued from now on serve `n` call-list requests, then answer `401`.
    pub fn tokens_serve(&self, n: u32) {
        self.state.lock().next_token_budget = Some(n);
    }

    pub fn expire_access_tokens(&self) {
        self.state.lock().access.clear();
    }

    pub fn revoke_refresh_token(&self) {
        self.state.lock().refresh = None;
    }

    /// The user key is turned off in MightyCall: `client_credentials` is refused.
    pub fn disable_user_key(&self) {
        self.state.lock().key_disabled = true;
    }

    pub fn counts(&self) -> McCounts {
        let i = self.state.lock();
        McCounts {
            key_grants: i.key_grants,
            refresh_grants: i.refresh_grants,
            refused: i.refused,
            list_requests: i.list_requests,
            throttled: i.throttled,
        }
    }

    pub fn pages_asked(&self) -> Vec<(u64, u64)> {
        self.state.lock().pages_asked.clone()
    }
}

fn error(status: StatusCode, error: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": error }).to_string(),
    )
        .into_response()
}

fn issue(inner: &mut Inner) -> Value {
    inner.issued += 1;
    let n = inner.issued;
    let access = format!("mc-access-{n}");
    let refresh = format!("mc-refresh-{n}");
    let budget = inner.next_token_budget;
    inner.access.push((access.clone(), budget));
    inner.refresh = Some(refresh.clone());
    json!({"access_token": access, "token_type": "bearer", "expires_in": 86_400, "refresh_token": refresh})
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut inner = s.lock();
    let answer = match get("grant_type") {
        Some("client_credentials") => {
            if get("client_id") != Some(API_KEY) || get("client_secret") != Some(USER_KEY) || inner.key_disabled {
                inner.refused += 1;
                return error(StatusCode::BAD_REQUEST, "invalid_client");
            }
            inner.key_grants += 1;
            issue(&mut inner)
        }
        Some("refresh_token") => {
            // The documented refresh body is the grant and the token alone.
            if get("client_secret").is_some()
                || get("refresh_token").is_none()
                || inner.refresh.as_deref() != get("refresh_token")
            {
                inner.refused += 1;
                return error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            inner.refresh_grants += 1;
            inner.access.clear();
            issue(&mut inner)
        }
        _ => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

fn check_bearer(inner: &mut Inner, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return Err(Box::new(error(StatusCode::FORBIDDEN, "invalid_api_key")));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    match inner.access.iter_mut().find(|(t, _)| *t == token) {
        None | Some((_, Some(0))) => Err(Box::new(error(StatusCode::UNAUTHORIZED, "invalid_token"))),
        Some((_, Some(n))) => {
            *n -= 1;
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

async fn calls(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    let mut inner = s.lock();
    inner.list_requests += 1;
    if !inner.throttle.is_empty() {
        let secs = inner.throttle.remove(0);
        inner.throttled += 1;
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_str(&secs.to_string()).unwrap());
        return r;
    }
    if let Err(r) = check_bearer(&mut inner, &headers) {
        return *r;
    }
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(from), Some(to)) = (
        get("startUtc").and_then(|d| parse_utc(&d)),
        get("endUtc").and_then(|d| parse_utc(&d)),
    ) else {
        return error(StatusCode::BAD_REQUEST, "startUtc and endUtc are required");
    };
    let skip: u64 = get("skip").and_then(|p| p.parse().ok()).unwrap_or(0);
    let size: u64 = get("pageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    inner.pages_asked.push((skip, size));
    let mut matching: Vec<&McCall> = inner
        .calls
        .iter()
        .filter(|c| c.start_ms >= from && c.start_ms < to)
        .collect();
    matching.sort_by(|a, b| b.start_ms.cmp(&a.start_ms).then(a.id.cmp(&b.id)));
    let total = matching.len() as u64;
    let page: Vec<Value> = matching
        .iter()
        .skip(skip as usize)
        .take(size as usize)
        .map(|c| c.json())
        .collect();
    let mut data = json!({ "calls": page });
    if !inner.omit_total {
        data["total"] = json!(total);
    }
    if skip == 0
        && let Some(c) = inner.arrives_mid_sync.take()
    {
        inner.calls.push(c);
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "data": data }).to_string(),
    )
        .into_response()
}
