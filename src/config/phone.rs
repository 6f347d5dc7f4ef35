//! Twilio's flags (`TWILIO_*`, `SWITCHBOARD_PUBLIC_URL`) and their resolution into `TwilioSettings`.

use clap::Args;

use crate::phone::rest::{TWILIO_API_URL, TwilioAccount};
use crate::phone::settings::TwilioSettings;

/// Phone calls and texts through Twilio (docs/phone.md). All unset: the phone routes answer `503 unavailable`.
#[derive(Args, Clone, Default)]
pub struct PhoneConfig {
    /// Twilio account SID (`AC…`); with the auth token, turns phone calls on.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,

    /// Twilio auth token: Basic auth of the REST API and the key of every webhook signature.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,

    /// Twilio's REST API (tests point it at a fake).
    #[arg(long, env = "TWILIO_API_URL", default_value = TWILIO_API_URL)]
    pub twilio_api_url: String,

    /// The TwiML app whose Voice URL is our voice webhook (softphone outgoing calls).
    #[arg(long, env = "TWILIO_TWIML_APP_SID")]
    pub twilio_twiml_app_sid: Option<String>,

    /// API key (`SK…`) that signs softphone access tokens.
    #[arg(long, env = "TWILIO_API_KEY")]
    pub twilio_api_key: Option<String>,

    /// The API key's secret.
    #[arg(long, env = "TWILIO_API_SECRET", hide_env_values = true)]
    pub twilio_api_secret: Option<String>,

    /// The address Twilio calls us at (`https://sb.example.com`): callback URLs and signatures use it.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `None` when Twilio is not configured; an error names what is missing or malformed.
pub fn twilio_settings(c: &PhoneConfig) -> Result<Option<TwilioSettings>, String> {
    let (sid, token) = match (set(&c.twilio_account_sid), set(&c.twilio_auth_token)) {
        (None, None) => return Ok(None),
        (Some(s), Some(t)) => (s, t),
        _ => return Err("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither".into()),
    };
    if !sid.starts_with("AC") || sid.len() != 34 || !sid[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits".into());
    }
    let public_url =
        set(&c.public_url).ok_or("TWILIO_ACCOUNT_SID needs SWITCHBOARD_PUBLIC_URL (the address Twilio calls back)")?;
    let public_url = public_url.trim_end_matches('/').to_owned();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err("SWITCHBOARD_PUBLIC_URL must start with https:// (or http:// for a local test)".into());
    }
    let (api_key, api_secret) = (set(&c.twilio_api_key), set(&c.twilio_api_secret));
    if api_key.is_some() != api_secret.is_some() {
        return Err("set both TWILIO_API_KEY and TWILIO_API_SECRET, or neither".into());
    }
    Ok(Some(TwilioSettings {
        account: TwilioAccount {
            api_url: c.twilio_api_url.trim_end_matches('/').to_owned(),
            account_sid: sid,
            auth_token: token,
        },
        twiml_app_sid: set(&c.twilio_twiml_app_sid),
        api_key,
        api_secret,
        public_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn cfg() -> PhoneConfig {
        PhoneConfig {
            twilio_api_url: TWILIO_API_URL.into(),
            ..PhoneConfig::default()
        }
    }

    #[test]
    fn unset_is_off_and_halves_are_refused() {
        assert!(twilio_settings(&cfg()).unwrap().is_none());
        let mut c = cfg();
        c.twilio_account_sid = Some(SID.into());
        assert!(twilio_settings(&c).unwrap_err().contains("TWILIO_AUTH_TOKEN"));
        c.twilio_auth_token = Some("tok".into());
        assert!(twilio_settings(&c).unwrap_err().contains("SWITCHBOARD_PUBLIC_URL"));
        c.public_url = Some("ftp://x".into());
        assert!(twilio_settings(&c).unwrap_err().contains("https://"));
        c.public_url = Some("https://sb.example/".into());
        c.twilio_api_key = Some("SK1".into());
        assert!(twilio_settings(&c).unwrap_err().contains("TWILIO_API_SECRET"));
        c.twilio_api_secret = Some("s".into());
        let s = twilio_settings(&c).unwrap().unwrap();
        assert_eq!(s.public_url, "https://sb.example");
        assert_eq!(s.account.account_sid, SID);
        c.twilio_account_sid = Some("AC12".into());
        assert!(twilio_settings(&c).unwrap_err().contains("32 hex"));
    }
}
