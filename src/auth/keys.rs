//! A JSON Web Key Set (RFC 7517) parsed into verification keys, each bound to one algorithm. Pure: no IO.
//!
//! The algorithm a key verifies is decided here, from the key, never from a
//! token's header: an EC key on P-256 verifies ES256 (P-384: ES384), an RSA
//! key RS256 unless its `alg` names another RSA algorithm. Symmetric (`oct`)
//! keys, keys not for signatures and keys without a `kid` are left out, so an
//! HS256 token can never be checked against a published public key.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Most keys taken from one key set (Supabase publishes a handful).
pub const MAX_KEYS: usize = 64;

/// One verification key and the only algorithm it verifies.
#[derive(Clone)]
pub struct VerifyKey {
    pub algorithm: Algorithm,
    pub key: Arc<DecodingKey>,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("algorithm", &self.algorithm).finish()
    }
}

/// The usable keys of a key set, by `kid`.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyKey>,
}

impl KeySet {
    pub fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Parses a JWKS document. Unusable keys are skipped (the reason is in the
/// second list, for the log); a document that is not a key set is an error.
pub fn parse_jwks(body: &[u8]) -> Result<(KeySet, Vec<String>), String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|_| "not a JSON Web Key Set (no `keys` array)".to_owned())?;
    let mut set = KeySet::default();
    let mut skipped = Vec::new();
    for raw in doc.keys.into_iter().take(MAX_KEYS) {
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(k) => k,
            Err(_) => {
                skipped.push("a key that is not a valid JWK".to_owned());
                continue;
            }
        };
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        match usable(&jwk) {
            Ok(key) if !kid.is_empty() => {
                set.keys.insert(kid, key);
            }
            Ok(_) => skipped.push("a key without `kid`".to_owned()),
            Err(why) => skipped.push(format!("key {kid:?}: {why}")),
        }
    }
    Ok((set, skipped))
}

/// The key and its algorithm, or why it cannot verify tokens.
fn usable(jwk: &Jwk) -> Result<VerifyKey, &'static str> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("not a signature key (`use`)");
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("not a verification key (`key_ops`)");
    }
    let declared = jwk.common.key_algorithm;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match (p.curve.clone(), declared) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => Algorithm::ES256,
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => Algorithm::ES384,
            (EllipticCurve::P256 | EllipticCurve::P384, Some(_)) => return Err("`alg` does not fit the curve"),
            _ => return Err("unsupported curve"),
        },
        AlgorithmParameters::RSA(_) => match declared {
            None | Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::RS384) => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) => Algorithm::PS256,
            Some(KeyAlgorithm::PS384) => Algorithm::PS384,
            Some(KeyAlgorithm::PS512) => Algorithm::PS512,
            Some(_) => return Err("`alg` is not an RSA algorithm"),
        },
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are never taken from a key set"),
        AlgorithmParameters::OctetKeyPair(_) => return Err("EdDSA keys are not supported"),
        _ => return Err("unknown key type"),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "malformed key material")?;
    Ok(VerifyKey {
        algorithm,
        key: Arc::new(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A P-256 public point and a 2048-bit RSA modulus, both well-formed (from RFC 7517 appendix A.1).
    const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
    const RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn ec(kid: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut k = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": kid});
        k.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        k
    }

    fn rsa(kid: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut k = json!({"kty": "RSA", "n": RSA_N, "e": "AQAB", "kid": kid});
        k.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        k
    }

    fn parse(keys: Vec<serde_json::Value>) -> (KeySet, Vec<String>) {
        parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_algorithm_comes_from_the_key() {
        let (set, skipped) = parse(vec![
            ec("e1", json!({"alg": "ES256", "use": "sig", "key_ops": ["verify"]})),
            ec("e2", json!({})),
            rsa("r1", json!({"alg": "RS256"})),
            rsa("r2", json!({})),
            rsa("r3", json!({"alg": "PS256"})),
        ]);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(set.len(), 5);
        assert_eq!(set.get("e1").unwrap().algorithm, Algorithm::ES256);
        assert_eq!(set.get("e2").unwrap().algorithm, Algorithm::ES256);
        assert_eq!(set.get("r1").unwrap().algorithm, Algorithm::RS256);
        assert_eq!(set.get("r2").unwrap().algorithm, Algorithm::RS256);
        assert_eq!(set.get("r3").unwrap().algorithm, Algorithm::PS256);
        assert!(set.get("nope").is_none());
    }

    #[test]
    fn symmetric_unfit_and_anonymous_keys_are_left_out() {
        let (set, skipped) = parse(vec![
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hs", "alg": "HS256"}),
            ec("enc", json!({"use": "enc"})),
            ec("sign-only", json!({"key_ops": ["sign"]})),
            ec("mismatch", json!({"alg": "RS256"})),
            rsa("rsa-es", json!({"alg": "ES256"})),
            json!({"kty": "OKP", "crv": "Ed25519", "x": EC_X, "kid": "ed"}),
            json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": "??", "kid": "bad-point"}),
            json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y}),
            json!({"kty": "weird", "kid": "w"}),
            json!("not an object"),
            ec("ok", json!({})),
        ]);
        assert_eq!(set.kids().collect::<Vec<_>>(), ["ok"]);
        assert_eq!(skipped.len(), 10, "{skipped:?}");
        assert!(skipped.iter().any(|s| s.contains("symmetric")));
    }

    #[test]
    fn a_document_that_is_not_a_key_set_is_an_error() {
        for body in [&b""[..], b"[]", b"{}", b"{\"keys\": 5}", b"<html>"] {
            assert!(parse_jwks(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        let (set, _) = parse_jwks(b"{\"keys\": []}").unwrap();
        assert!(set.is_empty());
    }

    #[test]
    fn the_number_of_keys_is_capped() {
        let keys = (0..MAX_KEYS + 10).map(|i| ec(&format!("k{i}"), json!({}))).collect();
        let (set, _) = parse(keys);
        assert_eq!(set.len(), MAX_KEYS);
    }
}
