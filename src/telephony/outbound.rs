//! Calls placed through the API (`POST /api/phone/calls`) and the softphone's access token.

use crate::auth::claims::Identity;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Call, Direction, Millis, Scope};
use crate::phone::calls::{self, NewPhoneCall, StatusReport};
use crate::phone::rest::OutboundCall;
use crate::phone::token::{VoiceTokenSpec, voice_token};

use super::{Telephony, VOICE_TOKEN_TTL_SECS, e164, provider_error};

/// A call to place.
#[derive(Debug, Clone)]
pub struct PlaceCall<'a> {
    /// One of the caller's numbers (any spelling `phonenumber` reads as E.164).
    pub from: &'a str,
    pub to: &'a str,
    pub record: bool,
}

impl Telephony {
    /// Twilio calls `to` from `from`; when it answers, the member's softphone is rung and bridged.
    /// The row exists before Twilio is asked (its CallSid is filled in after), and a refusal ends it FAILED.
    pub async fn place_call(&self, scope: &Scope, member: &Identity, req: &PlaceCall<'_>, now: Millis) -> Result<Call> {
        let twilio = self.twilio()?;
        self.check_rate(&member.tenant_id, &member.user_id)?;
        let number = self.usable_number(scope, req.from).await?;
        if !number.voice {
            return Err(Error::new(ErrorCode::InvalidRequest, "that number cannot make calls"));
        }
        let to = e164(req.to)?;
        let id = uuid::Uuid::now_v7().to_string();
        let pending = format!("pending-{id}");
        let row = calls::new_row(
            NewPhoneCall {
                id: id.clone(),
                org_id: &number.org_id,
                direction: Direction::Outbound,
                external_id: &pending,
                from_number: &number.e164,
                to_number: &to,
                phone_number_id: &number.id,
                member: Some((&member.user_id, Some(member.display_name()))),
                record: req.record,
                node_id: &self.node_id,
            },
            now,
        );
        if self.store.insert_phone_call(&row).await? {
            self.call_events(None, &row).await;
        }
        let base = "/api/phone/webhooks/twilio";
        let twiml_url = twilio.settings.url(&format!("{base}/voice?step=bridge&callId={id}"));
        let status_callback = twilio.settings.url(&format!("{base}/status?callId={id}"));
        let recording_callback = twilio.settings.url(&format!("{base}/recording?callId={id}&kind=call"));
        let placed = twilio
            .rest
            .create_call(&OutboundCall {
                from: &number.e164,
                to: &to,
                twiml_url: &twiml_url,
                status_callback: &status_callback,
                record: req.record,
                recording_callback: req.record.then_some(recording_callback.as_str()),
            })
            .await;
        match placed {
            Ok(resource) => {
                self.in_call(&number.org_id, &member.user_id, true);
                // A status callback may have filled it in already; either way the row names the CallSid.
                if !self.store.set_external_id(&row, &resource.sid).await? {
                    tracing::debug!(call = %id, "CallSid already recorded by a callback");
                }
            }
            Err(e) => {
                let failed = StatusReport {
                    status: "failed",
                    ..StatusReport::default()
                };
                self.advance(&id, |c| calls::on_status(c, &failed, now)).await?;
                return Err(provider_error(e));
            }
        }
        self.store
            .call_in_scope(&Scope::Platform, &id)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("placed call vanished")))
    }

    /// A Twilio Voice access token for `identity`'s softphone, and its expiry (Unix seconds).
    pub fn voice_token(&self, identity: &Identity, now_secs: i64) -> Result<(String, i64)> {
        let twilio = self.twilio()?;
        let s = &twilio.settings;
        let (Some(key), Some(secret), Some(app)) = (&s.api_key, &s.api_secret, &s.twiml_app_sid) else {
            return Err(Error::new(
                ErrorCode::Unavailable,
                "softphones need TWILIO_API_KEY, TWILIO_API_SECRET and TWILIO_TWIML_APP_SID (docs/phone.md)",
            ));
        };
        let token = voice_token(&VoiceTokenSpec {
            account_sid: &s.account.account_sid,
            api_key: key,
            api_secret: secret,
            twiml_app_sid: app,
            identity: &identity.user_id,
            now: now_secs,
            ttl_secs: VOICE_TOKEN_TTL_SECS,
        })
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot sign a voice token: {e}")))?;
        Ok((token, now_secs + VOICE_TOKEN_TTL_SECS))
    }
}
