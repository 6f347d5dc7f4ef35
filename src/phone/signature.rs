//! `X-Twilio-Signature`: how Twilio signs a webhook, and checking it.
//!
//! Twilio takes the full URL it requested, appends each POST parameter's
//! name and value (names sorted, and a repeated name's values sorted,
//! duplicates once), computes HMAC-SHA1 with the account's auth token and
//! sends it base64-encoded. Its own validator accepts the URL with or without
//! the scheme's default port (Twilio's back ends differ there), so this one
//! does too. Pinned by golden values from Twilio's helper library
//! (`tests/golden/twilio_signatures.json`, `scripts/golden/make_golden.py`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The HMAC over `url` and the sorted parameters, before it is finished.
fn mac_of(auth_token: &str, url: &str, params: &[(String, String)]) -> Option<Hmac<Sha1>> {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Byte order of UTF-8 is code point order: the same as Python's `sorted`.
    pairs.sort_unstable();
    pairs.dedup();
    // HMAC takes a key of any length: this is never `None`.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).ok()?;
    mac.update(url.as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    Some(mac)
}

/// The signature Twilio sends for a form POST of `params` to `url`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    mac_of(auth_token, url, params).map_or_else(String::new, |m| STANDARD.encode(m.finalize().into_bytes()))
}

/// Whether `signature` is Twilio's for `params` posted to `url` (as
/// configured: `SWITCHBOARD_PUBLIC_URL` plus the path and query), with or
/// without the default port. Compared in constant time.
pub fn is_valid(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    if expected.is_empty() {
        return false;
    }
    let (without, with) = port_variants(url);
    [without, with]
        .iter()
        .any(|u| mac_of(auth_token, u, params).is_some_and(|m| m.verify_slice(&expected).is_ok()))
}

/// `url` without its port if it names one, and with the scheme's default
/// port if it names none (what Twilio's validator tries).
fn port_variants(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), url.to_owned());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let hostport = &authority[host_start..];
    let port_at = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') && hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()) => Some(i),
        _ => None,
    };
    match port_at {
        Some(i) => {
            let bare = format!("{scheme}://{}{}{tail}", &authority[..host_start], &hostport[..i]);
            (bare, url.to_owned())
        }
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
            (url.to_owned(), format!("{scheme}://{authority}:{port}{tail}"))
        }
    }
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
