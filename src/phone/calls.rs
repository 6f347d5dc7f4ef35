//! Phone calls as CallLog rows: the row a provider's first webhook makes, and what each later callback changes.
//!
//! Pure: times come from the caller. Every function returns the next row
//! (version + 1) only when something changes, so a repeated or late
//! callback is a no-op, and a status only ever moves forward.

use super::status::{from_twilio, moves_forward};
use crate::model::{Call, CallStatus, Direction, EndReason, Millis, ParticipantType, Party, PhoneLeg};

/// The first facts of a phone call.
#[derive(Debug, Clone)]
pub struct NewPhoneCall<'a> {
    pub id: String,
    pub org_id: &'a str,
    pub direction: Direction,
    pub external_id: &'a str,
    /// E.164.
    pub from_number: &'a str,
    /// E.164.
    pub to_number: &'a str,
    /// The org's number used.
    pub phone_number_id: &'a str,
    /// The member who placed it (outbound).
    pub member: Option<(&'a str, Option<String>)>,
    pub record: bool,
    pub node_id: &'a str,
}

/// The row of a call just seen: RINGING, the far end a `PHONE` party named by its number.
pub fn new_row(n: NewPhoneCall<'_>, now: Millis) -> Call {
    let phone = |number: &str| Party {
        user_id: number.to_owned(),
        kind: ParticipantType::Phone,
    };
    let (caller, callee, caller_name) = match (n.direction, &n.member) {
        (Direction::Outbound, Some((user, name))) => (
            Party {
                user_id: (*user).to_owned(),
                kind: ParticipantType::CrmUser,
            },
            phone(n.to_number),
            name.clone(),
        ),
        // Inbound (or outbound without a member: an API call): the number itself on our side until an agent answers.
        _ => (phone(n.from_number), phone(n.to_number), None),
    };
    Call {
        id: n.id.clone(),
        tenant_id: n.org_id.to_owned(),
        room_name: format!("pstn-{}", &n.id),
        caller,
        callee,
        caller_name,
        status: CallStatus::Ringing,
        started_at: now,
        answered_at: None,
        ended_at: None,
        duration: 0,
        end_reason: None,
        ended_by: None,
        ring_deadline: None,
        grace_deadline: None,
        grace_reason: None,
        grace_since: None,
        caller_session: None,
        callee_session: None,
        record: n.record,
        recording_path: None,
        recording_bytes: None,
        recording_error: None,
        callee_name: None,
        node_id: n.node_id.to_owned(),
        version: 0,
        phone: Some(Box::new(PhoneLeg {
            provider: "twilio".into(),
            external_id: n.external_id.to_owned(),
            direction: n.direction,
            from_number: n.from_number.to_owned(),
            to_number: n.to_number.to_owned(),
            phone_number_id: Some(n.phone_number_id.to_owned()),
            price_micros: None,
            price_unit: None,
            provider_status: None,
            recording_sid: None,
            recording_seconds: None,
            voicemail: false,
        })),
    }
}

/// What a status callback says.
#[derive(Debug, Clone, Default)]
pub struct StatusReport<'a> {
    /// Twilio's `CallStatus`.
    pub status: &'a str,
    /// `CallDuration`, whole seconds (final callbacks).
    pub duration: Option<i64>,
    /// Price in millionths (positive: a cost) and its currency.
    pub price: Option<(i64, &'a str)>,
    /// The report is about the bridged leg (an agent's softphone, the dialled
    /// number: `<Dial>`'s outcome), not the call Twilio received or placed.
    pub agent_leg: bool,
}

/// Why a final status ended the call.
fn reason(status: CallStatus) -> Option<EndReason> {
    Some(match status {
        CallStatus::Completed => EndReason::Hangup,
        CallStatus::Missed => EndReason::RingTimeout,
        CallStatus::Busy => EndReason::CalleeBusy,
        CallStatus::Cancelled => EndReason::Cancelled,
        CallStatus::Failed => EndReason::ProviderFailed,
        _ => return None,
    })
}

/// The row after a status callback, or `None` if it changes nothing
/// (repeated, out of order, or an undocumented status).
pub fn on_status(call: &Call, report: &StatusReport<'_>, now: Millis) -> Option<Call> {
    let leg = call.phone.as_deref()?;
    let mut next = call.clone();
    let mut changed = false;
    if let Some(mut status) = from_twilio(report.status)
        && moves_forward(call.status, status)
        && !(leg.direction == Direction::Inbound && !report.agent_leg && status == CallStatus::Active)
    {
        // The call Twilio received is `in-progress` as soon as our TwiML runs and
        // `completed` when it hangs up: for an inbound call only an agent's
        // answer makes it ACTIVE, and one no agent answered is MISSED.
        let inbound_parent = leg.direction == Direction::Inbound && !report.agent_leg;
        let no_agent = call.callee.kind == ParticipantType::Phone;
        if inbound_parent && no_agent && status == CallStatus::Completed {
            status = CallStatus::Missed;
        }
        let p = next.phone.as_deref_mut()?;
        p.provider_status = Some(report.status.to_owned());
        next.status = status;
        if status == CallStatus::Active {
            next.answered_at = Some(now);
        } else {
            next.ended_at = Some(now);
            next.end_reason = reason(status);
            next.duration = match (status, next.answered_at) {
                // The inbound call Twilio received counts its ringing too: talk time is from the agent's answer.
                (CallStatus::Completed, Some(at)) if inbound_parent => crate::model::whole_seconds(at, now),
                (CallStatus::Completed, Some(at)) => {
                    report.duration.unwrap_or_else(|| crate::model::whole_seconds(at, now))
                }
                // `completed` arrived before `in-progress` (callbacks race): the answer was `duration` ago.
                (CallStatus::Completed, None) => {
                    let secs = report.duration.unwrap_or(0).max(0);
                    next.answered_at = Some((now - secs * 1000).max(call.started_at));
                    secs
                }
                // No talk time for a call that ended unanswered.
                _ => 0,
            };
        }
        changed = true;
    }
    if leg.price_micros.is_none()
        && let Some((micros, unit)) = report.price
    {
        let p = next.phone.as_deref_mut()?;
        p.price_micros = Some(micros);
        p.price_unit = Some(unit.to_owned());
        changed = true;
    }
    changed.then(|| {
        next.version += 1;
        next
    })
}

/// The row after agent `user_id` answered an inbound call on their softphone, or `None` if one already had.
pub fn answered_by(call: &Call, user_id: &str, name: Option<String>, now: Millis) -> Option<Call> {
    let leg = call.phone.as_deref()?;
    if leg.direction != Direction::Inbound || call.callee.kind != ParticipantType::Phone || call.status.is_final() {
        return None;
    }
    let mut next = call.clone();
    next.callee = Party {
        user_id: user_id.to_owned(),
        kind: ParticipantType::CrmUser,
    };
    next.callee_name = name;
    if next.status == CallStatus::Ringing {
        next.status = CallStatus::Active;
        next.answered_at = Some(now);
    }
    next.version += 1;
    Some(next)
}

/// The row after a recording (or voicemail) was completed, or `None` if it is already known.
pub fn with_recording(call: &Call, recording_sid: &str, seconds: i64, voicemail: bool) -> Option<Call> {
    let leg = call.phone.as_deref()?;
    if leg.recording_sid.as_deref() == Some(recording_sid) {
        return None;
    }
    let mut next = call.clone();
    let p = next.phone.as_deref_mut()?;
    p.recording_sid = Some(recording_sid.to_owned());
    p.recording_seconds = Some(seconds.max(0));
    p.voicemail = p.voicemail || voicemail;
    next.version += 1;
    Some(next)
}

/// Marks the call as going to voicemail (nobody available or nobody answered), or `None` if it already was.
pub fn to_voicemail(call: &Call) -> Option<Call> {
    let leg = call.phone.as_deref()?;
    if leg.voicemail {
        return None;
    }
    let mut next = call.clone();
    next.phone.as_deref_mut()?.voicemail = true;
    next.version += 1;
    Some(next)
}

#[cfg(test)]
#[path = "calls_tests.rs"]
mod tests;
