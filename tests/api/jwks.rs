//! Supabase signing keys: ES256 / RS256 tokens verified by `kid` against a JWKS served by a local
//! HTTP server, beside the legacy HS256 secret; unknown and rotated keys, issuer, algorithm
//! confusion, and the key server being down at start and later.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use parking_lot::RwLock;
use rand_core::OsRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use switchboard::auth::claims::Claims;
use switchboard::auth::jwks::JwksSettings;

use crate::helpers::*;

pub const PROJECT: &str = "https://abcdefghijklmnop.supabase.co";

/// A signing key generated for the test, with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        let sk = p256::SecretKey::random(&mut OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        let point = sk.public_key().to_encoded_point(false);
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "key_ops": ["verify"], "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
            }),
        }
    }

    pub fn rs256(kid: &str) -> Self {
        let sk = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let der = sk.to_pkcs1_der().unwrap();
        Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(sk.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(sk.e().to_bytes_be()),
            }),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding).unwrap()
    }
}

/// The claims a Supabase project signs for `p`.
pub fn project_claims(p: &Person) -> Claims {
    let mut c = claims_of(p);
    c.iss = Some(format!("{PROJECT}/auth/v1"));
    c
}

/// A JWKS endpoint whose keys, and whether it answers, the test changes.
#[derive(Clone)]
pub struct KeyServer {
    pub url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Self {
            url: format!("http://{addr}/auth/v1/.well-known/jwks.json"),
            keys: Arc::new(RwLock::new(keys.iter().map(|k| k.jwk.clone()).collect())),
            down: Arc::new(AtomicBool::new(false)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let s = server.clone();
        let app = axum::Router::new().route(
            "/auth/v1/.well-known/jwks.json",
            axum::routing::get(move || {
                let s = s.clone();
                async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    if s.down.load(Ordering::SeqCst) {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({}))).into_response();
                    }
                    axum::Json(json!({ "keys": *s.keys.read() })).into_response()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    pub fn set(&self, keys: &[&TestKey]) {
        *self.keys.write() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

use axum::response::IntoResponse;

/// A server that knows the project (issuer, key set) and, if given, the legacy secret.
async fn project_app(keys: &KeyServer, secret: bool, min_refetch: Duration, max_age: Duration) -> TestApp {
    let url = keys.url.clone();
    spawn_with(Backend::Sqlite, move |s| {
        if !secret {
            s.auth.jwt_secret = None;
        }
        s.auth.supabase_url = Some(PROJECT.into());
        s.auth.jwks = Some(JwksSettings {
            url,
            max_age,
            min_refetch,
        });
    })
    .await
}

async fn history(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/api/voip/history", Some(token)).await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Waits (on the key server's own counter) until the server fetched the key set `n` times.
async fn fetched(keys: &KeyServer, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while keys.fetches() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "key set fetched {} times, want {n}",
            keys.fetches()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_rs256_and_the_legacy_secret_are_accepted_side_by_side() {
    let es = TestKey::es256("es-1");
    let rs = TestKey::rs256("rs-1");
    let keys = KeyServer::start(&[&es, &rs]).await;
    let app = project_app(&keys, true, Duration::from_secs(60), Duration::from_secs(600)).await;
    let ann = agent("t1", "ann");
    assert_eq!(history(&app, &es.sign(&project_claims(&ann))).await.0, 200, "ES256");
    assert_eq!(history(&app, &rs.sign(&project_claims(&ann))).await.0, 200, "RS256");
    assert_eq!(
        history(&app, &app.mint(&project_claims(&ann))).await.0,
        200,
        "HS256 legacy"
    );
    // The socket takes them too.
    let ws = app
        .connect_token(&es.sign(&project_claims(&ann)))
        .await
        .expect("socket");
    assert_eq!(ws.welcome["user"]["userId"], "ann");
    // A signature by another key of the same type is not this project's.
    let stranger = TestKey::es256("es-1");
    let (status, body) = history(&app, &stranger.sign(&project_claims(&ann))).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_secret_alone_keeps_working() {
    // No project configured at all: HS256 with the secret, as before.
    let app = spawn_app(Backend::Sqlite).await;
    let ann = agent("t1", "ann");
    assert_eq!(history(&app, &app.token(&ann)).await.0, 200);
    let es = TestKey::es256("es-1");
    let (status, body) = history(&app, &es.sign(&claims_of(&ann))).await;
    assert_eq!(
        (status, code(&body)),
        (401, "invalid_token"),
        "no key set: asymmetric tokens are refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_refetches_once_per_interval_and_is_refused() {
    let es = TestKey::es256("es-1");
    let keys = KeyServer::start(&[&es]).await;
    let interval = Duration::from_secs(2);
    let app = project_app(&keys, false, interval, Duration::from_secs(600)).await;
    let ann = agent("t1", "ann");
    assert_eq!(history(&app, &es.sign(&project_claims(&ann))).await.0, 200);
    assert_eq!(keys.fetches(), 1, "fetched once at start, then served from the cache");
    let unknown = TestKey::es256("es-unknown");
    // Refused at once; a refetch happens once the interval since the start fetch has passed.
    let deadline = tokio::time::Instant::now() + interval + WAIT;
    while keys.fetches() < 2 {
        let (status, body) = history(&app, &unknown.sign(&project_claims(&ann))).await;
        assert_eq!((status, code(&body)), (401, "invalid_token"));
        assert!(
            body["error"]["message"].as_str().unwrap().contains("unknown key"),
            "{body}"
        );
        assert!(tokio::time::Instant::now() < deadline, "never refetched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refetched = tokio::time::Instant::now();
    for _ in 0..5 {
        let (status, _) = history(&app, &unknown.sign(&project_claims(&ann))).await;
        assert_eq!(status, 401);
    }
    if refetched.elapsed() < interval {
        assert_eq!(keys.fetches(), 2, "one refetch per interval, however many unknown kids");
    }
    // Without the secret, HS256 is refused whatever it claims.
    let (status, body) = history(&app, &app.mint(&project_claims(&ann))).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_at_once_and_the_old_one_stops_after_the_refetch() {
    let old = TestKey::es256("key-old");
    let new = TestKey::rs256("key-new");
    let keys = KeyServer::start(&[&old]).await;
    let app = project_app(&keys, false, Duration::from_millis(0), Duration::from_secs(600)).await;
    let ann = agent("t1", "ann");
    assert_eq!(history(&app, &old.sign(&project_claims(&ann))).await.0, 200);
    // The project rotates: the new key is published, the old one withdrawn.
    keys.set(&[&new]);
    assert_eq!(
        history(&app, &old.sign(&project_claims(&ann))).await.0,
        200,
        "cached until a refetch"
    );
    assert_eq!(
        history(&app, &new.sign(&project_claims(&ann))).await.0,
        200,
        "unknown kid: refetched"
    );
    let (status, body) = history(&app, &old.sign(&project_claims(&ann))).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"), "rotated out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_must_be_the_projects() {
    let es = TestKey::es256("es-1");
    let keys = KeyServer::start(&[&es]).await;
    let app = project_app(&keys, true, Duration::from_secs(60), Duration::from_secs(600)).await;
    let ann = agent("t1", "ann");
    for iss in [Some("https://another-project.supabase.co/auth/v1"), Some(PROJECT), None] {
        let mut c = project_claims(&ann);
        c.iss = iss.map(str::to_owned);
        for token in [es.sign(&c), app.mint(&c)] {
            let (status, body) = history(&app, &token).await;
            assert_eq!((status, code(&body)), (401, "invalid_issuer"), "{iss:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_algorithm_is_the_keys_not_the_headers() {
    let es = TestKey::es256("es-1");
    let rs = TestKey::rs256("rs-1");
    let keys = KeyServer::start(&[&es, &rs]).await;
    let app = project_app(&keys, true, Duration::from_secs(60), Duration::from_secs(600)).await;
    let claims = project_claims(&agent("t1", "ann"));
    // An RS256 signature presented under the EC key's kid.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("es-1".into());
    let swapped = jsonwebtoken::encode(&h, &claims, &rs.encoding).unwrap();
    let (status, body) = history(&app, &swapped).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("does not match"),
        "{body}"
    );
    // HS256 "signed" with a published public key as the HMAC secret, under its kid.
    for (kid, public) in [
        ("es-1", es.jwk.to_string()),
        ("rs-1", rs.jwk["n"].as_str().unwrap().to_owned()),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.into());
        let forged = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(public.as_bytes())).unwrap();
        let (status, body) = history(&app, &forged).await;
        assert_eq!((status, code(&body)), (401, "invalid_token"), "{kid}");
    }
    // `none`.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "es-1"}).to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap())
    );
    assert_eq!(history(&app, &none).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_server_down_at_start_is_retried_and_the_secret_still_works() {
    let es = TestKey::es256("es-1");
    let keys = KeyServer::start(&[&es]).await;
    keys.down(true);
    let app = project_app(&keys, true, Duration::from_millis(200), Duration::from_secs(600)).await;
    fetched(&keys, 1).await;
    let ann = agent("t1", "ann");
    let (status, body) = history(&app, &es.sign(&project_claims(&ann))).await;
    assert_eq!((status, code(&body)), (503, "auth_unavailable"), "{body}");
    assert_eq!(
        history(&app, &app.mint(&project_claims(&ann))).await.0,
        200,
        "HS256 unaffected"
    );
    keys.down(false);
    // Once the refetch interval has passed, the next token fetches the set.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, _) = history(&app, &es.sign(&project_claims(&ann))).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_server_down_later_leaves_the_cached_keys_working() {
    let es = TestKey::es256("es-1");
    let keys = KeyServer::start(&[&es]).await;
    // A short max age: every request after it tries a refetch.
    let app = project_app(&keys, false, Duration::from_millis(0), Duration::from_millis(1)).await;
    let ann = agent("t1", "ann");
    assert_eq!(history(&app, &es.sign(&project_claims(&ann))).await.0, 200);
    keys.down(true);
    let before = keys.fetches();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            history(&app, &es.sign(&project_claims(&ann))).await.0,
            200,
            "cached keys kept"
        );
    }
    assert!(keys.fetches() > before, "the stale set was refetched (and failed)");
    // A kid nobody ever published is still refused, not waved through.
    let (status, body) = history(&app, &TestKey::es256("other").sign(&project_claims(&ann))).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"), "{body}");
}
