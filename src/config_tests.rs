//! Unit tests of the configuration: flags and env into `Settings`, refusals, redaction.

use super::*;

fn parse(args: &[&str]) -> Result<Settings, String> {
    let mut argv = vec!["switchboard"];
    argv.extend_from_slice(args);
    Settings::from_config(Config::try_parse_from(argv).map_err(|e| e.to_string())?)
}

#[test]
fn refuses_to_start_without_secret_or_dev() {
    // The suite runs without SUPABASE_JWT_SECRET in its environment.
    let err = parse(&[]).unwrap_err();
    assert!(
        err.contains("SUPABASE_JWT_SECRET") && err.contains("SUPABASE_URL") && err.contains("--dev"),
        "{err}"
    );
    let s = parse(&["--dev"]).unwrap();
    assert_eq!(s.auth.jwt_secret.as_deref(), Some(DEV_JWT_SECRET.as_bytes()));
    assert!(s.auth.jwks.is_none());
    assert_eq!(s.addr.to_string(), "127.0.0.1:3001");
    assert_eq!(s.ring_timeout, Duration::from_secs(30));
    assert_eq!(s.media_mode, MediaMode::Embedded);
    assert_eq!(s.sfu.bind.to_string(), "127.0.0.1:7882");
}

#[test]
fn livekit_needs_both_halves_and_selects_its_mode() {
    let s = parse(&[
        "--jwt-secret",
        "0123456789abcdef0123",
        "--livekit-api-key",
        "k",
        "--livekit-api-secret",
        "s",
        "--livekit-api-url",
        "https://lk.example.com",
    ])
    .unwrap();
    assert_eq!(s.media_mode, MediaMode::Livekit);
    assert_eq!(s.livekit.unwrap().ws_url.as_deref(), Some("wss://lk.example.com"));
    assert!(
        parse(&["--dev", "--livekit-api-key", "k"])
            .unwrap_err()
            .contains("LIVEKIT_API_SECRET")
    );
    assert!(parse(&["--dev", "--media-mode", "livekit"]).is_err());
}

#[test]
fn turn_needs_its_secret_and_rtc_binds_with_the_server() {
    let err = parse(&["--dev", "--turn-urls", "turn:t.example.com:3478"]).unwrap_err();
    assert!(err.contains("SWITCHBOARD_TURN_SECRET"), "{err}");
    let s = parse(&[
        "--dev",
        "--addr",
        "0.0.0.0:80",
        "--turn-urls",
        "turn:a:3478,turns:b:5349",
        "--turn-secret",
        "s3cret",
        "--public-ip",
        "203.0.113.9",
    ])
    .unwrap();
    assert_eq!(s.ice.turn_urls, ["turn:a:3478", "turns:b:5349"]);
    assert_eq!(s.sfu.bind.to_string(), "0.0.0.0:7882");
    assert_eq!(s.sfu.public_ip, Some("203.0.113.9".parse().unwrap()));
}

#[test]
fn bad_values_are_refused() {
    assert!(parse(&["--dev", "--ring-timeout-secs", "0"]).is_err());
    assert!(parse(&["--dev", "--call-rate-per-minute", "0"]).is_err());
    assert!(parse(&["--jwt-secret", "short"]).unwrap_err().contains("16 bytes"));
    assert!(parse(&["--dev", "--addr", "not-an-addr"]).is_err());
}

#[test]
fn a_project_url_brings_its_key_set_and_issuer() {
    let s = parse(&["--supabase-url", "https://abc.supabase.co/"]).unwrap();
    assert_eq!(s.auth.jwt_secret, None, "the key set alone is enough");
    assert_eq!(
        s.auth.jwks.as_ref().unwrap().url,
        "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
    );
    assert_eq!(s.auth.issuer().as_deref(), Some("https://abc.supabase.co/auth/v1"));
    let both = parse(&[
        "--supabase-url",
        "https://abc.supabase.co",
        "--supabase-jwks-url",
        "http://127.0.0.1:9999/keys",
        "--jwt-secret",
        "0123456789abcdef0123",
    ])
    .unwrap();
    assert_eq!(both.auth.jwks.unwrap().url, "http://127.0.0.1:9999/keys");
    assert!(both.auth.jwt_secret.is_some(), "both live while a project migrates");
    for bad in ["abc.supabase.co", "ftp://x", "https://", "postgres://x"] {
        let err = parse(&["--supabase-url", bad]).unwrap_err();
        assert!(err.contains("SUPABASE_URL"), "{bad}: {err}");
    }
    assert!(parse(&["--dev", "--supabase-jwks-url", "nope"]).is_err());
}

#[test]
fn a_database_url_that_is_neither_sqlite_nor_postgres_is_refused() {
    for bad in ["postgress://x@localhost/db", "mysql://root@localhost/db", "::::"] {
        let err = parse(&["--dev", "--database-url", bad]).unwrap_err();
        assert!(err.contains("DATABASE_URL"), "{bad}: {err}");
    }
    assert!(parse(&["--dev", "--database-url", "postgres://u@h/db"]).is_ok());
}

#[test]
fn ws_url_mapping() {
    assert_eq!(ws_url_of("https://a.b"), "wss://a.b");
    assert_eq!(ws_url_of("http://a.b:7880"), "ws://a.b:7880");
    assert_eq!(ws_url_of("wss://a.b"), "wss://a.b");
}

#[test]
fn secrets_never_show_in_debug() {
    let s = parse(&[
        "--jwt-secret",
        "hs256-secret-0123456789abcdef",
        "--livekit-api-key",
        "k",
        "--livekit-api-secret",
        "livekit-secret-value",
        "--livekit-api-url",
        "https://lk.example.com",
        "--turn-urls",
        "turn:a:3478",
        "--turn-secret",
        "turn-secret-value",
        "--database-url",
        "postgres://app:db-password-value@db.example/crm",
    ])
    .unwrap();
    let dbg = format!("{s:?}");
    for secret in [
        "hs256-secret-0123456789abcdef",
        "livekit-secret-value",
        "turn-secret-value",
        "db-password-value",
    ] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    assert!(dbg.contains("<redacted>"), "{dbg}");
}
