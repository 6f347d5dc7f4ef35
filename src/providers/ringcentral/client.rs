//! RingCentral's HTTP API: tokens through the `oauth2` crate (Basic client auth, as RingCentral requires), the account id, call-log pages.
//!
//! The call log is in RingCentral's "Heavy" rate group (10 requests a
//! minute by default); each response's `X-Rate-Limit-*` headers are passed
//! up, and a `429` comes back with its `Retry-After`. No request follows a
//! redirect, and a next-page link off the configured server is refused, so
//! a token is never sent anywhere else.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, RedirectUrl,
    RefreshToken, RequestTokenError, StandardErrorResponse, TokenResponse, TokenUrl,
};
use reqwest::header::HeaderMap;

use crate::providers::http::status_failure;

use crate::model::Millis;
use crate::providers::{
    Auth, CallLogProvider, KeyCredentials, LogPage, ProviderFailure, ProviderKind, RateInfo, Tokens,
};

/// RingCentral's production API.
pub const RINGCENTRAL_SERVER_URL: &str = "https://platform.ringcentral.com";
/// Records per call-log page (RingCentral allows up to 1000).
pub const PAGE_SIZE: u32 = 250;
/// Access-token lifetime assumed when the token response names none.
const DEFAULT_EXPIRES: Duration = Duration::from_secs(3600);

/// The app's credentials and where RingCentral is. No `Debug` of the secret.
#[derive(Clone)]
pub struct RingCentralSettings {
    pub client_id: String,
    pub client_secret: String,
    /// `https://platform.ringcentral.com` (tests: a local fake).
    pub server_url: String,
    /// Our `/api/integrations/ringcentral/callback`, as registered with the app.
    pub redirect_url: String,
    /// Records per call-log page asked for ([`PAGE_SIZE`]).
    pub page_size: u32,
}

impl std::fmt::Debug for RingCentralSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingCentralSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("server_url", &self.server_url)
            .field("redirect_url", &self.redirect_url)
            .field("page_size", &self.page_size)
            .finish()
    }
}

type Oauth = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The RingCentral adapter.
pub struct RingCentral {
    settings: RingCentralSettings,
    oauth: Oauth,
    http: reqwest::Client,
}

impl RingCentral {
    /// An error names the setting that is not a URL.
    pub fn new(settings: RingCentralSettings) -> Result<Self, String> {
        let base = settings.server_url.trim_end_matches('/').to_owned();
        let oauth = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(settings.client_secret.clone()))
            .set_auth_uri(
                AuthUrl::new(format!("{base}/restapi/oauth/authorize"))
                    .map_err(|_| "RINGCENTRAL_SERVER_URL is not a URL".to_owned())?,
            )
            .set_token_uri(
                TokenUrl::new(format!("{base}/restapi/oauth/token"))
                    .map_err(|_| "RINGCENTRAL_SERVER_URL is not a URL".to_owned())?,
            )
            .set_redirect_uri(
                RedirectUrl::new(settings.redirect_url.clone())
                    .map_err(|_| "RINGCENTRAL_REDIRECT_URL is not a URL".to_owned())?,
            );
        let http = crate::providers::http::client()?;
        Ok(Self {
            settings: RingCentralSettings {
                server_url: base,
                ..settings
            },
            oauth,
            http,
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.settings.server_url)
    }

    fn tokens(t: &impl TokenResponse, now: Millis) -> Tokens {
        let expires = t.expires_in().unwrap_or(DEFAULT_EXPIRES);
        Tokens {
            access_token: t.access_token().secret().clone(),
            refresh_token: t.refresh_token().map(|r| r.secret().clone()),
            expires_at: now + expires.as_millis() as i64,
        }
    }
}

/// A token request's failure: a refused grant is `Refused`, anything else `Failed`.
fn grant_failure<E: std::error::Error>(
    e: RequestTokenError<E, StandardErrorResponse<BasicErrorResponseType>>,
) -> ProviderFailure {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r.error_description().cloned().unwrap_or_else(|| r.error().to_string());
            match r.error() {
                BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => ProviderFailure::Refused(detail),
                _ => ProviderFailure::Failed(format!("token request failed: {detail}")),
            }
        }
        RequestTokenError::Parse(_, body) if body.len() < 200 => ProviderFailure::Failed(format!(
            "token response not understood: {}",
            String::from_utf8_lossy(&body)
        )),
        RequestTokenError::Parse(..) => ProviderFailure::Failed("token response not understood".into()),
        RequestTokenError::Request(e) => ProviderFailure::Failed(format!("token request failed: {e}")),
        RequestTokenError::Other(m) => ProviderFailure::Failed(format!("token request failed: {m}")),
    }
}

fn rate_info(headers: &HeaderMap) -> RateInfo {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    RateInfo {
        remaining: num("x-rate-limit-remaining").and_then(|n| u32::try_from(n).ok()),
        window_ms: num("x-rate-limit-window").map(|s| s.saturating_mul(1000)),
    }
}

#[async_trait::async_trait]
impl CallLogProvider for RingCentral {
    fn kind(&self) -> ProviderKind {
        ProviderKind::RingCentral
    }

    fn authorize_url(&self, state: &str) -> Option<String> {
        let state = state.to_owned();
        let (url, _) = self.oauth.authorize_url(move || CsrfToken::new(state)).url();
        Some(url.to_string())
    }

    async fn exchange_code(&self, code: &str, now: Millis) -> Result<Tokens, ProviderFailure> {
        let t = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(grant_failure)?;
        Ok(Self::tokens(&t, now))
    }

    async fn refresh(
        &self,
        _key: Option<&KeyCredentials>,
        refresh_token: Option<&str>,
        now: Millis,
    ) -> Result<Tokens, ProviderFailure> {
        let Some(refresh_token) = refresh_token else {
            return Err(ProviderFailure::Refused(
                "the access token expired and there is no refresh token".into(),
            ));
        };
        let t = self
            .oauth
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(grant_failure)?;
        Ok(Self::tokens(&t, now))
    }

    async fn account_id(&self, auth: Auth<'_>) -> Result<String, ProviderFailure> {
        let resp = self
            .http
            .get(self.api("/restapi/v1.0/account/~"))
            .bearer_auth(auth.access_token)
            .send()
            .await
            .map_err(|e| ProviderFailure::Failed(format!("RingCentral unreachable: {e}")))?;
        if !resp.status().is_success() {
            return Err(status_failure("RingCentral", resp.status(), resp.headers()));
        }
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| ProviderFailure::Failed("the account answer is not JSON".into()))?;
        match &v["id"] {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            _ => Err(ProviderFailure::Failed("the account answer names no id".into())),
        }
    }

    fn first_page(&self, from: Millis, to: Millis) -> String {
        let iso = |ms: Millis| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_default()
        };
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("dateFrom", &iso(from))
            .append_pair("dateTo", &iso(to))
            .append_pair("type", "Voice")
            .append_pair("view", "Detailed")
            .append_pair("showBlocked", "true")
            .append_pair("perPage", &self.settings.page_size.clamp(1, 1000).to_string())
            .finish();
        self.api(&format!("/restapi/v1.0/account/~/call-log?{query}"))
    }

    fn owns(&self, url: &str) -> bool {
        url.strip_prefix(self.settings.server_url.as_str())
            .is_some_and(|rest| rest.starts_with("/restapi/"))
    }

    async fn page(&self, auth: Auth<'_>, url: &str) -> Result<LogPage, ProviderFailure> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(auth.access_token)
            .send()
            .await
            .map_err(|e| ProviderFailure::Failed(format!("RingCentral unreachable: {e}")))?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        if !status.is_success() {
            return Err(status_failure("RingCentral", status, &headers));
        }
        let body = crate::providers::http::body(resp, "a call-log page").await?;
        let page = super::records::parse_page(&body).map_err(ProviderFailure::Failed)?;
        Ok(LogPage {
            page,
            rate: rate_info(&headers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(server: &str) -> RingCentral {
        RingCentral::new(RingCentralSettings {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            server_url: server.into(),
            redirect_url: "https://sb.example/api/integrations/ringcentral/callback".into(),
            page_size: PAGE_SIZE,
        })
        .unwrap()
    }

    #[test]
    fn the_authorize_url_carries_the_client_redirect_and_state() {
        let url = rc("https://platform.ringcentral.com/")
            .authorize_url("st.at.e")
            .unwrap();
        assert!(
            url.starts_with("https://platform.ringcentral.com/restapi/oauth/authorize?"),
            "{url}"
        );
        let q: Vec<(String, String)> = form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("cid"));
        assert_eq!(get("state"), Some("st.at.e"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://sb.example/api/integrations/ringcentral/callback")
        );
    }

    #[test]
    fn pages_are_asked_for_in_utc_and_links_off_the_server_are_refused() {
        let r = rc("https://platform.ringcentral.com");
        let first = r.first_page(1_796_117_400_000, 1_796_121_000_000);
        assert!(first.contains("dateFrom=2026-12-01T09%3A30%3A00Z"), "{first}");
        assert!(first.contains("dateTo=2026-12-01T10%3A30%3A00Z"));
        assert!(first.contains("perPage=250") && first.contains("view=Detailed"));
        assert!(r.owns(&first));
        assert!(r.owns("https://platform.ringcentral.com/restapi/v1.0/account/~/call-log?page=2"));
        assert!(!r.owns("https://platform.ringcentral.com.evil.example/restapi/v1.0/x"));
        assert!(!r.owns("https://evil.example/restapi/v1.0/account/~/call-log?page=2"));
        assert!(!r.owns("https://platform.ringcentral.com/elsewhere"));
    }

    #[test]
    fn rate_headers_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_info(&h), RateInfo::default());
        h.insert("x-rate-limit-remaining", "0".parse().unwrap());
        h.insert("x-rate-limit-window", "60".parse().unwrap());
        assert_eq!(
            rate_info(&h),
            RateInfo {
                remaining: Some(0),
                window_ms: Some(60_000)
            }
        );
        h.insert("x-rate-limit-remaining", "-1".parse().unwrap());
        assert_eq!(rate_info(&h).remaining, None);
    }

    #[test]
    fn settings_debug_hides_the_secret() {
        let s = RingCentralSettings {
            client_id: "cid".into(),
            client_secret: "topsecret".into(),
            server_url: "x".into(),
            redirect_url: "y".into(),
            page_size: 1,
        };
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
