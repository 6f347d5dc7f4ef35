//! Webhook signatures against golden values made by Twilio's `RequestValidator`.

use super::*;

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    token: String,
    url: String,
    params: Vec<(String, String)>,
    signature: String,
    validates: std::collections::BTreeMap<String, bool>,
    tampered_ok: Option<bool>,
}

fn golden() -> Golden {
    serde_json::from_str(include_str!("../../tests/golden/twilio_signatures.json")).unwrap()
}

#[test]
fn signatures_match_twilios_own_library() {
    let g = golden();
    assert!(g.cases.len() >= 50);
    for c in &g.cases {
        assert_eq!(
            compute(&c.token, &c.url, &c.params),
            c.signature,
            "{} {:?}",
            c.url,
            c.params
        );
    }
}

#[test]
fn validation_agrees_with_twilios_validator_with_and_without_the_port() {
    for c in golden().cases {
        for (url, ok) in &c.validates {
            assert_eq!(is_valid(&c.token, url, &c.params, &c.signature), *ok, "{url}");
        }
        if let Some(ok) = c.tampered_ok {
            let tampered = vec![("x".to_owned(), "y".to_owned())];
            assert_eq!(is_valid(&c.token, &c.url, &tampered, &c.signature), ok);
        }
    }
}

#[test]
fn a_wrong_missing_or_malformed_signature_is_refused() {
    let c = &golden().cases[7];
    assert!(is_valid(&c.token, &c.url, &c.params, &c.signature));
    assert!(!is_valid("other-token", &c.url, &c.params, &c.signature));
    assert!(!is_valid(&c.token, &c.url, &c.params, ""));
    assert!(!is_valid(&c.token, &c.url, &c.params, "not base64 !!"));
    assert!(!is_valid(&c.token, &format!("{}x", c.url), &c.params, &c.signature));
    let mut changed = c.params.clone();
    changed[0].1.push('!');
    assert!(!is_valid(&c.token, &c.url, &changed, &c.signature));
    assert!(!is_valid("", &c.url, &c.params, &c.signature));
}

#[test]
fn port_variants_follow_the_scheme() {
    assert_eq!(
        port_variants("https://a.example/x?y=1"),
        ("https://a.example/x?y=1".into(), "https://a.example:443/x?y=1".into())
    );
    assert_eq!(
        port_variants("http://127.0.0.1:3001/p"),
        ("http://127.0.0.1/p".into(), "http://127.0.0.1:3001/p".into())
    );
    assert_eq!(port_variants("http://h"), ("http://h".into(), "http://h:80".into()));
    assert_eq!(port_variants("no-scheme"), ("no-scheme".into(), "no-scheme".into()));
}
