//! Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with the secret's bytes, sent as `webhook-signature: v1,<base64>`.
//!
//! Secrets are `whsec_` and the base64 of 24 random bytes, as the reference
//! libraries make them. Pinned by vectors from the reference Python library
//! `standardwebhooks` (`tests/golden/standard_webhooks.json`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret's prefix.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
pub const SECRET_BYTES: usize = 24;
/// How far a receiver's clock may be from the timestamp (the reference libraries' tolerance).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A secret that is not `whsec_` + base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSecret;

/// The key bytes of a `whsec_…` secret (padding optional, as the reference accepts).
pub fn key_of(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
    let padded = match b64.len() % 4 {
        0 => b64.to_owned(),
        n => format!("{b64}{}", "=".repeat(4 - n)),
    };
    let key = STANDARD.decode(padded).map_err(|_| BadSecret)?;
    if key.is_empty() {
        return Err(BadSecret);
    }
    Ok(key)
}

/// A secret from `bytes` (the caller draws them at random).
pub fn secret_from(bytes: &[u8; SECRET_BYTES]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value of `body` sent as message `id` at Unix second `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether `header` (space-separated `v1,…` signatures) signs `body` as `id` at `timestamp`, within the tolerance of `now`. What a receiver does.
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str, now: i64) -> bool {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    let expected = sign(key, id, timestamp, body);
    let expected = expected.as_bytes();
    header.split(' ').any(|s| {
        // Constant time in the signature's length.
        s.len() == expected.len() && s.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Golden {
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        secret: String,
        msg_id: String,
        timestamp: i64,
        payload: String,
        signature: String,
    }

    fn golden() -> Vec<Case> {
        let g: Golden = serde_json::from_str(include_str!("../../tests/golden/standard_webhooks.json")).unwrap();
        assert!(g.cases.len() >= 6);
        g.cases
    }

    #[test]
    fn signatures_match_the_reference_library() {
        for c in golden() {
            let key = key_of(&c.secret).unwrap();
            assert_eq!(
                sign(&key, &c.msg_id, c.timestamp, c.payload.as_bytes()),
                c.signature,
                "{}",
                c.name
            );
            assert!(verify(
                &key,
                &c.msg_id,
                c.timestamp,
                c.payload.as_bytes(),
                &c.signature,
                c.timestamp + 10
            ));
        }
    }

    #[test]
    fn a_changed_body_id_or_time_or_a_stale_timestamp_fails_verification() {
        let c = &golden()[0];
        let key = key_of(&c.secret).unwrap();
        let body = c.payload.as_bytes();
        let ok = |id: &str, ts: i64, body: &[u8], now: i64| verify(&key, id, ts, body, &c.signature, now);
        assert!(ok(&c.msg_id, c.timestamp, body, c.timestamp));
        assert!(!ok("msg_other", c.timestamp, body, c.timestamp));
        assert!(!ok(&c.msg_id, c.timestamp + 1, body, c.timestamp));
        assert!(!ok(&c.msg_id, c.timestamp, b"{}x", c.timestamp));
        assert!(!ok(&c.msg_id, c.timestamp, body, c.timestamp + TOLERANCE_SECS + 1));
        // Several signatures in one header (key rotation): any may match.
        let both = format!("v1,bm9wZQ== {}", c.signature);
        assert!(verify(&key, &c.msg_id, c.timestamp, body, &both, c.timestamp));
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = secret_from(&[7u8; SECRET_BYTES]);
        assert!(s.starts_with("whsec_"));
        assert_eq!(key_of(&s).unwrap(), vec![7u8; SECRET_BYTES]);
        assert_eq!(key_of("whsec_"), Err(BadSecret));
        assert_eq!(key_of("sk_abc"), Err(BadSecret));
        assert_eq!(key_of("whsec_!!!"), Err(BadSecret));
        // Unpadded base64 is accepted, as the reference library does.
        assert_eq!(key_of("whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(key_of("whsec_AAECAw").unwrap(), vec![0, 1, 2, 3]);
    }
}
