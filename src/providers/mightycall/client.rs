//! MightyCall's HTTP API: tokens from the org's API key and user key (`POST {api}/auth/token`), and call-list pages (`GET {api}/api/calls`).
//!
//! The token request is as MightyCall documents it ("Authentication via
//! API"): an `x-api-key` header and a form body — `grant_type=client_credentials`
//! with `client_id` (the API key) and `client_secret` (the user key), or
//! `grant_type=refresh_token` with only the `refresh_token`. It is a plain
//! form post because the `oauth2` crate's builders send neither the header
//! nor a refresh body without the client's fields. The call list's request
//! and answer are not in MightyCall's readable documentation; see
//! `records.rs` and docs/integrations.md for what is assumed, and why.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::records::{next_skip, parse_page};
use crate::model::Millis;
use crate::providers::http::{body, retry_after_ms, status_failure};
use crate::providers::{
    Auth, CallLogProvider, KeyCredentials, LogPage, ProviderFailure, ProviderKind, RateInfo, Tokens,
};

/// MightyCall's API for Call Center accounts (Classic accounts: `https://api.mightycall.com/v4`).
pub const MIGHTYCALL_API_URL: &str = "https://ccapi.mightycall.com/v4";
/// Calls per page asked for. MightyCall documents no maximum; public clients ask for up to 1,000.
pub const PAGE_SIZE: u32 = 100;
/// The token's life when the answer names none: MightyCall documents 24 hours.
const DEFAULT_EXPIRES: Duration = Duration::from_secs(24 * 3600);
/// Longest token-error text carried into the integration's `lastError`.
const ERROR_TEXT_MAX: usize = 200;

/// Where MightyCall is. Its credentials are each org's own (sealed with the integration).
#[derive(Clone, Debug)]
pub struct MightyCallSettings {
    /// [`MIGHTYCALL_API_URL`] (tests: a local fake), without a trailing `/`.
    pub api_url: String,
    /// Calls per page ([`PAGE_SIZE`]).
    pub page_size: u32,
}

/// The MightyCall adapter.
pub struct MightyCall {
    settings: MightyCallSettings,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    /// Seconds, as in RFC 6749 § 5.1.
    #[serde(default)]
    expires_in: Option<i64>,
}

impl MightyCall {
    /// An error says the URL is not one.
    pub fn new(settings: MightyCallSettings) -> Result<Self, String> {
        let api_url = settings.api_url.trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&api_url).is_err() {
            return Err("MIGHTYCALL_API_URL is not a URL".into());
        }
        Ok(Self {
            settings: MightyCallSettings { api_url, ..settings },
            http: crate::providers::http::client()?,
        })
    }

    fn calls_url(&self) -> String {
        format!("{}/api/calls", self.settings.api_url)
    }

    fn page_url(&self, from: &str, to: &str, skip: u64) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("startUtc", from)
            .append_pair("endUtc", to)
            .append_pair("skip", &skip.to_string())
            .append_pair("pageSize", &self.settings.page_size.max(1).to_string())
            .finish();
        format!("{}?{query}", self.calls_url())
    }

    /// One token request; `form` is the documented body for the grant.
    async fn token(&self, api_key: &str, form: &[(&str, &str)], now: Millis) -> Result<Tokens, ProviderFailure> {
        let resp = self
            .http
            .post(format!("{}/auth/token", self.settings.api_url))
            .header("x-api-key", api_key)
            .form(form)
            .send()
            .await
            .map_err(|e| ProviderFailure::Failed(format!("MightyCall unreachable: {e}")))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = body(resp, "a token answer").await?;
        if !status.is_success() {
            return Err(token_failure(status, &headers, &bytes));
        }
        let t: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|_| ProviderFailure::Failed("MightyCall's token answer is not understood".into()))?;
        if t.access_token.is_empty() {
            return Err(ProviderFailure::Failed(
                "MightyCall's token answer has no access_token".into(),
            ));
        }
        let life = t
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_EXPIRES, |s| Duration::from_secs(s as u64));
        Ok(Tokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token.filter(|r| !r.is_empty()),
            expires_at: now + life.as_millis() as i64,
        })
    }
}

/// A refused token request: `400`/`401`/`403` is a refusal (bad key, used refresh token), naming MightyCall's `error`.
fn token_failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ProviderFailure {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let word = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let mut detail = [word("error"), word("error_description"), word("message")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    if detail.is_empty() {
        detail = format!("MightyCall answered {status}");
    }
    if detail.len() > ERROR_TEXT_MAX {
        let cut = (0..=ERROR_TEXT_MAX)
            .rev()
            .find(|i| detail.is_char_boundary(*i))
            .unwrap_or(0);
        detail.truncate(cut);
    }
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ProviderFailure::Refused(detail),
        StatusCode::TOO_MANY_REQUESTS => ProviderFailure::RateLimited {
            retry_after_ms: retry_after_ms(headers),
        },
        _ => ProviderFailure::Failed(format!("token request failed: {detail}")),
    }
}

/// `startUtc`/`endUtc`: a UTC date and time without a zone, as public clients send them.
fn utc(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// MightyCall names no account id in a documented answer: the account is
/// known by a fingerprint of its API key (not reversible, not a secret), so a
/// reconnect with the same key keeps the sync's cursor.
pub fn key_fingerprint(api_key: &str) -> String {
    let digest = Sha256::digest(api_key.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("key-{hex}")
}

fn key_or_refused(key: Option<&KeyCredentials>) -> Result<&KeyCredentials, ProviderFailure> {
    key.ok_or_else(|| ProviderFailure::Refused("the integration holds no MightyCall key".into()))
}

#[async_trait::async_trait]
impl CallLogProvider for MightyCall {
    fn kind(&self) -> ProviderKind {
        ProviderKind::MightyCall
    }

    async fn issue(&self, key: &KeyCredentials, now: Millis) -> Result<Tokens, ProviderFailure> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", key.api_key.as_str()),
            ("client_secret", key.secret.as_str()),
        ];
        self.token(&key.api_key, &form, now).await
    }

    /// Spends the refresh token; if MightyCall refuses it, issues afresh from the org's key (both are documented ways to a token).
    async fn refresh(
        &self,
        key: Option<&KeyCredentials>,
        refresh_token: Option<&str>,
        now: Millis,
    ) -> Result<Tokens, ProviderFailure> {
        let key = key_or_refused(key)?;
        if let Some(r) = refresh_token {
            let form = [("grant_type", "refresh_token"), ("refresh_token", r)];
            match self.token(&key.api_key, &form, now).await {
                Err(ProviderFailure::Refused(_)) => {}
                other => return other,
            }
        }
        self.issue(key, now).await
    }

    async fn account_id(&self, auth: Auth<'_>) -> Result<String, ProviderFailure> {
        Ok(key_fingerprint(&key_or_refused(auth.key)?.api_key))
    }

    fn first_page(&self, from: Millis, to: Millis) -> String {
        self.page_url(&utc(from), &utc(to), 0)
    }

    fn owns(&self, url: &str) -> bool {
        url.strip_prefix(self.calls_url().as_str())
            .is_some_and(|rest| rest.starts_with('?'))
    }

    async fn page(&self, auth: Auth<'_>, url: &str) -> Result<LogPage, ProviderFailure> {
        let key = key_or_refused(auth.key)?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(auth.access_token)
            .header("x-api-key", &key.api_key)
            .send()
            .await
            .map_err(|e| ProviderFailure::Failed(format!("MightyCall unreachable: {e}")))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        if !status.is_success() {
            return Err(status_failure("MightyCall", status, &headers));
        }
        let bytes = body(resp, "a call-list page").await?;
        let parsed = parse_page(&bytes).map_err(ProviderFailure::Failed)?;
        let mut page = parsed.page;
        // The next page is this request with `skip` moved on; the window stays as it was asked.
        let query: Vec<(String, String)> = url
            .split_once('?')
            .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let skip = get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
        let size = u64::from(self.settings.page_size.max(1));
        page.next = match (
            next_skip(skip, size, parsed.returned, parsed.total),
            get("startUtc"),
            get("endUtc"),
        ) {
            (Some(next), Some(from), Some(to)) => Some(self.page_url(from, to, next)),
            _ => None,
        };
        Ok(LogPage {
            page,
            rate: RateInfo::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mc(url: &str) -> MightyCall {
        MightyCall::new(MightyCallSettings {
            api_url: url.into(),
            page_size: PAGE_SIZE,
        })
        .unwrap()
    }

    #[test]
    fn pages_are_asked_for_in_utc_and_links_off_the_api_are_refused() {
        let m = mc("https://ccapi.mightycall.com/v4/");
        let first = m.first_page(1_796_117_400_000, 1_796_121_000_000);
        assert_eq!(
            first,
            "https://ccapi.mightycall.com/v4/api/calls?startUtc=2026-12-01T09%3A30%3A00\
             &endUtc=2026-12-01T10%3A30%3A00&skip=0&pageSize=100"
        );
        assert!(m.owns(&first));
        assert!(!m.owns("https://ccapi.mightycall.com/v4/api/calls/123"));
        assert!(!m.owns("https://ccapi.mightycall.com/v4/api/callsx?skip=1"));
        assert!(!m.owns("https://ccapi.mightycall.com.evil.example/v4/api/calls?skip=1"));
        assert!(!m.owns("https://evil.example/v4/api/calls?skip=1"));
    }

    #[test]
    fn the_fingerprint_names_the_key_without_revealing_it() {
        let a = key_fingerprint("api-key-one");
        assert_eq!(a.len(), "key-".len() + 16);
        assert_eq!(a, key_fingerprint("api-key-one"));
        assert_ne!(a, key_fingerprint("api-key-two"));
        assert!(!a.contains("api-key"));
    }

    #[test]
    fn token_refusals_are_told_from_outages() {
        let h = HeaderMap::new();
        let refused = token_failure(StatusCode::BAD_REQUEST, &h, br#"{"error":"invalid_client"}"#);
        assert_eq!(refused, ProviderFailure::Refused("invalid_client".into()));
        let refused = token_failure(StatusCode::UNAUTHORIZED, &h, b"");
        assert!(matches!(refused, ProviderFailure::Refused(m) if m.contains("401")));
        let long = format!(r#"{{"error":"{}"}}"#, "é".repeat(500));
        assert!(matches!(token_failure(StatusCode::FORBIDDEN, &h, long.as_bytes()),
            ProviderFailure::Refused(m) if m.len() <= ERROR_TEXT_MAX));
        assert!(matches!(
            token_failure(StatusCode::SERVICE_UNAVAILABLE, &h, b"down"),
            ProviderFailure::Failed(_)
        ));
        assert!(matches!(
            token_failure(StatusCode::TOO_MANY_REQUESTS, &h, b""),
            ProviderFailure::RateLimited { .. }
        ));
    }

    #[test]
    fn a_bad_url_is_named() {
        assert!(
            MightyCall::new(MightyCallSettings {
                api_url: "not a url".into(),
                page_size: 1
            })
            .err()
            .unwrap()
            .contains("MIGHTYCALL_API_URL")
        );
    }
}
