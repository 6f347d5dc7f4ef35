//! Provider sync's flags (`RINGCENTRAL_*`, `MIGHTYCALL_*`, `SWITCHBOARD_ENCRYPTION_KEY`, `SYNC_*`) and their resolution.

use std::time::Duration;

use clap::Args;

use crate::integrations::SyncSettings;
use crate::integrations::settings::{SYNC_INITIAL_LOOKBACK, SYNC_INTERVAL, SYNC_OVERLAP, SYNC_REQUESTS_PER_MINUTE};
use crate::providers::mightycall::MightyCallSettings;
use crate::providers::mightycall::client::MIGHTYCALL_API_URL;
use crate::providers::ringcentral::RingCentralSettings;
use crate::providers::ringcentral::client::RINGCENTRAL_SERVER_URL;
use crate::providers::seal::Sealer;

/// Call-log sync from RingCentral and MightyCall (docs/integrations.md). Unset: the integration routes answer `503 unavailable`.
#[derive(Args, Clone, Default)]
pub struct IntegrationsConfig {
    /// 32 bytes, base64 (`openssl rand -base64 32`): seals provider tokens at rest and signs OAuth states.
    #[arg(long, env = "SWITCHBOARD_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// The RingCentral app's client id; with its secret and the encryption key, turns RingCentral on.
    #[arg(long, env = "RINGCENTRAL_CLIENT_ID")]
    pub ringcentral_client_id: Option<String>,

    #[arg(long, env = "RINGCENTRAL_CLIENT_SECRET", hide_env_values = true)]
    pub ringcentral_client_secret: Option<String>,

    /// RingCentral's API (`https://platform.devtest.ringcentral.com` for the sandbox; tests: a fake).
    #[arg(long, env = "RINGCENTRAL_SERVER_URL", default_value = RINGCENTRAL_SERVER_URL)]
    pub ringcentral_server_url: String,

    /// Our callback as registered with the app: `https://<host>/api/integrations/ringcentral/callback`.
    #[arg(long, env = "RINGCENTRAL_REDIRECT_URL")]
    pub ringcentral_redirect_url: Option<String>,

    /// MightyCall's API (`https://api.mightycall.com/v4` for Classic accounts; tests: a fake). MightyCall is on whenever the encryption key is set: each org brings its own key.
    #[arg(long, env = "MIGHTYCALL_API_URL", default_value = MIGHTYCALL_API_URL)]
    pub mightycall_api_url: String,

    /// Seconds between two scheduled syncs of one integration.
    #[arg(long, env = "SYNC_INTERVAL_SECS", default_value_t = SYNC_INTERVAL.as_secs())]
    pub sync_interval_secs: u64,

    /// Seconds each window reaches back before the last one ended.
    #[arg(long, env = "SYNC_OVERLAP_SECS", default_value_t = SYNC_OVERLAP.as_secs())]
    pub sync_overlap_secs: u64,

    /// Days a first sync reaches back.
    #[arg(long, env = "SYNC_INITIAL_DAYS", default_value_t = SYNC_INITIAL_LOOKBACK.as_secs() / 86_400)]
    pub sync_initial_days: u64,

    /// Provider requests one sync makes per minute at most.
    #[arg(long, env = "SYNC_REQUESTS_PER_MINUTE", default_value_t = SYNC_REQUESTS_PER_MINUTE)]
    pub sync_requests_per_minute: u32,
}

/// What the integrations need, resolved.
#[derive(Clone, Debug, Default)]
pub struct IntegrationSettings {
    pub sealer: Option<Sealer>,
    pub ringcentral: Option<RingCentralSettings>,
    /// On whenever `sealer` is (orgs connect with their own key).
    pub mightycall: Option<MightyCallSettings>,
    pub sync: SyncSettings,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An error names what is missing or malformed.
pub fn integration_settings(c: &IntegrationsConfig) -> Result<IntegrationSettings, String> {
    let sealer = set(&c.encryption_key).map(|k| Sealer::from_base64(&k)).transpose()?;
    let ringcentral = match (set(&c.ringcentral_client_id), set(&c.ringcentral_client_secret)) {
        (None, None) => None,
        (Some(id), Some(secret)) => {
            if sealer.is_none() {
                return Err(
                    "RINGCENTRAL_CLIENT_ID needs SWITCHBOARD_ENCRYPTION_KEY (tokens are sealed at rest)".into(),
                );
            }
            let redirect = set(&c.ringcentral_redirect_url)
                .ok_or("RINGCENTRAL_CLIENT_ID needs RINGCENTRAL_REDIRECT_URL (the callback registered with the app)")?;
            for (name, url) in [
                ("RINGCENTRAL_SERVER_URL", c.ringcentral_server_url.as_str()),
                ("RINGCENTRAL_REDIRECT_URL", &redirect),
            ] {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("{name} must start with https:// (or http:// for a local test)"));
                }
            }
            Some(RingCentralSettings {
                client_id: id,
                client_secret: secret,
                server_url: c.ringcentral_server_url.trim_end_matches('/').to_owned(),
                redirect_url: redirect,
                page_size: crate::providers::ringcentral::client::PAGE_SIZE,
            })
        }
        _ => return Err("set both RINGCENTRAL_CLIENT_ID and RINGCENTRAL_CLIENT_SECRET, or neither".into()),
    };
    let mightycall = match sealer {
        None => None,
        Some(_) => {
            let url = c.mightycall_api_url.trim().trim_end_matches('/');
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err("MIGHTYCALL_API_URL must start with https:// (or http:// for a local test)".into());
            }
            Some(MightyCallSettings {
                api_url: url.to_owned(),
                page_size: crate::providers::mightycall::client::PAGE_SIZE,
            })
        }
    };
    if c.sync_interval_secs == 0 || c.sync_requests_per_minute == 0 {
        return Err("SYNC_INTERVAL_SECS and SYNC_REQUESTS_PER_MINUTE must be at least 1".into());
    }
    Ok(IntegrationSettings {
        sealer,
        ringcentral,
        mightycall,
        sync: SyncSettings {
            interval: Duration::from_secs(c.sync_interval_secs),
            overlap: Duration::from_secs(c.sync_overlap_secs),
            initial_lookback: Duration::from_secs(c.sync_initial_days.max(1) * 86_400),
            requests_per_minute: c.sync_requests_per_minute,
            ..SyncSettings::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> IntegrationsConfig {
        IntegrationsConfig {
            ringcentral_server_url: RINGCENTRAL_SERVER_URL.into(),
            mightycall_api_url: MIGHTYCALL_API_URL.into(),
            sync_interval_secs: 900,
            sync_overlap_secs: 7200,
            sync_initial_days: 7,
            sync_requests_per_minute: 10,
            ..IntegrationsConfig::default()
        }
    }

    #[test]
    fn unset_is_off_and_each_missing_piece_is_named() {
        let s = integration_settings(&cfg()).unwrap();
        assert!(s.sealer.is_none() && s.ringcentral.is_none() && s.mightycall.is_none());
        let mut c = cfg();
        c.ringcentral_client_id = Some("cid".into());
        assert!(
            integration_settings(&c)
                .unwrap_err()
                .contains("RINGCENTRAL_CLIENT_SECRET")
        );
        c.ringcentral_client_secret = Some("sec".into());
        assert!(
            integration_settings(&c)
                .unwrap_err()
                .contains("SWITCHBOARD_ENCRYPTION_KEY")
        );
        c.encryption_key = Some("short".into());
        assert!(integration_settings(&c).unwrap_err().contains("base64"));
        c.encryption_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
        assert!(
            integration_settings(&c)
                .unwrap_err()
                .contains("RINGCENTRAL_REDIRECT_URL")
        );
        c.ringcentral_redirect_url = Some("ftp://x".into());
        assert!(integration_settings(&c).unwrap_err().contains("https://"));
        c.ringcentral_redirect_url = Some("https://sb.example/api/integrations/ringcentral/callback".into());
        let s = integration_settings(&c).unwrap();
        assert_eq!(s.ringcentral.unwrap().server_url, RINGCENTRAL_SERVER_URL);
        assert_eq!(
            s.mightycall.unwrap().api_url,
            MIGHTYCALL_API_URL,
            "the key alone turns MightyCall on"
        );
        c.mightycall_api_url = "ccapi.mightycall.com".into();
        assert!(integration_settings(&c).unwrap_err().contains("MIGHTYCALL_API_URL"));
        c.mightycall_api_url = "http://127.0.0.1:9/v4/".into();
        assert_eq!(
            integration_settings(&c).unwrap().mightycall.unwrap().api_url,
            "http://127.0.0.1:9/v4"
        );
        assert_eq!(s.sync.interval, Duration::from_secs(900));
        c.sync_requests_per_minute = 0;
        assert!(
            integration_settings(&c)
                .unwrap_err()
                .contains("SYNC_REQUESTS_PER_MINUTE")
        );
    }
}
