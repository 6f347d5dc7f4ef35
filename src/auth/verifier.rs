//! HS256 token verification (and, for dev mode and tests, minting).
//!
//! The algorithm is pinned: a token whose header says `none`, `HS512`, `RS256`
//! or anything but `HS256` is refused before its signature is looked at.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::claims::{Claims, Principal, principal};
use crate::error::{Error, ErrorCode};

/// Seconds of clock skew tolerated on `exp`.
pub const EXP_LEEWAY_SECS: u64 = 5;

/// Checks tokens signed with the shared secret.
pub struct Verifier {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    audience: String,
}

impl Verifier {
    pub fn new(secret: &[u8], audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = EXP_LEEWAY_SECS;
        validation.validate_exp = true;
        // `aud` is checked when present; `claims::principal` then requires it
        // for user tokens (Supabase's service_role keys have none).
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp"]);
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
            audience: audience.to_owned(),
        }
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies a token and says whom it speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            let (code, message) = match e.kind() {
                ErrorKind::ExpiredSignature => (ErrorCode::TokenExpired, "token has expired"),
                ErrorKind::InvalidAudience => (ErrorCode::InvalidAudience, "token audience is not accepted"),
                ErrorKind::InvalidSignature => (ErrorCode::InvalidToken, "token signature is invalid"),
                ErrorKind::InvalidAlgorithm => (ErrorCode::InvalidToken, "token algorithm must be HS256"),
                ErrorKind::MissingRequiredClaim(_) => (ErrorCode::InvalidToken, "token has no `exp` claim"),
                _ => (
                    ErrorCode::InvalidToken,
                    "token is malformed or uses an unsupported algorithm",
                ),
            };
            Error::new(code, message)
        })?;
        principal(data.claims).map_err(|e| Error::new(e.code, e.message))
    }

    /// Signs claims with the shared secret (dev mode's `POST /dev/token`, tests, load tools).
    pub fn mint(&self, claims: &Claims) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("mint token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn good() -> Claims {
        serde_json::from_value(json!({
            "sub": "u1", "aud": "authenticated", "exp": now() + 600,
            "app_metadata": {"tenant_id": "t1", "participant_type": "PORTAL_CUSTOMER"}
        }))
        .unwrap()
    }

    fn code(v: &Verifier, token: &str) -> ErrorCode {
        v.verify(token).unwrap_err().code()
    }

    fn hand_made(header: serde_json::Value, claims: &Claims, sig: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).unwrap());
        format!("{h}.{c}.{sig}")
    }

    #[test]
    fn accepts_a_good_token() {
        let v = Verifier::new(SECRET, "authenticated");
        let t = v.mint(&good()).unwrap();
        match v.verify(&t).unwrap() {
            Principal::Participant(id) => assert_eq!(&*id.user_id, "u1"),
            Principal::Service => panic!(),
        }
    }

    #[test]
    fn refuses_each_bad_kind() {
        let v = Verifier::new(SECRET, "authenticated");
        let mut expired = good();
        expired.exp = Some(now() - 120);
        assert_eq!(code(&v, &v.mint(&expired).unwrap()), ErrorCode::TokenExpired);

        let other = Verifier::new(b"another-secret-another-secret-another", "authenticated");
        assert_eq!(code(&v, &other.mint(&good()).unwrap()), ErrorCode::InvalidToken);

        let mut aud = good();
        aud.aud = Some(json!("anon"));
        assert_eq!(code(&v, &v.mint(&aud).unwrap()), ErrorCode::InvalidAudience);

        let mut no_aud = good();
        no_aud.aud = None;
        assert_eq!(code(&v, &v.mint(&no_aud).unwrap()), ErrorCode::InvalidAudience);

        let mut no_exp = good();
        no_exp.exp = None;
        assert_eq!(code(&v, &v.mint(&no_exp).unwrap()), ErrorCode::InvalidToken);

        let none = hand_made(json!({"alg": "none", "typ": "JWT"}), &good(), "");
        assert_eq!(code(&v, &none), ErrorCode::InvalidToken);

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &good(),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(code(&v, &hs512), ErrorCode::InvalidToken);

        let rs = hand_made(json!({"alg": "RS256", "typ": "JWT"}), &good(), "c2ln");
        assert_eq!(code(&v, &rs), ErrorCode::InvalidToken);

        for junk in ["", "abc", "a.b", "a.b.c.d", "!!!.???.###"] {
            assert_eq!(code(&v, junk), ErrorCode::InvalidToken, "{junk}");
        }

        let mut no_tenant = good();
        no_tenant.app_metadata.tenant_id = None;
        assert_eq!(code(&v, &v.mint(&no_tenant).unwrap()), ErrorCode::MissingTenantClaim);
        let mut no_type = good();
        no_type.app_metadata.participant_type = None;
        assert_eq!(
            code(&v, &v.mint(&no_type).unwrap()),
            ErrorCode::MissingParticipantTypeClaim
        );
    }

    #[test]
    fn audience_array_is_accepted_and_service_role_needs_no_aud() {
        let v = Verifier::new(SECRET, "authenticated");
        let mut multi = good();
        multi.aud = Some(json!(["other", "authenticated"]));
        assert!(v.verify(&v.mint(&multi).unwrap()).is_ok());
        let service = Claims {
            role: Some("service_role".into()),
            exp: Some(now() + 60),
            ..Claims::default()
        };
        assert_eq!(v.verify(&v.mint(&service).unwrap()).unwrap(), Principal::Service);
        let mut service_bad_aud = service.clone();
        service_bad_aud.aud = Some(json!("nope"));
        assert_eq!(code(&v, &v.mint(&service_bad_aud).unwrap()), ErrorCode::InvalidAudience);
    }
}
