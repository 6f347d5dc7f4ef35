//! STUN/TURN servers for browsers, with time-limited TURN credentials from a shared secret.
//!
//! The scheme is coturn's `use-auth-secret` (the "TURN REST API"): the
//! username is `<expiry unix seconds>:<user id>`, the password is
//! base64(HMAC-SHA1(secret, username)). coturn recomputes it from the same
//! secret and refuses it after the expiry, so no credential is ever stored.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::model::Millis;
use crate::wire::views::IceServerView;

/// The STUN/TURN configuration.
#[derive(Clone, Default)]
pub struct IceSettings {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<String>,
    pub turn_ttl: Duration,
}

impl std::fmt::Debug for IceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceSettings")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("turn_secret", &self.turn_secret.as_ref().map(|_| "<redacted>"))
            .field("turn_ttl", &self.turn_ttl)
            .finish()
    }
}

/// TURN username and password for `user_id`, valid until `now + ttl`.
pub fn turn_credentials(secret: &str, user_id: &str, now: Millis, ttl: Duration) -> (String, String) {
    let expiry = now / 1000 + ttl.as_secs() as i64;
    let username = format!("{expiry}:{user_id}");
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    (username, STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `iceServers` a user's browser should use.
pub fn ice_servers(settings: &IceSettings, user_id: &str, now: Millis) -> Vec<IceServerView> {
    let mut servers = Vec::new();
    if !settings.stun_urls.is_empty() {
        servers.push(IceServerView {
            urls: settings.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if let (false, Some(secret)) = (settings.turn_urls.is_empty(), &settings.turn_secret) {
        let (username, credential) = turn_credentials(secret, user_id, now, settings.turn_ttl);
        servers.push(IceServerView {
            urls: settings.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        // Reference value: printf '%s' '1700003600:alice' | openssl dgst -sha1 -hmac 'north' -binary | base64
        let (user, pass) = turn_credentials("north", "alice", 1_700_000_000_000, Duration::from_secs(3600));
        assert_eq!(user, "1700003600:alice");
        assert_eq!(pass, "wjwSXO2ch1B6VaLTLMy2Avn5O9o=");
    }

    #[test]
    fn servers_are_listed_only_when_configured() {
        assert!(ice_servers(&IceSettings::default(), "u", 0).is_empty());
        let s = IceSettings {
            stun_urls: vec!["stun:s:3478".into()],
            turn_urls: vec!["turn:t:3478".into()],
            turn_secret: Some("k".into()),
            turn_ttl: Duration::from_secs(60),
        };
        let v = ice_servers(&s, "u1", 1_000_000);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].urls, ["stun:s:3478"]);
        assert_eq!(v[0].username, None);
        assert_eq!(v[1].username.as_deref(), Some("1060:u1"));
        assert!(v[1].credential.as_deref().is_some_and(|c| c.len() == 28));
    }
}
