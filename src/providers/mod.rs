//! Phone providers whose call logs are synced into the CallLog (issue #12): one trait, RingCentral and MightyCall behind it.
//!
//! Pure parts (record mapping, the OAuth state, token sealing) are unit-tested
//! here; the adapters' HTTP lives in each provider's `client.rs`. The sync
//! job that drives them (lease, refresh, paging, rate limits) is
//! the `integrations` module.
//!
//! Two ways to connect: RingCentral by OAuth's authorization-code flow (the
//! app's client id is the server's), MightyCall by the org's own API key and
//! user key ([`KeyCredentials`], sealed at rest beside the tokens).

pub mod http;
pub mod mightycall;
pub mod oauth_state;
pub mod ringcentral;
pub mod seal;
pub mod synced;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Millis;
use crate::providers::synced::SyncedCall;

/// Providers whose call logs switchboard syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    RingCentral,
    MightyCall,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 2] = [Self::RingCentral, Self::MightyCall];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RingCentral => "ringcentral",
            Self::MightyCall => "mightycall",
        }
    }

    /// How an admin connects it.
    pub const fn connect_method(self) -> ConnectMethod {
        match self {
            Self::RingCentral => ConnectMethod::OAuthCode,
            Self::MightyCall => ConnectMethod::ApiKey,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// How an org admin connects a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectMethod {
    /// `GET …/connect` → `{authUrl}`, then the provider's redirect to `…/callback`.
    OAuthCode,
    /// `POST …/connect` with the org's own API key and user key.
    ApiKey,
}

/// An org's own API credentials, for a provider that connects by key (MightyCall).
/// Sealed at rest as JSON; no `Debug`: both halves are secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyCredentials {
    /// Sent as `x-api-key` on every request, and as `client_id` for a token.
    pub api_key: String,
    /// The user key (`client_secret`) that issues a token.
    pub secret: String,
}

/// What an API request of a sync carries.
#[derive(Clone, Copy)]
pub struct Auth<'a> {
    pub access_token: &'a str,
    /// The org's key, for providers that connect by one.
    pub key: Option<&'a KeyCredentials>,
}

/// Access (and refresh) tokens as a provider granted them. No `Debug`: tokens are secrets.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token stops working (Unix ms).
    pub expires_at: Millis,
}

/// How a provider request failed, as the sync job must react to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderFailure {
    /// The provider refused the grant (a used or revoked refresh token, a bad
    /// code): only an admin's reconnect helps.
    Refused(String),
    /// `401` on an API call: the access token expired or was revoked.
    Unauthorized,
    /// `429`: try again after this many milliseconds.
    RateLimited { retry_after_ms: i64 },
    /// Anything else (network, 5xx, a body that is not what the API documents).
    Failed(String),
}

impl std::fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(m) => write!(f, "the provider refused the authorization: {m}"),
            Self::Unauthorized => f.write_str("the provider refused the access token"),
            Self::RateLimited { retry_after_ms } => write!(f, "rate limited by the provider for {retry_after_ms} ms"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

/// What a page request's response said about the provider's rate budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateInfo {
    /// Requests left in the window (`X-Rate-Limit-Remaining`).
    pub remaining: Option<u32>,
    /// The window's length in ms (`X-Rate-Limit-Window`).
    pub window_ms: Option<i64>,
}

/// One page of a provider's call log, parsed, as the sync job needs it.
#[derive(Debug, Default)]
pub struct Page {
    /// Each mapped record with the provider's JSON as it came.
    pub records: Vec<(SyncedCall, Value)>,
    /// Records left out (in progress, fax, unparsable), by id or position.
    pub skipped: Vec<String>,
    /// The next page's URL, absent on the last page.
    pub next: Option<String>,
}

/// One page of a provider's call log and what the response said of the rate budget.
pub struct LogPage {
    pub page: Page,
    pub rate: RateInfo,
}

fn not_this_way(kind: ProviderKind) -> ProviderFailure {
    ProviderFailure::Failed(format!("{} does not connect this way", kind.as_str()))
}

/// A provider's authorization and call-log API.
#[async_trait::async_trait]
pub trait CallLogProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// OAuth providers: where the admin's browser goes to grant access.
    fn authorize_url(&self, _state: &str) -> Option<String> {
        None
    }
    /// OAuth providers: trades the callback's `code` for tokens.
    async fn exchange_code(&self, _code: &str, _now: Millis) -> Result<Tokens, ProviderFailure> {
        Err(not_this_way(self.kind()))
    }
    /// Key providers: issues tokens for the org's key (a refused key is `Refused`).
    async fn issue(&self, _key: &KeyCredentials, _now: Millis) -> Result<Tokens, ProviderFailure> {
        Err(not_this_way(self.kind()))
    }
    /// New tokens: spends `refresh_token` (single use at RingCentral); a key
    /// provider may issue afresh from its key. `Refused` when only an admin's
    /// reconnect helps.
    async fn refresh(
        &self,
        key: Option<&KeyCredentials>,
        refresh_token: Option<&str>,
        now: Millis,
    ) -> Result<Tokens, ProviderFailure>;
    /// The provider's id of the account the tokens (or the key) belong to.
    async fn account_id(&self, auth: Auth<'_>) -> Result<String, ProviderFailure>;
    /// The first page of calls that started in `[from, to)`.
    fn first_page(&self, from: Millis, to: Millis) -> String;
    /// Whether `url` (a next-page link) is on the provider's API (tokens go nowhere else).
    fn owns(&self, url: &str) -> bool;
    async fn page(&self, auth: Auth<'_>, url: &str) -> Result<LogPage, ProviderFailure>;
}
