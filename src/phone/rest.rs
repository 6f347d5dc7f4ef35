//! Twilio's REST API, as much as switchboard calls: place a call (Calls API) and send a text (Messages API).
//!
//! Requests are form-encoded with Basic auth (the account SID and its auth
//! token), to `TWILIO_API_URL` (Twilio's by default; tests point it at a
//! local fake that follows the documented requests and responses). An error
//! answer is Twilio's documented JSON (`code`, `message`, `more_info`,
//! `status`) and comes back as [`TwilioError::Api`]; nothing of the token is
//! ever logged or printed.

use std::time::Duration;

use serde::Deserialize;

/// How long one request to Twilio may take.
pub const TWILIO_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Twilio's API root.
pub const TWILIO_API_URL: &str = "https://api.twilio.com";

/// Where and as whom to call Twilio.
#[derive(Clone)]
pub struct TwilioAccount {
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for TwilioAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccount")
            .field("api_url", &self.api_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct OutboundCall<'a> {
    pub from: &'a str,
    pub to: &'a str,
    /// Where Twilio fetches the call's TwiML.
    pub twiml_url: &'a str,
    pub status_callback: &'a str,
    pub record: bool,
    pub recording_callback: Option<&'a str>,
}

/// The parts of a Call or Message resource switchboard keeps.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Resource {
    pub sid: String,
    pub status: String,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub price_unit: Option<String>,
    /// Messages: how many segments Twilio counts.
    #[serde(default)]
    pub num_segments: Option<String>,
}

/// Twilio's error body.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ApiError {
    pub code: Option<i64>,
    pub message: String,
    #[serde(default)]
    pub more_info: Option<String>,
    pub status: u16,
}

#[derive(Debug)]
pub enum TwilioError {
    /// Twilio answered with an error (its code and message).
    Api(ApiError),
    /// Twilio could not be reached, timed out, or answered something undocumented.
    Transport(String),
}

impl std::fmt::Display for TwilioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => write!(f, "Twilio refused ({}, code {:?}): {}", e.status, e.code, e.message),
            Self::Transport(e) => write!(f, "cannot reach Twilio: {e}"),
        }
    }
}

/// A client for one account.
pub struct TwilioRest {
    account: TwilioAccount,
    http: reqwest::Client,
}

impl TwilioRest {
    pub fn new(account: TwilioAccount) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TWILIO_REQUEST_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { account, http }
    }

    fn url(&self, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.account.api_url.trim_end_matches('/'),
            self.account.account_sid
        )
    }

    async fn post(&self, resource: &str, form: &[(&str, &str)]) -> Result<Resource, TwilioError> {
        let resp = self
            .http
            .post(self.url(resource))
            .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
            .form(form)
            .send()
            .await
            .map_err(|e| TwilioError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TwilioError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| TwilioError::Transport(format!("undocumented answer: {e}")))
        } else {
            match serde_json::from_slice::<ApiError>(&body) {
                Ok(e) => Err(TwilioError::Api(e)),
                Err(_) => Err(TwilioError::Transport(format!(
                    "HTTP {status} without Twilio's error body"
                ))),
            }
        }
    }

    /// Places a call (`POST /2010-04-01/Accounts/{sid}/Calls.json`), with
    /// every status event reported to `status_callback`.
    pub async fn create_call(&self, call: &OutboundCall<'_>) -> Result<Resource, TwilioError> {
        let mut form = vec![
            ("From", call.from),
            ("To", call.to),
            ("Url", call.twiml_url),
            ("Method", "POST"),
            ("StatusCallback", call.status_callback),
            ("StatusCallbackMethod", "POST"),
        ];
        for event in ["initiated", "ringing", "answered", "completed"] {
            form.push(("StatusCallbackEvent", event));
        }
        if call.record {
            form.push(("Record", "true"));
            if let Some(cb) = call.recording_callback {
                form.push(("RecordingStatusCallback", cb));
                form.push(("RecordingStatusCallbackMethod", "POST"));
            }
        }
        self.post("Calls", &form).await
    }

    /// Sends a text (`POST /2010-04-01/Accounts/{sid}/Messages.json`).
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        body: &str,
        status_callback: &str,
    ) -> Result<Resource, TwilioError> {
        self.post(
            "Messages",
            &[
                ("From", from),
                ("To", to),
                ("Body", body),
                ("StatusCallback", status_callback),
            ],
        )
        .await
    }
}

#[cfg(test)]
#[path = "rest_tests.rs"]
mod tests;
