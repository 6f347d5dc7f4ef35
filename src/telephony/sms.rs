//! Texts: inbound (webhook), outbound (Messages API) and their status callbacks, threaded per (our number, their number).

use crate::error::{Error, ErrorCode, Result};
use crate::model::{Millis, Scope};
use crate::phone::sms::segments;
use crate::store::{Conversation, SmsMessage};
use crate::wire::phone::{SmsMessageView, SmsReceivedView, frame_text};

use super::{MAX_SMS_CHARS, PROVIDER, Params, Telephony, e164, provider_error};

/// How far along a text is: a status callback only moves it up this order.
fn rank(status: &str) -> u8 {
    match status {
        "accepted" | "scheduled" => 1,
        "queued" => 2,
        "sending" => 3,
        "sent" => 4,
        "delivered" | "undelivered" | "failed" | "canceled" | "read" | "received" => 5,
        _ => 0,
    }
}

/// A text as the routes and frames show it.
pub fn message_view(m: &SmsMessage) -> SmsMessageView {
    SmsMessageView {
        id: m.id.clone(),
        conversation_id: m.conversation_id.clone(),
        direction: m.direction.clone(),
        from_number: m.from_number.clone(),
        to_number: m.to_number.clone(),
        body: m.body.clone(),
        status: m.status.clone(),
        provider: m.provider.clone(),
        external_id: m.external_id.clone(),
        segments: m.segments,
        price_micros: m.price_micros,
        price_unit: m.price_unit.clone(),
        user_id: m.user_id.clone(),
        created_at: crate::wire::views::iso(m.created_at),
    }
}

impl Telephony {
    async fn thread(
        &self,
        org_id: &str,
        number_id: &str,
        ours: &str,
        theirs: &str,
        now: Millis,
    ) -> Result<Conversation> {
        self.store
            .touch_conversation(&Conversation {
                id: uuid::Uuid::now_v7().to_string(),
                org_id: org_id.to_owned(),
                phone_number_id: number_id.to_owned(),
                our_number: ours.to_owned(),
                their_number: theirs.to_owned(),
                last_message_at: now,
                created_at: now,
            })
            .await
    }

    /// `POST /api/phone/webhooks/twilio/sms`: a text to one of our numbers; `sms.received` to its members.
    pub async fn sms_received(&self, p: &Params, now: Millis) -> Result<()> {
        let sid = p
            .get("MessageSid")
            .or(p.get("SmsSid"))
            .ok_or_else(|| Error::new(ErrorCode::InvalidRequest, "missing parameter `MessageSid`"))?;
        let to = e164(p.need("To")?)?;
        let from = p.need("From")?;
        let from = e164(from).unwrap_or_else(|_| from.to_owned());
        let body = p.get("Body").unwrap_or("");
        let Some(number) = self.store.number_by_e164(&to).await? else {
            return Ok(());
        };
        if self.store.message_by_external(PROVIDER, sid).await?.is_some() {
            return Ok(());
        }
        let thread = self.thread(&number.org_id, &number.id, &to, &from, now).await?;
        let segs = p
            .get("NumSegments")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| i64::from(segments(body).1));
        let m = SmsMessage {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: thread.id.clone(),
            org_id: number.org_id.clone(),
            direction: "inbound".into(),
            from_number: from,
            to_number: to,
            body: body.to_owned(),
            status: "received".into(),
            provider: PROVIDER.into(),
            external_id: Some(sid.to_owned()),
            segments: segs,
            price_micros: None,
            price_unit: None,
            user_id: None,
            created_at: now,
            updated_at: now,
        };
        if !self.store.insert_message(&m).await? {
            return Ok(());
        }
        self.usage(
            &m.org_id,
            "sms_segments_inbound",
            m.segments,
            None,
            format!("twilio:sms:{sid}"),
            &m.id,
            now,
        )
        .await?;
        let view = message_view(&m);
        let frame = frame_text(&SmsReceivedView {
            kind: "sms.received",
            conversation_id: &thread.id,
            message: &view,
        });
        for user in self.store.assignees(&number.id).await? {
            self.push(&number.org_id, &user, frame.clone());
        }
        let data = serde_json::json!({"conversationId": thread.id, "phoneNumberId": number.id, "message": view});
        self.events.emit(&number.org_id, "sms.received", data).await;
        Ok(())
    }

    /// `POST /api/phone/sms`: sends `body` from one of the caller's numbers.
    pub async fn send_sms(
        &self,
        scope: &Scope,
        user_id: Option<&str>,
        from: &str,
        to: &str,
        body: &str,
        now: Millis,
    ) -> Result<SmsMessage> {
        let twilio = self.twilio()?;
        if body.trim().is_empty() {
            return Err(Error::new(ErrorCode::InvalidRequest, "`body` is empty"));
        }
        if body.chars().count() > MAX_SMS_CHARS {
            return Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("`body` is longer than {MAX_SMS_CHARS} characters"),
            ));
        }
        self.check_rate(scope.org().unwrap_or("-"), user_id.unwrap_or("service"))?;
        let number = self.usable_number(scope, from).await?;
        if !number.sms {
            return Err(Error::new(ErrorCode::InvalidRequest, "that number cannot send texts"));
        }
        let to = e164(to)?;
        let thread = self.thread(&number.org_id, &number.id, &number.e164, &to, now).await?;
        let mut m = SmsMessage {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: thread.id,
            org_id: number.org_id.clone(),
            direction: "outbound".into(),
            from_number: number.e164.clone(),
            to_number: to.clone(),
            body: body.to_owned(),
            status: "accepted".into(),
            provider: PROVIDER.into(),
            external_id: None,
            segments: i64::from(segments(body).1),
            price_micros: None,
            price_unit: None,
            user_id: user_id.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_message(&m).await?;
        let callback = twilio
            .settings
            .url(&format!("/api/phone/webhooks/twilio/sms-status?messageId={}", m.id));
        match twilio.rest.send_message(&number.e164, &to, body, &callback).await {
            Ok(r) => {
                let segs = r
                    .num_segments
                    .as_deref()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(m.segments);
                self.store.set_message_sent(&m.id, &r.sid, &r.status, segs, now).await?;
                m.external_id = Some(r.sid);
                m.status = r.status;
                m.segments = segs;
                // A status callback may have moved it on meanwhile.
                Ok(self.store.message(&m.id).await?.unwrap_or(m))
            }
            Err(e) => {
                self.store
                    .set_message_status(&m.id, "accepted", "failed", None, now)
                    .await?;
                Err(provider_error(e))
            }
        }
    }

    /// `POST /api/phone/webhooks/twilio/sms-status`: a sent text's progress; only forward, billed once when final.
    pub async fn sms_status(&self, q: &super::voice::VoiceQuery, p: &Params, now: Millis) -> Result<()> {
        let sid = p
            .get("MessageSid")
            .or(p.get("SmsSid"))
            .ok_or_else(|| Error::new(ErrorCode::InvalidRequest, "missing parameter `MessageSid`"))?;
        let status = p.get("MessageStatus").or(p.get("SmsStatus")).unwrap_or("");
        let price = p
            .get("Price")
            .and_then(crate::phone::billing::price_micros)
            .map(|m| (m.abs(), p.get("PriceUnit").unwrap_or("USD")));
        let mut found = self.store.message_by_external(PROVIDER, sid).await?;
        if found.is_none()
            && let Some(id) = q.message_id.as_deref()
        {
            // The callback beat Twilio's answer to the send: name the text by our id and keep its sid.
            found = self
                .store
                .message(id)
                .await?
                .filter(|m| m.provider == PROVIDER && m.external_id.is_none());
            if let Some(m) = &found {
                self.store
                    .set_message_sent(&m.id, sid, &m.status, m.segments, now)
                    .await?;
            }
        }
        let Some(m) = found else {
            return Ok(());
        };
        if rank(status) <= rank(&m.status) {
            return Ok(());
        }
        if !self
            .store
            .set_message_status(&m.id, &m.status, status, price, now)
            .await?
        {
            return Ok(());
        }
        if rank(status) >= 4 && status != "failed" && status != "canceled" {
            self.usage(
                &m.org_id,
                "sms_segments_outbound",
                m.segments,
                price.map(|p| p.0).or(m.price_micros),
                format!("twilio:sms:{sid}"),
                &m.id,
                now,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn statuses_only_move_forward() {
        assert!(rank("queued") < rank("sent"));
        assert!(rank("sent") < rank("delivered"));
        assert!(rank("accepted") < rank("queued"));
        assert_eq!(rank("delivered"), rank("undelivered"));
        assert_eq!(rank("nonsense"), 0);
    }
}
