//! Twilio's REST API, as much as switchboard calls: place a call (Calls API) and send a text (Messages API); numbers and recordings are in `rest_numbers.rs`.
//!
//! Requests are form-encoded with Basic auth (the account SID and its auth
//! token), to `TWILIO_API_URL` (Twilio's by default; tests point it at a
//! local fake that follows the documented requests and responses). An error
//! answer is Twilio's documented JSON (`code`, `message`, `more_info`,
//! `status`) and comes back as [`TwilioError::Api`]; nothing of the token is
//! ever logged or printed.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

#[path = "rest_numbers.rs"]
mod numbers;
pub use numbers::{AvailableNumber, Capabilities, IncomingNumber, TWILIO_MEDIA_TIMEOUT};

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
    /// Refused before any request: an argument Twilio would not accept or
    /// that cannot go into a URL (a malformed SID, country, page size).
    Invalid(String),
}

impl std::fmt::Display for TwilioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => write!(f, "Twilio refused ({}, code {:?}): {}", e.status, e.code, e.message),
            Self::Transport(e) => write!(f, "cannot reach Twilio: {e}"),
            Self::Invalid(e) => write!(f, "not sent to Twilio: {e}"),
        }
    }
}

fn transport(e: reqwest::Error) -> TwilioError {
    TwilioError::Transport(e.without_url().to_string())
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

    /// `{api}/2010-04-01/Accounts/{sid}/{path}`: `path` is built by the
    /// caller from checked parts only (fixed names, validated SIDs).
    fn account_url(&self, path: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{path}",
            self.account.api_url.trim_end_matches('/'),
            self.account.account_sid
        )
    }

    fn url(&self, resource: &str) -> String {
        self.account_url(&format!("{resource}.json"))
    }

    /// Sends with Basic auth. A success answer comes back as it is (its body
    /// unread); any other is Twilio's error body, as [`TwilioError::Api`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, TwilioError> {
        let resp = request
            .basic_auth(&self.account.account_sid, Some(&self.account.auth_token))
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.map_err(transport)?;
        match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) => Err(TwilioError::Api(e)),
            Err(_) => Err(TwilioError::Transport(format!(
                "HTTP {status} without Twilio's error body"
            ))),
        }
    }

    /// [`Self::send`], then the success answer's JSON body.
    async fn json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, TwilioError> {
        let body = self.send(request).await?.bytes().await.map_err(transport)?;
        serde_json::from_slice(&body).map_err(|e| TwilioError::Transport(format!("undocumented answer: {e}")))
    }

    async fn post<T: DeserializeOwned>(&self, resource: &str, form: &[(&str, &str)]) -> Result<T, TwilioError> {
        self.json(self.http.post(self.url(resource)).form(form)).await
    }

    async fn get<T: DeserializeOwned>(&self, resource: &str, query: &[(&str, &str)]) -> Result<T, TwilioError> {
        self.json(self.http.get(self.url(resource)).query(query)).await
    }

    /// A DELETE: Twilio answers 204 with no body.
    async fn delete(&self, resource: &str) -> Result<(), TwilioError> {
        self.send(self.http.delete(self.url(resource))).await.map(drop)
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
