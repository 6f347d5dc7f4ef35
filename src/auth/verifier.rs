//! Token verification: the project's JWKS (ES256 / RS256, by `kid`) and the legacy HS256 secret, side by side.
//!
//! Which key checks a token is decided by the server, never by the token:
//! a header saying `HS256` is checked only against `SUPABASE_JWT_SECRET`;
//! any other header needs a `kid` found in the key set, and the key's own
//! algorithm must equal the header's (no algorithm confusion: a public key
//! is never used as an HMAC secret, `none` is never accepted). With
//! `SUPABASE_URL` set, user tokens must carry `iss = {SUPABASE_URL}/auth/v1`.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::claims::{Claims, Principal, principal};
use super::jwks::{Jwks, JwksSettings, Lookup};
use crate::error::{Error, ErrorCode};

/// Seconds of clock skew tolerated on `exp` (and `nbf`).
pub const EXP_LEEWAY_SECS: u64 = 5;
/// The `iss` of Supabase's legacy `anon` / `service_role` API keys.
pub const LEGACY_API_KEY_ISSUER: &str = "supabase";

/// Where tokens come from and how they are checked.
#[derive(Clone)]
pub struct AuthSettings {
    /// The legacy shared secret (HS256), if the project still has it live.
    pub jwt_secret: Option<Vec<u8>>,
    pub audience: String,
    /// `SUPABASE_URL`: sets the expected issuer and the default JWKS address.
    pub supabase_url: Option<String>,
    /// The key set (from `SUPABASE_JWKS_URL`, or derived from `SUPABASE_URL`).
    pub jwks: Option<JwksSettings>,
    /// Clock skew tolerated on `exp`.
    pub leeway_secs: u64,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("audience", &self.audience)
            .field("supabase_url", &self.supabase_url)
            .field("jwks", &self.jwks)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl AuthSettings {
    /// HS256 only, with `secret` (dev mode, tests, embedders).
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            jwt_secret: Some(secret.to_vec()),
            audience: "authenticated".into(),
            supabase_url: None,
            jwks: None,
            leeway_secs: EXP_LEEWAY_SECS,
        }
    }

    /// The `iss` user tokens must carry: `{SUPABASE_URL}/auth/v1`.
    pub fn issuer(&self) -> Option<String> {
        self.supabase_url
            .as_deref()
            .map(|u| format!("{}/auth/v1", u.trim_end_matches('/')))
    }
}

/// A verified token: whom it speaks for, and until when (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub principal: Principal,
    pub expires_at: i64,
}

/// Checks tokens.
pub struct Verifier {
    hs: Option<(DecodingKey, EncodingKey)>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    audience: String,
    leeway: u64,
}

fn refuse(code: ErrorCode, message: &'static str) -> Error {
    Error::new(code, message)
}

impl Verifier {
    /// HS256 only (kept for embedders and tests).
    pub fn new(secret: &[u8], audience: &str) -> Self {
        let mut s = AuthSettings::with_secret(secret);
        s.audience = audience.to_owned();
        Self::from_settings(&s)
    }

    pub fn from_settings(s: &AuthSettings) -> Self {
        Self {
            hs: s
                .jwt_secret
                .as_deref()
                .map(|k| (DecodingKey::from_secret(k), EncodingKey::from_secret(k))),
            jwks: s.jwks.clone().map(Jwks::new),
            issuer: s.issuer(),
            audience: s.audience.clone(),
            leeway: s.leeway_secs,
        }
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The `iss` user tokens must carry, when one is configured.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.leeway = self.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        // `aud` is checked when present; `claims::principal` then requires it
        // for user tokens (Supabase's service_role keys have none).
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp"]);
        v
    }

    /// Verifies a token and says whom it speaks for.
    pub async fn verify(&self, token: &str) -> Result<Principal, Error> {
        self.verify_full(token).await.map(|v| v.principal)
    }

    /// As `verify`, with the token's expiry.
    pub async fn verify_full(&self, token: &str) -> Result<Verified, Error> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            refuse(
                ErrorCode::InvalidToken,
                "token is malformed or uses an unsupported algorithm",
            )
        })?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => match &self.hs {
                Some((dk, _)) => (KeyRef::Borrowed(dk), Algorithm::HS256),
                None => {
                    return Err(refuse(
                        ErrorCode::InvalidToken,
                        "HS256 tokens are not accepted: this server verifies the project's signing keys (JWKS)",
                    ));
                }
            },
            alg => {
                let Some(jwks) = &self.jwks else {
                    return Err(refuse(ErrorCode::InvalidToken, "token algorithm must be HS256"));
                };
                let Some(kid) = header.kid.as_deref().filter(|k| !k.is_empty()) else {
                    return Err(refuse(
                        ErrorCode::InvalidToken,
                        "token has no `kid` naming its signing key",
                    ));
                };
                // Boxed: the fetch is a large future that plain HS256 checks should not carry.
                match Box::pin(jwks.key(kid)).await {
                    Lookup::Found(k) if k.algorithm == alg => (KeyRef::Shared(k.key), alg),
                    Lookup::Found(_) => {
                        return Err(refuse(
                            ErrorCode::InvalidToken,
                            "token algorithm does not match its signing key",
                        ));
                    }
                    Lookup::Unknown => {
                        return Err(refuse(ErrorCode::InvalidToken, "token is signed with an unknown key"));
                    }
                    Lookup::Unavailable => {
                        return Err(refuse(
                            ErrorCode::AuthUnavailable,
                            "the project's signing keys cannot be fetched; retry shortly",
                        ));
                    }
                }
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, key.get(), &self.validation(alg)).map_err(|e| {
            let (code, message) = match e.kind() {
                ErrorKind::ExpiredSignature => (ErrorCode::TokenExpired, "token has expired"),
                ErrorKind::ImmatureSignature => (ErrorCode::InvalidToken, "token is not valid yet (`nbf`)"),
                ErrorKind::InvalidAudience => (ErrorCode::InvalidAudience, "token audience is not accepted"),
                ErrorKind::InvalidSignature => (ErrorCode::InvalidToken, "token signature is invalid"),
                ErrorKind::InvalidAlgorithm => (ErrorCode::InvalidToken, "token algorithm does not match its key"),
                ErrorKind::MissingRequiredClaim(_) => (ErrorCode::InvalidToken, "token has no `exp` claim"),
                _ => (
                    ErrorCode::InvalidToken,
                    "token is malformed or its signature is invalid",
                ),
            };
            Error::new(code, message)
        })?;
        let claims = data.claims;
        let expires_at = claims.exp.unwrap_or_default();
        self.check_issuer(&claims)?;
        let principal = principal(claims).map_err(|e| Error::new(e.code, e.message))?;
        Ok(Verified { principal, expires_at })
    }

    /// With an issuer configured: user tokens must carry it; service keys may
    /// carry it or Supabase's legacy API-key issuer (`supabase`).
    fn check_issuer(&self, claims: &Claims) -> Result<(), Error> {
        let Some(want) = &self.issuer else { return Ok(()) };
        let iss = claims.iss.as_deref();
        let service = claims.role.as_deref() == Some("service_role");
        if iss == Some(want.as_str()) || (service && iss == Some(LEGACY_API_KEY_ISSUER)) {
            Ok(())
        } else {
            Err(refuse(ErrorCode::InvalidIssuer, "token issuer is not this project's"))
        }
    }

    /// Whether tokens can be minted (an HS256 secret is configured).
    pub fn can_mint(&self) -> bool {
        self.hs.is_some()
    }

    /// Signs claims with the shared secret (dev mode's `POST /dev/token`, tests, load tools).
    pub fn mint(&self, claims: &Claims) -> Result<String, Error> {
        let (_, ek) = self
            .hs
            .as_ref()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("minting needs SUPABASE_JWT_SECRET")))?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, ek)
            .map_err(|e| Error::Internal(anyhow::anyhow!("mint token: {e}")))
    }
}

/// A decoding key owned by the verifier or shared with the key set.
enum KeyRef<'a> {
    Borrowed(&'a DecodingKey),
    Shared(Arc<DecodingKey>),
}

impl KeyRef<'_> {
    fn get(&self) -> &DecodingKey {
        match self {
            Self::Borrowed(k) => k,
            Self::Shared(k) => k,
        }
    }
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
