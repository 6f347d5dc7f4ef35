//! The voice webhooks: the TwiML Twilio is told to run (ring members, dial out, voicemail) and what each callback changes in the call's row.

use crate::error::{Error, ErrorCode, Result};
use crate::model::{Call, Direction, Millis, ParticipantType, Scope};
use crate::phone::billing::billed_minutes;
use crate::phone::calls::{self, NewPhoneCall, StatusReport};
use crate::phone::twiml;
use crate::presence::PresenceStatus;
use crate::wire::phone::{ContactRefView, PhoneIncomingView, frame_text};

use super::{PROVIDER, PSTN_RING_SECS, Params, Telephony, VOICEMAIL_MAX_SECS, VOICEMAIL_PROMPT, e164};

/// How often a callback re-reads and re-applies when a concurrent one changed the row first.
const MAX_RETRIES: usize = 8;

/// The query string of a voice webhook (we set it in the URLs we give Twilio).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceQuery {
    /// `bridge` (an API call was answered: connect the member), `after-dial`
    /// (`<Dial>` finished); none: Twilio's first request for the call.
    pub step: Option<String>,
    pub call_id: Option<String>,
    /// Status callbacks: `agent` for a member's softphone leg.
    pub leg: Option<String>,
    /// Recording callbacks: `voicemail` or `call`.
    pub kind: Option<String>,
    /// Text status callbacks: our id of the text (its sid may not be stored yet).
    pub message_id: Option<String>,
}

/// The TwiML that ends a call politely.
fn hang_up() -> String {
    twiml::response([twiml::Node::new("Hangup")])
}

/// Twilio's price text as millionths (positive: a cost) with its unit.
fn price_of(p: &Params) -> Option<(i64, &str)> {
    let micros = crate::phone::billing::price_micros(p.get("Price")?)?;
    Some((micros.abs(), p.get("PriceUnit").unwrap_or("USD")))
}

impl Telephony {
    fn callback_url(&self, path_and_query: &str) -> Result<String> {
        Ok(self.twilio()?.settings.url(path_and_query))
    }

    /// `POST /api/phone/webhooks/twilio/voice`: the TwiML for the call Twilio asks about.
    pub async fn voice(&self, q: &VoiceQuery, p: &Params, now: Millis) -> Result<String> {
        match q.step.as_deref().unwrap_or("") {
            "" if p.get("From").is_some_and(|f| f.starts_with("client:")) => self.softphone_dials(p, now).await,
            "" => self.inbound(p, now).await,
            "bridge" => self.bridge(q, p).await,
            "after-dial" => self.after_dial(q, p, now).await,
            other => Err(Error::new(ErrorCode::InvalidRequest, format!("unknown step `{other}`"))),
        }
    }

    /// A call to one of our numbers: ring its available members, or voicemail.
    async fn inbound(&self, p: &Params, now: Millis) -> Result<String> {
        let sid = p.need("CallSid")?;
        let to = e164(p.need("To")?)?;
        // A withheld or foreign caller id is kept as Twilio gave it.
        let from = p.need("From")?;
        let from = e164(from).unwrap_or_else(|_| from.to_owned());
        let Some(number) = self.store.number_by_e164(&to).await? else {
            return Ok(twiml::reject());
        };
        let call = match self.store.phone_call_by_external(PROVIDER, sid).await? {
            Some(c) => c,
            None => {
                let row = calls::new_row(
                    NewPhoneCall {
                        id: uuid::Uuid::now_v7().to_string(),
                        org_id: &number.org_id,
                        direction: Direction::Inbound,
                        external_id: sid,
                        from_number: &from,
                        to_number: &to,
                        phone_number_id: &number.id,
                        member: None,
                        record: false,
                        node_id: &self.node_id,
                    },
                    now,
                );
                if self.store.insert_phone_call(&row).await? {
                    self.call_events(None, &row).await;
                    row
                } else {
                    // Twilio retried the webhook while the first insert landed.
                    self.store.phone_call_by_external(PROVIDER, sid).await?.ok_or_else(|| {
                        Error::Internal(anyhow::anyhow!("phone call vanished after a duplicate insert"))
                    })?
                }
            }
        };
        if call.status.is_final() {
            return Ok(hang_up());
        }
        let assignees = self.store.assignees(&number.id).await?;
        let available: Vec<&String> = assignees
            .iter()
            .filter(|u| self.presence.status_of(&number.org_id, u) == PresenceStatus::Available)
            .collect();
        if available.is_empty() {
            return self.voicemail(&call).await;
        }
        let contact = self.store.contact_by_number(&number.org_id, &from).await?;
        let mut incoming = PhoneIncomingView::new(&call.id, &from, &to, &number.id, call.started_at);
        incoming.contact = contact.as_ref().map(|c| ContactRefView {
            id: &c.id,
            name: &c.name,
            kind: &c.kind,
        });
        let frame = frame_text(&incoming);
        for user in &available {
            self.push(&number.org_id, user, frame.clone());
        }
        let action = self.callback_url(&format!(
            "/api/phone/webhooks/twilio/voice?step=after-dial&callId={}",
            call.id
        ))?;
        let answered = self.callback_url(&format!(
            "/api/phone/webhooks/twilio/status?callId={}&leg=agent",
            call.id
        ))?;
        Ok(twiml::dial_clients(
            available.iter().map(|u| u.as_str()),
            PSTN_RING_SECS,
            &action,
            Some(&answered),
        ))
    }

    /// Marks the call as a voicemail and answers the TwiML that records one.
    async fn voicemail(&self, call: &Call) -> Result<String> {
        self.advance(&call.id, calls::to_voicemail).await?;
        let cb = self.callback_url(&format!(
            "/api/phone/webhooks/twilio/recording?callId={}&kind=voicemail",
            call.id
        ))?;
        Ok(twiml::voicemail(VOICEMAIL_PROMPT, VOICEMAIL_MAX_SECS, &cb))
    }

    /// A member's softphone places a call: dial the number with a caller id they may use.
    async fn softphone_dials(&self, p: &Params, now: Millis) -> Result<String> {
        let sid = p.need("CallSid")?;
        let user = p.need("From")?.trim_start_matches("client:");
        let Ok(to) = e164(p.need("To")?) else {
            return Ok(twiml::say_and_hang_up("That number cannot be dialled."));
        };
        let numbers = self.store.numbers_assigned_to(user).await?;
        let chosen = match p.get("CallerId") {
            Some(text) => e164(text)
                .ok()
                .and_then(|c| numbers.into_iter().find(|n| n.e164 == c && n.voice)),
            None => numbers.into_iter().find(|n| n.voice),
        };
        let Some(number) = chosen else {
            return Ok(twiml::say_and_hang_up("You have no phone number to call from."));
        };
        let name = self.presence.identity(&number.org_id, user).map(|i| i.display_name());
        if self.store.phone_call_by_external(PROVIDER, sid).await?.is_none() {
            let row = calls::new_row(
                NewPhoneCall {
                    id: uuid::Uuid::now_v7().to_string(),
                    org_id: &number.org_id,
                    direction: Direction::Outbound,
                    external_id: sid,
                    from_number: &number.e164,
                    to_number: &to,
                    phone_number_id: &number.id,
                    member: Some((user, name)),
                    record: false,
                    node_id: &self.node_id,
                },
                now,
            );
            if self.store.insert_phone_call(&row).await? {
                self.call_events(None, &row).await;
            }
        }
        let call = self
            .store
            .phone_call_by_external(PROVIDER, sid)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("phone call vanished after its insert")))?;
        let action = self.callback_url(&format!(
            "/api/phone/webhooks/twilio/voice?step=after-dial&callId={}",
            call.id
        ))?;
        self.in_call(&number.org_id, user, true);
        Ok(twiml::dial_number_then(&number.e164, &to, None, Some(&action)))
    }

    /// An API call was answered by the far end: connect the member who placed it.
    async fn bridge(&self, q: &VoiceQuery, p: &Params) -> Result<String> {
        let Some(call) = self.callback_call(q, p).await? else {
            return Ok(hang_up());
        };
        if call.status.is_final() || call.caller.kind != ParticipantType::CrmUser {
            return Ok(hang_up());
        }
        let action = self.callback_url(&format!(
            "/api/phone/webhooks/twilio/voice?step=after-dial&callId={}",
            call.id
        ))?;
        Ok(twiml::dial_clients(
            [call.caller.user_id.as_str()],
            PSTN_RING_SECS,
            &action,
            None,
        ))
    }

    /// `<Dial>` finished: an unanswered inbound call goes to voicemail; otherwise the bridged leg's outcome ends the call.
    async fn after_dial(&self, q: &VoiceQuery, p: &Params, now: Millis) -> Result<String> {
        let Some(call) = self.callback_call(q, p).await? else {
            return Ok(hang_up());
        };
        let status = p.need("DialCallStatus")?;
        let inbound = call.phone.as_deref().is_some_and(|l| l.direction == Direction::Inbound);
        // Only a dial nobody answered goes to voicemail (a missing status is not "unanswered" for a call someone took).
        let unanswered = call.callee.kind == ParticipantType::Phone;
        if inbound && unanswered && status != "completed" && status != "answered" && !call.status.is_final() {
            self.notify_rung(&call, "call.cancelled").await?;
            return self.voicemail(&call).await;
        }
        let status = if status == "answered" { "completed" } else { status };
        let duration = p.get("DialCallDuration").and_then(|d| d.parse::<i64>().ok());
        let report = StatusReport {
            status,
            duration,
            price: None,
            agent_leg: true,
        };
        if let Some((_, next)) = self.advance(&call.id, |c| calls::on_status(c, &report, now)).await? {
            self.after_change(&call, &next, now).await?;
        }
        Ok(hang_up())
    }

    /// The row a callback URL names (`callId`), if it is the call Twilio is talking about.
    async fn callback_call(&self, q: &VoiceQuery, p: &Params) -> Result<Option<Call>> {
        let Some(id) = q.call_id.as_deref() else {
            return Err(Error::new(ErrorCode::InvalidRequest, "missing `callId`"));
        };
        let sid = p.get("ParentCallSid").or(p.get("CallSid"));
        let call = self.store.call_in_scope(&Scope::Platform, id).await?;
        Ok(call.filter(|c| {
            c.phone.as_deref().is_some_and(|l| {
                l.provider == PROVIDER
                    && (l.external_id.starts_with("pending-") || Some(l.external_id.as_str()) == sid || sid.is_none())
            })
        }))
    }

    /// `POST /api/phone/webhooks/twilio/status`: the call's (or, with `leg=agent`, a softphone's) status.
    pub async fn status(&self, q: &VoiceQuery, p: &Params, now: Millis) -> Result<()> {
        let status = p.need("CallStatus")?;
        if q.leg.as_deref() == Some("agent") {
            // A member's softphone answered (or hung up) an inbound call.
            let Some(call) = self.callback_call(q, p).await? else {
                return Ok(());
            };
            let Some(user) = p.get("To").and_then(|t| t.strip_prefix("client:")) else {
                return Ok(());
            };
            if status == "in-progress" || status == "answered" {
                let name = self.presence.identity(&call.tenant_id, user).map(|i| i.display_name());
                if let Some((before, next)) = self
                    .advance(&call.id, |c| calls::answered_by(c, user, name.clone(), now))
                    .await?
                {
                    self.notify_rung(&next, "call.answered_elsewhere").await?;
                    let accepted = crate::wire::views::ServerMsg::CallAccepted {
                        call_id: &next.id,
                        room_name: &next.room_name,
                        answered_at: next.answered_at.map(crate::wire::views::iso),
                    }
                    .to_text();
                    self.push(&next.tenant_id, user, accepted);
                    self.in_call(&next.tenant_id, user, true);
                    self.after_change(&before, &next, now).await?;
                }
            }
            return Ok(());
        }
        let sid = p.need("CallSid")?;
        let call = match q.call_id.as_deref() {
            Some(_) => self.callback_call(q, p).await?,
            None => self.store.phone_call_by_external(PROVIDER, sid).await?,
        };
        let Some(mut call) = call else {
            // Not one of ours (or not yet written): nothing to change.
            return Ok(());
        };
        if call
            .phone
            .as_deref()
            .is_some_and(|l| l.external_id.starts_with("pending-"))
        {
            self.store.set_external_id(&call, sid).await?;
            call = self
                .store
                .call_in_scope(&Scope::Platform, &call.id)
                .await?
                .unwrap_or(call);
        }
        // A softphone's own leg is `in-progress` as soon as it connects: only the dialled number's answer counts.
        let softphone = p.get("From").is_some_and(|f| f.starts_with("client:"));
        if softphone && status == "in-progress" {
            return Ok(());
        }
        let report = StatusReport {
            status,
            duration: p.get("CallDuration").and_then(|d| d.parse().ok()),
            price: price_of(p),
            agent_leg: false,
        };
        if let Some((before, next)) = self.advance(&call.id, |c| calls::on_status(c, &report, now)).await? {
            self.after_change(&before, &next, now).await?;
        }
        if crate::phone::status::from_twilio(status).is_some_and(|s| s.is_final()) {
            self.bill_call(&call.id, &report, now).await?;
        }
        Ok(())
    }

    /// `POST /api/phone/webhooks/twilio/recording`: a recording or voicemail is ready.
    pub async fn recording(&self, q: &VoiceQuery, p: &Params, now: Millis) -> Result<()> {
        if p.get("RecordingStatus").is_some_and(|s| s != "completed") {
            return Ok(());
        }
        let rec = p.need("RecordingSid")?;
        let secs: i64 = p.get("RecordingDuration").and_then(|d| d.parse().ok()).unwrap_or(0);
        let Some(call) = self.callback_call(q, p).await? else {
            return Ok(());
        };
        let voicemail = q.kind.as_deref() == Some("voicemail");
        self.advance(&call.id, |c| calls::with_recording(c, rec, secs, voicemail))
            .await?;
        self.usage(
            &call.tenant_id,
            "recording_minutes",
            billed_minutes(secs),
            None,
            format!("twilio:recording:{rec}"),
            &call.id,
            now,
        )
        .await?;
        Ok(())
    }

    /// Read → apply `f` → conditional write, again on a concurrent change; `(before, after)` when something changed.
    pub(super) async fn advance(&self, id: &str, f: impl Fn(&Call) -> Option<Call>) -> Result<Option<(Call, Call)>> {
        for _ in 0..MAX_RETRIES {
            let Some(call) = self.store.call_in_scope(&Scope::Platform, id).await? else {
                return Ok(None);
            };
            let Some(next) = f(&call) else {
                return Ok(None);
            };
            if self.store.update_phone_call(&next).await? {
                self.call_events(Some(&call), &next).await;
                return Ok(Some((call, next)));
            }
        }
        Err(Error::Internal(anyhow::anyhow!(
            "a phone call kept changing under its callbacks"
        )))
    }

    /// Frames to the members on a call that just ended; an inbound call nobody
    /// took (missed, voicemail, the caller hung up while ringing) is told to the number's members.
    async fn after_change(&self, before: &Call, next: &Call, _now: Millis) -> Result<()> {
        if next.status.is_final() && !before.status.is_final() {
            let unanswered = next.callee.kind == ParticipantType::Phone;
            if unanswered && next.phone.as_deref().is_some_and(|l| l.direction == Direction::Inbound) {
                self.notify_rung(next, "call.missed").await?;
            }
            let frame = crate::wire::views::ServerMsg::CallEnded {
                call_id: &next.id,
                status: next.status,
                reason: next.end_reason,
                duration: next.duration,
                ended_by: None,
            }
            .to_text();
            for p in [&next.caller, &next.callee] {
                if p.kind == ParticipantType::CrmUser {
                    self.push(&next.tenant_id, &p.user_id, frame.clone());
                    self.in_call(&next.tenant_id, &p.user_id, false);
                }
            }
        }
        Ok(())
    }

    /// The call's minutes, once: written on the provider's final status of
    /// the call Twilio received or placed (whatever order the callbacks came
    /// in), keyed by its CallSid. Twilio bills that leg's `CallDuration`
    /// (voicemail included), so that is the quantity.
    async fn bill_call(&self, id: &str, report: &StatusReport<'_>, now: Millis) -> Result<()> {
        let Some(call) = self.store.call_in_scope(&Scope::Platform, id).await? else {
            return Ok(());
        };
        let Some(leg) = call.phone.as_deref() else {
            return Ok(());
        };
        let kind = match leg.direction {
            Direction::Inbound => "call_minutes_inbound",
            Direction::Outbound => "call_minutes_outbound",
        };
        self.usage(
            &call.tenant_id,
            kind,
            billed_minutes(report.duration.unwrap_or(call.duration)),
            report.price.map(|p| p.0).or(leg.price_micros),
            format!("twilio:call:{}", leg.external_id),
            &call.id,
            now,
        )
        .await?;
        Ok(())
    }

    /// Tells the members an inbound call rang (its number's available assignees, but the one who took it) that it stopped.
    async fn notify_rung(&self, call: &Call, kind: &str) -> Result<()> {
        let Some(number) = call.phone.as_deref().and_then(|l| l.phone_number_id.clone()) else {
            return Ok(());
        };
        let frame = match kind {
            "call.answered_elsewhere" => crate::wire::views::ServerMsg::CallAnsweredElsewhere { call_id: &call.id },
            "call.missed" => crate::wire::views::ServerMsg::CallMissed {
                call_id: &call.id,
                reason: call.end_reason,
            },
            _ => crate::wire::views::ServerMsg::CallCancelled {
                call_id: &call.id,
                reason: Some(crate::model::EndReason::RingTimeout),
            },
        }
        .to_text();
        let took = (call.callee.kind == ParticipantType::CrmUser).then_some(call.callee.user_id.as_str());
        for user in self.store.assignees(&number).await? {
            if Some(user.as_str()) != took {
                self.push(&call.tenant_id, &user, frame.clone());
            }
        }
        Ok(())
    }
}
