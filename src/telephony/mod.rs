//! The phone service: Twilio's webhooks and REST API onto the one CallLog, texts, usage and invoices.
//!
//! Every read goes through the caller's [`Scope`], so the roles hold in the
//! store's queries; another org's number, call or text is "not found",
//! exactly as an unknown id. Webhooks are checked against Twilio's signature
//! before anything is read, and every write they cause is idempotent: a row
//! moves only forward (`phone::calls`), a usage record is keyed by its source.

pub mod billing;
pub mod outbound;
pub mod sms;
pub mod sweep;
pub mod voice;

use std::sync::Arc;

use crate::cluster::{Bus, Envelope, Outbound, PresenceFanout, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Call, ChangeKind, Millis, Scope};
use crate::phone::rest::{TwilioError, TwilioRest};
use crate::phone::settings::TwilioSettings;
use crate::presence::Presence;
use crate::store::{PhoneNumber, Store, UsageRecord};
use crate::webhook::EventSink;

/// The provider name on rows Twilio made.
pub const PROVIDER: &str = "twilio";
/// How long an inbound call rings the members' softphones before voicemail.
pub const PSTN_RING_SECS: u32 = 25;
/// Longest voicemail recorded.
pub const VOICEMAIL_MAX_SECS: u32 = 120;
/// What a caller hears before the beep.
pub const VOICEMAIL_PROMPT: &str = "Nobody can take your call right now. Please leave a message after the beep.";
/// Lifetime of a softphone access token (Twilio allows up to 24 h).
pub const VOICE_TOKEN_TTL_SECS: i64 = 3_600;
/// Longest text accepted (Twilio's own limit on `Body`).
pub const MAX_SMS_CHARS: usize = 1_600;
/// Most rows one page of a phone listing returns.
pub const PHONE_PAGE_MAX: i64 = 200;
/// Rows a page returns when the request does not say.
pub const PHONE_PAGE_DEFAULT: i64 = 50;

/// Twilio, configured.
pub struct Twilio {
    pub settings: TwilioSettings,
    pub rest: TwilioRest,
}

/// A webhook's POST parameters, in the order Twilio sent them.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `name`, or `invalid_request` naming it.
    pub fn need(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::new(ErrorCode::InvalidRequest, format!("missing parameter `{name}`")))
    }
}

/// The phone service.
pub struct Telephony {
    store: Store,
    presence: Arc<dyn Presence>,
    bus: Arc<dyn Bus>,
    twilio: Option<Twilio>,
    node_id: String,
    /// Members on a phone call show `busy` (and are not rung for the next one).
    fanout: Arc<PresenceFanout>,
    /// Calls placed and texts sent per member (`CALL_RATE_PER_MINUTE`, `CALL_RATE_BURST`: the in-app start limit's).
    limiter: crate::ratelimit::UserLimiter,
    /// Webhooks out: phone calls' ringing/answered/ended, texts received.
    events: Arc<dyn EventSink>,
}

/// How often each member may place a phone call or send a text.
#[derive(Debug, Clone, Copy)]
pub struct PhoneRate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Telephony {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        presence: Arc<dyn Presence>,
        bus: Arc<dyn Bus>,
        settings: Option<TwilioSettings>,
        node_id: String,
        presence_batch_window: std::time::Duration,
        rate: PhoneRate,
        events: Arc<dyn EventSink>,
    ) -> Arc<Self> {
        let limiter = crate::ratelimit::UserLimiter::new(
            rate.per_minute,
            rate.burst,
            "too many phone calls or texts; wait a little",
        );
        let twilio = settings.map(|settings| Twilio {
            rest: TwilioRest::new(settings.account.clone()),
            settings,
        });
        Arc::new(Self {
            store,
            presence,
            fanout: PresenceFanout::new(bus.clone(), presence_batch_window),
            bus,
            twilio,
            node_id,
            limiter,
            events,
        })
    }

    /// Tells the org's webhook endpoints what a write of a phone call changed (`before`: `None` for a new row).
    async fn call_events(&self, before: Option<&Call>, next: &Call) {
        let kinds: Vec<&str> = ChangeKind::of(before.map(|b| b.status), next.status)
            .filter_map(|k| match k {
                // A row final from its first write rang nobody.
                ChangeKind::Created if next.status.is_final() => None,
                ChangeKind::Created => Some("call.ringing"),
                ChangeKind::Answered => Some("call.answered"),
                ChangeKind::Ended => Some("call.ended"),
            })
            .collect();
        if kinds.is_empty() {
            return;
        }
        let data = serde_json::to_value(crate::wire::views::CallView::from(next)).unwrap_or_default();
        for kind in kinds {
            self.events.emit(&next.tenant_id, kind, data.clone()).await;
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Twilio, or `503 unavailable` when it is not configured.
    pub fn twilio(&self) -> Result<&Twilio> {
        self.twilio.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::Unavailable,
                "phone calls are not configured on this server (TWILIO_ACCOUNT_SID, docs/phone.md)",
            )
        })
    }

    /// Checks `X-Twilio-Signature` over the public URL of `path_and_query` and the POST parameters;
    /// `403 forbidden` (and nothing read or written) when it is missing or wrong.
    pub fn verify(&self, path_and_query: &str, params: &Params, signature: Option<&str>) -> Result<()> {
        let twilio = self.twilio()?;
        let url = twilio.settings.url(path_and_query);
        match signature {
            Some(sig)
                if crate::phone::signature::is_valid(&twilio.settings.account.auth_token, &url, &params.0, sig) =>
            {
                Ok(())
            }
            _ => Err(Error::new(ErrorCode::Forbidden, "bad or missing X-Twilio-Signature")),
        }
    }

    /// A number `scope` may use, given as text: `400` if it is not a number, `404` if it is not one of theirs.
    pub async fn usable_number(&self, scope: &Scope, text: &str) -> Result<PhoneNumber> {
        let e164 = e164(text)?;
        let held = self.store.number_by_e164(&e164).await?;
        let Some(n) = held else {
            return Err(not_found());
        };
        match self.store.number(scope, &n.id).await? {
            Some(n) => Ok(n),
            None => Err(not_found()),
        }
    }

    /// Sends `frame` to every session of `user_id` in `org_id`, wherever it is connected.
    fn push(&self, org_id: &str, user_id: &str, frame: String) {
        self.bus.publish(Envelope {
            tenant_id: org_id.into(),
            target: Target::User {
                user_id: user_id.into(),
                except: None,
            },
            frame: Outbound::One(frame.into()),
        });
    }

    /// `429 rate_limited` (with Retry-After) when `who` placed or sent too much lately.
    pub fn check_rate(&self, org_id: &str, who: &str) -> Result<()> {
        self.limiter.check(org_id, who)
    }

    /// Forgets members whose bucket is full again (memory stays bounded).
    fn shrink_limiter(&self) {
        self.limiter.shrink();
    }

    /// Marks a member on (or off) a phone call in presence, and tells their org.
    fn in_call(&self, org_id: &str, user_id: &str, on: bool) {
        self.fanout.publish(self.presence.set_in_call(org_id, user_id, on));
    }

    /// Writes a usage record once per `source_key`; a re-delivered callback writes nothing.
    #[allow(clippy::too_many_arguments)]
    async fn usage(
        &self,
        org_id: &str,
        kind: &str,
        quantity: i64,
        price_micros: Option<i64>,
        source_key: String,
        ref_id: &str,
        now: Millis,
    ) -> Result<bool> {
        if quantity <= 0 {
            return Ok(false);
        }
        self.store
            .record_usage(&UsageRecord {
                id: uuid::Uuid::now_v7().to_string(),
                org_id: org_id.to_owned(),
                kind: kind.to_owned(),
                quantity,
                price_micros,
                price_source: if price_micros.is_some() { "provider" } else { "plan" }.to_owned(),
                source_key,
                ref_id: Some(ref_id.to_owned()),
                occurred_at: now,
            })
            .await
    }
}

/// A number as E.164, or `400 invalid_request` saying why not.
pub fn e164(text: &str) -> Result<String> {
    crate::phone::e164::normalize(text, None).map_err(|e| {
        Error::new(
            ErrorCode::InvalidRequest,
            format!("`{text}` is not a phone number: {e}"),
        )
    })
}

fn not_found() -> Error {
    Error::new(ErrorCode::NotFound, "no such phone number")
}

/// Twilio's refusal as our `502 provider_error` (its message passed on), or the transport's without details.
pub fn provider_error(e: TwilioError) -> Error {
    match e {
        TwilioError::Api(e) if e.status < 500 => Error::new(
            ErrorCode::ProviderError,
            format!("Twilio refused the request: {}", e.message),
        ),
        TwilioError::Invalid(why) => Error::new(ErrorCode::InvalidRequest, why),
        other => {
            tracing::warn!(error = %other, "Twilio request failed");
            Error::new(ErrorCode::ProviderError, "Twilio could not be reached")
        }
    }
}
