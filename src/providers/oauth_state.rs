//! The OAuth `state` of a provider connection: an HS256 JWT naming the org, the admin and the provider, valid for `STATE_TTL`.
//!
//! The callback trusts nothing but this value: a forged or altered state, one
//! made for another provider, or an expired one attaches no account to any
//! org. Pure: the caller passes the time.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long an admin has between "connect" and the provider's redirect back.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// What a state carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateClaims {
    /// The org the account is attached to.
    pub org: String,
    /// The admin who asked.
    pub sub: String,
    /// `ringcentral` | `mightycall`.
    pub prv: String,
    /// Expiry, Unix seconds (as JWT `exp`).
    pub exp: i64,
    /// Random: two connects never share a state.
    pub nonce: String,
}

/// Why a state was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// Not signed by us, or altered.
    Forged,
    Expired,
    /// Made for another provider's callback.
    WrongProvider,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forged => "the state is not one this server issued",
            Self::Expired => "the state has expired; start the connection again",
            Self::WrongProvider => "the state was issued for another provider",
        })
    }
}

/// A signed state for `org`/`admin`/`provider`, issued at `now_ms`.
pub fn issue(key: &[u8], org: &str, admin: &str, provider: &str, nonce: &str, now_ms: i64) -> String {
    let claims = StateClaims {
        org: org.to_owned(),
        sub: admin.to_owned(),
        prv: provider.to_owned(),
        exp: (now_ms + STATE_TTL_MS) / 1000,
        nonce: nonce.to_owned(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key))
        .expect("HS256 encoding of plain claims does not fail")
}

/// The claims of `state` if we signed it for `provider` and it has not expired at `now_ms`.
pub fn verify(key: &[u8], state: &str, provider: &str, now_ms: i64) -> Result<StateClaims, StateError> {
    let mut v = Validation::new(Algorithm::HS256);
    // Expiry is checked against the caller's clock below, not the system's.
    v.validate_exp = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<StateClaims>(state, &DecodingKey::from_secret(key), &v)
        .map_err(|_| StateError::Forged)?;
    let c = data.claims;
    if c.exp * 1000 <= now_ms {
        return Err(StateError::Expired);
    }
    if c.prv != provider {
        return Err(StateError::WrongProvider);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_796_000_000_000;

    #[test]
    fn a_state_round_trips_until_it_expires() {
        let s = issue(KEY, "org1", "admin1", "ringcentral", "n1", NOW);
        let c = verify(KEY, &s, "ringcentral", NOW + 1_000).unwrap();
        assert_eq!(
            (c.org.as_str(), c.sub.as_str(), c.nonce.as_str()),
            ("org1", "admin1", "n1")
        );
        assert_eq!(
            verify(KEY, &s, "ringcentral", NOW + STATE_TTL_MS - 1_000).unwrap().org,
            "org1"
        );
        assert_eq!(
            verify(KEY, &s, "ringcentral", NOW + STATE_TTL_MS),
            Err(StateError::Expired)
        );
    }

    #[test]
    fn forged_altered_and_misdirected_states_are_refused() {
        let s = issue(KEY, "org1", "admin1", "ringcentral", "n1", NOW);
        assert_eq!(
            verify(b"another key another key another k", &s, "ringcentral", NOW),
            Err(StateError::Forged)
        );
        assert_eq!(verify(KEY, &s, "mightycall", NOW), Err(StateError::WrongProvider));
        // Swap the payload for one naming another org, keeping the signature.
        let parts: Vec<&str> = s.split('.').collect();
        let other = issue(
            b"attacker-key-attacker-key-attack",
            "org2",
            "admin1",
            "ringcentral",
            "n1",
            NOW,
        );
        let forged = format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2]);
        assert_eq!(verify(KEY, &forged, "ringcentral", NOW), Err(StateError::Forged));
        assert_eq!(verify(KEY, "", "ringcentral", NOW), Err(StateError::Forged));
        assert_eq!(verify(KEY, "a.b.c", "ringcentral", NOW), Err(StateError::Forged));
        // An unsigned token ("alg": "none") is not accepted either.
        let none = format!("eyJhbGciOiJub25lIn0.{}.", other.split('.').nth(1).unwrap());
        assert_eq!(verify(KEY, &none, "ringcentral", NOW), Err(StateError::Forged));
    }
}
