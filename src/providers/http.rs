//! HTTP the adapters share: the client they build (no redirects, a timeout), `Retry-After`, and a body read under a size cap.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::providers::ProviderFailure;

/// How long one request to a provider may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of one call-log page read.
pub const PAGE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// The wait assumed for a `429` without a usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER_MS: i64 = 60_000;

/// A client that follows no redirect (a token goes only where it was meant to) and gives up after [`REQUEST_TIMEOUT`].
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `Retry-After` in ms: delta-seconds (RFC 9110 § 10.2.3); an HTTP date or nothing is the default wait.
pub fn retry_after_ms(headers: &HeaderMap) -> i64 {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .map_or(DEFAULT_RETRY_AFTER_MS, |s| s.saturating_mul(1000))
}

/// What a non-2xx API answer means: `401` is an access token to refresh, `429` a wait, anything else a failure naming `provider`.
pub fn status_failure(provider: &str, status: StatusCode, headers: &HeaderMap) -> ProviderFailure {
    match status {
        StatusCode::UNAUTHORIZED => ProviderFailure::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS => ProviderFailure::RateLimited {
            retry_after_ms: retry_after_ms(headers),
        },
        s => ProviderFailure::Failed(format!("{provider} answered {s}")),
    }
}

/// The body, or `Failed` past [`PAGE_BYTES_MAX`] or on a broken read.
pub async fn body(resp: reqwest::Response, what: &str) -> Result<bytes::Bytes, ProviderFailure> {
    if resp.content_length().is_some_and(|n| n as usize > PAGE_BYTES_MAX) {
        return Err(ProviderFailure::Failed(format!("{what} over the size limit")));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| ProviderFailure::Failed(format!("reading {what}: {e}")))?;
    if body.len() > PAGE_BYTES_MAX {
        return Err(ProviderFailure::Failed(format!("{what} over the size limit")));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_delta_seconds_else_the_default() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after_ms(&h), DEFAULT_RETRY_AFTER_MS);
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after_ms(&h), 7_000);
        h.insert(RETRY_AFTER, "-3".parse().unwrap());
        assert_eq!(retry_after_ms(&h), DEFAULT_RETRY_AFTER_MS);
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after_ms(&h), DEFAULT_RETRY_AFTER_MS);
    }

    #[test]
    fn statuses_are_told_apart() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(
            status_failure("X", StatusCode::UNAUTHORIZED, &h),
            ProviderFailure::Unauthorized
        );
        assert_eq!(
            status_failure("X", StatusCode::TOO_MANY_REQUESTS, &h),
            ProviderFailure::RateLimited { retry_after_ms: 3_000 }
        );
        assert_eq!(
            status_failure("X", StatusCode::BAD_GATEWAY, &h),
            ProviderFailure::Failed("X answered 502 Bad Gateway".into())
        );
    }
}
