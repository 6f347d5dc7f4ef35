//! Twilio's configuration (`TWILIO_*`, `SWITCHBOARD_PUBLIC_URL`), secrets redacted from `Debug`.

use super::rest::TwilioAccount;

/// Everything switchboard needs to talk to Twilio and to be called back by it.
#[derive(Clone)]
pub struct TwilioSettings {
    pub account: TwilioAccount,
    /// The TwiML app the softphones' outgoing calls use (`TWILIO_TWIML_APP_SID`).
    pub twiml_app_sid: Option<String>,
    /// API key and secret that sign softphone tokens (`TWILIO_API_KEY`, `TWILIO_API_SECRET`).
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    /// The address Twilio calls (`SWITCHBOARD_PUBLIC_URL`, no trailing slash):
    /// the base of every callback URL and of every URL a signature is checked against.
    pub public_url: String,
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings")
            .field("account", &self.account)
            .field("twiml_app_sid", &self.twiml_app_sid)
            .field("api_key", &self.api_key)
            .field("api_secret", &self.api_secret.as_ref().map(|_| "<redacted>"))
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl TwilioSettings {
    /// `public_url` + `path_and_query`: the URL Twilio requested (and signed).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.public_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = TwilioSettings {
            account: TwilioAccount {
                api_url: "http://x".into(),
                account_sid: "AC1".into(),
                auth_token: "tok-secret".into(),
            },
            twiml_app_sid: Some("AP1".into()),
            api_key: Some("SK1".into()),
            api_secret: Some("sec-secret".into()),
            public_url: "https://sb.example".into(),
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("tok-secret") && !shown.contains("sec-secret"),
            "{shown}"
        );
        assert!(shown.contains("AC1") && shown.contains("SK1"));
        assert_eq!(s.url("/api/x?a=1"), "https://sb.example/api/x?a=1");
    }
}
