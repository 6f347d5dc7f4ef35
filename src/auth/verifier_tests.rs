//! Verifier rules that need no key server: HS256 pinning, issuer, algorithm confusion.
//! (ES256 / RS256 against a served JWKS: tests/api/jwks.rs.)

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

async fn code(v: &Verifier, token: &str) -> ErrorCode {
    v.verify(token).await.unwrap_err().code()
}

fn hand_made(header: serde_json::Value, claims: &Claims, sig: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).unwrap());
    format!("{h}.{c}.{sig}")
}

#[tokio::test]
async fn accepts_a_good_token_and_reports_its_expiry() {
    let v = Verifier::new(SECRET, "authenticated");
    let claims = good();
    let t = v.mint(&claims).unwrap();
    let verified = v.verify_full(&t).await.unwrap();
    assert_eq!(verified.expires_at, claims.exp.unwrap());
    match verified.principal {
        Principal::Participant(id) => assert_eq!(&*id.user_id, "u1"),
        Principal::Service => panic!(),
    }
}

#[tokio::test]
async fn refuses_each_bad_kind() {
    let v = Verifier::new(SECRET, "authenticated");
    let mut expired = good();
    expired.exp = Some(now() - 120);
    assert_eq!(code(&v, &v.mint(&expired).unwrap()).await, ErrorCode::TokenExpired);

    let other = Verifier::new(b"another-secret-another-secret-another", "authenticated");
    assert_eq!(code(&v, &other.mint(&good()).unwrap()).await, ErrorCode::InvalidToken);

    let mut aud = good();
    aud.aud = Some(json!("anon"));
    assert_eq!(code(&v, &v.mint(&aud).unwrap()).await, ErrorCode::InvalidAudience);

    let mut no_aud = good();
    no_aud.aud = None;
    assert_eq!(code(&v, &v.mint(&no_aud).unwrap()).await, ErrorCode::InvalidAudience);

    let mut no_exp = good();
    no_exp.exp = None;
    assert_eq!(code(&v, &v.mint(&no_exp).unwrap()).await, ErrorCode::InvalidToken);

    let mut not_yet = good();
    not_yet.nbf = Some(now() + 600);
    assert_eq!(code(&v, &v.mint(&not_yet).unwrap()).await, ErrorCode::InvalidToken);

    let none = hand_made(json!({"alg": "none", "typ": "JWT"}), &good(), "");
    assert_eq!(code(&v, &none).await, ErrorCode::InvalidToken);

    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &good(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(code(&v, &hs512).await, ErrorCode::InvalidToken);

    // Without a key set, an asymmetric token is refused before any key is looked at.
    let rs = hand_made(json!({"alg": "RS256", "typ": "JWT", "kid": "k"}), &good(), "c2ln");
    assert_eq!(code(&v, &rs).await, ErrorCode::InvalidToken);

    for junk in ["", "abc", "a.b", "a.b.c.d", "!!!.???.###"] {
        assert_eq!(code(&v, junk).await, ErrorCode::InvalidToken, "{junk}");
    }

    let mut no_tenant = good();
    no_tenant.app_metadata.tenant_id = None;
    assert_eq!(
        code(&v, &v.mint(&no_tenant).unwrap()).await,
        ErrorCode::MissingTenantClaim
    );
    let mut no_type = good();
    no_type.app_metadata.participant_type = None;
    assert_eq!(
        code(&v, &v.mint(&no_type).unwrap()).await,
        ErrorCode::MissingParticipantTypeClaim
    );
}

#[tokio::test]
async fn audience_array_is_accepted_and_service_role_needs_no_aud() {
    let v = Verifier::new(SECRET, "authenticated");
    let mut multi = good();
    multi.aud = Some(json!(["other", "authenticated"]));
    assert!(v.verify(&v.mint(&multi).unwrap()).await.is_ok());
    let service = Claims {
        role: Some("service_role".into()),
        exp: Some(now() + 60),
        ..Claims::default()
    };
    assert_eq!(v.verify(&v.mint(&service).unwrap()).await.unwrap(), Principal::Service);
    let mut service_bad_aud = service.clone();
    service_bad_aud.aud = Some(json!("nope"));
    assert_eq!(
        code(&v, &v.mint(&service_bad_aud).unwrap()).await,
        ErrorCode::InvalidAudience
    );
}

fn with_project(secret: Option<&[u8]>) -> Verifier {
    let mut s = AuthSettings::with_secret(SECRET);
    s.jwt_secret = secret.map(<[u8]>::to_vec);
    s.supabase_url = Some("https://abc.supabase.co/".into());
    Verifier::from_settings(&s)
}

#[tokio::test]
async fn with_a_project_url_the_issuer_is_checked() {
    let v = with_project(Some(SECRET));
    assert_eq!(v.issuer(), Some("https://abc.supabase.co/auth/v1"));
    let mut ok = good();
    ok.iss = Some("https://abc.supabase.co/auth/v1".into());
    assert!(v.verify(&v.mint(&ok).unwrap()).await.is_ok());
    for bad in [
        None,
        Some("https://other.supabase.co/auth/v1"),
        Some("supabase"),
        Some(""),
    ] {
        let mut c = good();
        c.iss = bad.map(str::to_owned);
        assert_eq!(
            code(&v, &v.mint(&c).unwrap()).await,
            ErrorCode::InvalidIssuer,
            "{bad:?}"
        );
    }
    // Supabase's legacy service_role key says `iss: supabase`.
    let service = |iss: &str| Claims {
        role: Some("service_role".into()),
        iss: Some(iss.into()),
        exp: Some(now() + 60),
        ..Claims::default()
    };
    assert_eq!(
        v.verify(&v.mint(&service("supabase")).unwrap()).await.unwrap(),
        Principal::Service
    );
    assert_eq!(
        v.verify(&v.mint(&service("https://abc.supabase.co/auth/v1")).unwrap())
            .await
            .unwrap(),
        Principal::Service
    );
    assert_eq!(
        code(&v, &v.mint(&service("https://evil.example/auth/v1")).unwrap()).await,
        ErrorCode::InvalidIssuer
    );
}

#[tokio::test]
async fn without_the_secret_hs256_is_refused_and_a_public_key_is_never_an_hmac_secret() {
    // Only a key set is configured (its address answers nothing): an HS256
    // token, whatever its `kid`, is refused without looking the key up.
    let mut s = AuthSettings::with_secret(SECRET);
    s.jwt_secret = None;
    s.jwks = Some(JwksSettings {
        url: "http://127.0.0.1:9/jwks.json".into(),
        max_age: std::time::Duration::from_secs(600),
        min_refetch: std::time::Duration::from_secs(600),
    });
    let v = Verifier::from_settings(&s);
    assert!(!v.can_mint());
    let minted = Verifier::new(SECRET, "authenticated").mint(&good()).unwrap();
    assert_eq!(code(&v, &minted).await, ErrorCode::InvalidToken);
    let err = v.verify(&minted).await.unwrap_err();
    assert!(err.public_message().contains("HS256"), "{}", err.public_message());
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("es-key".into());
    let with_kid = jsonwebtoken::encode(&h, &good(), &EncodingKey::from_secret(b"public-key-bytes")).unwrap();
    assert_eq!(code(&v, &with_kid).await, ErrorCode::InvalidToken);
    // An ES256 token with no `kid` names no key.
    let no_kid = hand_made(json!({"alg": "ES256", "typ": "JWT"}), &good(), "c2ln");
    assert_eq!(code(&v, &no_kid).await, ErrorCode::InvalidToken);
    // With a kid but an unreachable key set: the server cannot tell, so it says so (503).
    let kid = hand_made(json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}), &good(), "c2ln");
    assert_eq!(code(&v, &kid).await, ErrorCode::AuthUnavailable);
    assert!(v.mint(&good()).is_err());
}

#[test]
fn settings_never_print_the_secret() {
    let s = AuthSettings::with_secret(b"very-secret-value-0123456789");
    let printed = format!("{s:?}");
    assert!(!printed.contains("very-secret"), "{printed}");
}
