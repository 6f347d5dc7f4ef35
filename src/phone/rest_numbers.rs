//! Twilio phone numbers and recordings for the REST client: search (AvailablePhoneNumbers Local), provision and release (IncomingPhoneNumbers), a recording's audio (Recordings media).
//!
//! A second `impl TwilioRest` block, sharing `rest.rs`'s private helpers (so
//! the same Basic auth, timeouts and error bodies). Every argument that goes
//! into a URL path is checked first — a country is two ASCII letters, a SID
//! its two-letter prefix and 32 hex digits — and anything else is refused as
//! [`TwilioError::Invalid`] without a request; query values are URL-encoded.

use std::time::Duration;

use serde::Deserialize;

use super::{TwilioError, TwilioRest};

/// How long fetching a recording may take, its body included (the client's
/// [`super::TWILIO_REQUEST_TIMEOUT`] is too short to stream a long call).
pub const TWILIO_MEDIA_TIMEOUT: Duration = Duration::from_secs(300);

/// What a number can do. AvailablePhoneNumbers answers the keys `voice`,
/// `SMS`, `MMS`; IncomingPhoneNumbers answers `voice`, `sms`, `mms`: both
/// spellings are read. A capability Twilio leaves out is `false`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Capabilities {
    pub voice: bool,
    #[serde(rename = "SMS", alias = "sms")]
    pub sms: bool,
    #[serde(rename = "MMS", alias = "mms")]
    pub mms: bool,
}

/// A number on offer (one of AvailablePhoneNumbers' `available_phone_numbers`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AvailableNumber {
    /// E.164.
    pub phone_number: String,
    /// Formatted for people, e.g. `(415) 555-0100`.
    pub friendly_name: String,
    /// The city; Twilio answers `null` for many countries.
    #[serde(default)]
    pub locality: Option<String>,
    /// The state or province abbreviation (US and Canada).
    #[serde(default)]
    pub region: Option<String>,
    pub iso_country: String,
    pub capabilities: Capabilities,
}

/// The parts of an IncomingPhoneNumber resource switchboard keeps.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IncomingNumber {
    /// `PN` + 32 hex digits; what [`TwilioRest::release_number`] takes.
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: String,
    pub capabilities: Capabilities,
}

/// One page of AvailablePhoneNumbers (its paging fields are not needed: one
/// page of `PageSize` numbers is the whole search).
#[derive(Deserialize)]
struct AvailablePage {
    available_phone_numbers: Vec<AvailableNumber>,
}

/// Whether `sid` is `prefix` followed by 32 hex digits (Twilio's
/// `^XX[0-9a-fA-F]{32}$`).
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

fn check_sid(sid: &str, prefix: &str, what: &str) -> Result<(), TwilioError> {
    if is_sid(sid, prefix) {
        Ok(())
    } else {
        Err(TwilioError::Invalid(format!(
            "a {what} SID is {prefix} and 32 hex digits, not {:?}",
            sid.chars().take(40).collect::<String>()
        )))
    }
}

impl TwilioRest {
    /// Searches local numbers on offer
    /// (`GET /2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/{country}/Local.json`),
    /// `page_size` of them at most (Twilio allows 1 to 1000). `country` is an
    /// ISO 3166-1 alpha-2 code (either case); `area_code` (US and Canada) and
    /// `contains` (Twilio's pattern, e.g. `510555****`) are sent only if given.
    pub async fn search_numbers(
        &self,
        country: &str,
        area_code: Option<&str>,
        contains: Option<&str>,
        page_size: u32,
    ) -> Result<Vec<AvailableNumber>, TwilioError> {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(TwilioError::Invalid(format!(
                "a country is two letters (ISO 3166-1 alpha-2), not {:?}",
                country.chars().take(40).collect::<String>()
            )));
        }
        if !(1..=1000).contains(&page_size) {
            return Err(TwilioError::Invalid(format!(
                "a page size is 1 to 1000, not {page_size}"
            )));
        }
        let page_size = page_size.to_string();
        let mut query = vec![("PageSize", page_size.as_str())];
        if let Some(a) = area_code {
            query.push(("AreaCode", a));
        }
        if let Some(c) = contains {
            query.push(("Contains", c));
        }
        let resource = format!("AvailablePhoneNumbers/{}/Local", country.to_ascii_uppercase());
        let page: AvailablePage = self.get(&resource, &query).await?;
        Ok(page.available_phone_numbers)
    }

    /// Buys `phone_number` (E.164, from [`Self::search_numbers`]) for the
    /// account (`POST /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json`),
    /// its calls, texts and status events all sent to switchboard by POST.
    pub async fn provision_number(
        &self,
        phone_number: &str,
        voice_url: &str,
        sms_url: &str,
        status_callback: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        self.post(
            "IncomingPhoneNumbers",
            &[
                ("PhoneNumber", phone_number),
                ("VoiceUrl", voice_url),
                ("VoiceMethod", "POST"),
                ("SmsUrl", sms_url),
                ("SmsMethod", "POST"),
                ("StatusCallback", status_callback),
                ("StatusCallbackMethod", "POST"),
            ],
        )
        .await
    }

    /// Releases a number
    /// (`DELETE /2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{PN…}.json`,
    /// answered 204). A number already gone is [`TwilioError::Api`] with
    /// status 404 (code 20404), left to the caller to treat as released.
    pub async fn release_number(&self, sid: &str) -> Result<(), TwilioError> {
        check_sid(sid, "PN", "phone number")?;
        self.delete(&format!("IncomingPhoneNumbers/{sid}")).await
    }

    /// Fetches a recording's audio as MP3
    /// (`GET /2010-04-01/Accounts/{sid}/Recordings/{RE…}.mp3`, Basic auth):
    /// the successful response, its body unread for the caller to stream
    /// (`chunk()`), within [`TWILIO_MEDIA_TIMEOUT`]; or Twilio's error body.
    pub async fn recording_media(&self, recording_sid: &str) -> Result<reqwest::Response, TwilioError> {
        check_sid(recording_sid, "RE", "recording")?;
        let url = self.account_url(&format!("Recordings/{recording_sid}.mp3"));
        self.send(self.http.get(url).timeout(TWILIO_MEDIA_TIMEOUT)).await
    }
}
