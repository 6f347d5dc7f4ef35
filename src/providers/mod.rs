//! Phone providers whose call logs are synced into the CallLog (issue #12): one trait, RingCentral behind it.
//!
//! Pure parts (record mapping, the OAuth state, token sealing) are unit-tested
//! here; the adapters' HTTP lives in each provider's `client.rs`. The sync
//! job that drives them (lease, refresh, paging, rate limits) is
//! the `integrations` module.

pub mod oauth_state;
pub mod ringcentral;
pub mod seal;
pub mod synced;

use crate::model::Millis;

/// Providers whose call logs switchboard syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    RingCentral,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 1] = [Self::RingCentral];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RingCentral => "ringcentral",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
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

/// One page of a provider's call log.
pub struct LogPage {
    pub page: ringcentral::records::Page,
    pub rate: RateInfo,
}

/// A provider's OAuth and call-log API.
#[async_trait::async_trait]
pub trait CallLogProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// Where the admin's browser goes to grant access.
    fn authorize_url(&self, state: &str) -> String;
    /// Trades the callback's `code` for tokens.
    async fn exchange_code(&self, code: &str, now: Millis) -> Result<Tokens, ProviderFailure>;
    /// Spends `refresh_token` for new tokens (single use at RingCentral).
    async fn refresh(&self, refresh_token: &str, now: Millis) -> Result<Tokens, ProviderFailure>;
    /// The provider's id of the account the tokens belong to.
    async fn account_id(&self, access_token: &str) -> Result<String, ProviderFailure>;
    /// The first page of calls that started in `[from, to)`.
    fn first_page(&self, from: Millis, to: Millis) -> String;
    /// Whether `url` (a next-page link the provider gave) is on the provider's API (tokens go nowhere else).
    fn owns(&self, url: &str) -> bool;
    async fn page(&self, access_token: &str, url: &str) -> Result<LogPage, ProviderFailure>;
}
