//! axum extractors: `AuthUser` (a participant, directory refreshed) and `ServiceAuth` (a service_role key).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::auth::claims::{Identity, Principal};
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode};

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token of a route that also takes `?access_token=` (browsers cannot set
/// headers on a WebSocket or an `<audio src>`): the query parameter if given,
/// else `Authorization: Bearer`.
pub fn request_token<'a>(query: Option<&'a str>, headers: &'a HeaderMap) -> Option<&'a str> {
    query.or_else(|| bearer_token(headers))
}

/// Verifies a token as a participant and refreshes their directory row.
pub async fn participant(state: &AppState, token: Option<&str>) -> Result<Arc<Identity>, Error> {
    participant_until(state, token).await.map(|(id, _)| id)
}

/// As `participant`, with the token's expiry (Unix seconds): sockets close when it passes.
pub async fn participant_until(state: &AppState, token: Option<&str>) -> Result<(Arc<Identity>, i64), Error> {
    let token = token.ok_or_else(|| Error::new(ErrorCode::MissingToken, "no access token"))?;
    let verified = state.verifier.verify_full(token).await?;
    match verified.principal {
        Principal::Participant(id) => {
            state.directory.ensure(&id, now_ms()).await?;
            Ok((id, verified.expires_at))
        }
        Principal::Service => Err(Error::new(
            ErrorCode::Forbidden,
            "a service_role key cannot act as a participant",
        )),
    }
}

/// A participant, from `Authorization: Bearer`.
pub struct AuthUser(pub Arc<Identity>);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        participant(state, bearer_token(&parts.headers)).await.map(AuthUser)
    }
}

/// A `service_role` key, from `Authorization: Bearer`: admin routes only.
pub struct ServiceAuth;

impl FromRequestParts<AppState> for ServiceAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token =
            bearer_token(&parts.headers).ok_or_else(|| Error::new(ErrorCode::MissingToken, "no access token"))?;
        match state.verifier.verify(token).await? {
            Principal::Service => Ok(ServiceAuth),
            Principal::Participant(_) => Err(Error::new(ErrorCode::Forbidden, "this route needs a service_role key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer abc.def"));
        assert_eq!(bearer_token(&h), Some("abc.def"));
        h.insert("authorization", HeaderValue::from_static("bearer   xyz "));
        assert_eq!(bearer_token(&h), Some("xyz"));
        h.insert("authorization", HeaderValue::from_static("Basic Zm9v"));
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }

    #[test]
    fn the_query_token_wins_over_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(request_token(None, &h), None);
        assert_eq!(request_token(Some("q"), &h), Some("q"));
        h.insert("authorization", HeaderValue::from_static("Bearer hdr"));
        assert_eq!(request_token(None, &h), Some("hdr"));
        assert_eq!(request_token(Some("q"), &h), Some("q"));
    }
}
