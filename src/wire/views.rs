//! JSON shapes of the external contract: REST bodies and server → client socket frames.
//!
//! Field names are camelCase, as the seed CRM's clients expect. Timestamps
//! are ISO-8601 UTC strings with milliseconds (JavaScript's `toISOString`).

use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{Call, CallStatus, EndReason, Millis, ParticipantType};

/// `2024-05-01T12:00:00.123Z` for a Unix-millisecond instant.
pub fn iso(ms: Millis) -> String {
    use time::OffsetDateTime;
    use time::macros::format_description;
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

fn iso_opt(ms: Option<Millis>) -> Option<String> {
    ms.map(iso)
}

/// A CallLog row as REST and the socket show it (`GET /api/voip/history` items).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub id: String,
    pub from_user_id: String,
    pub to_user_id: String,
    pub from_user_type: ParticipantType,
    pub to_user_type: ParticipantType,
    pub room_name: String,
    /// The caller's name: given at start, else their display name.
    pub caller_name: Option<String>,
    /// The callee's display name when the call was placed.
    pub callee_name: Option<String>,
    #[schema(format = DateTime, example = "2026-12-01T10:00:00.000Z")]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub answered_at: Option<String>,
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// Whole seconds from answer to end.
    pub duration: i64,
    pub status: CallStatus,
    pub end_reason: Option<EndReason>,
    pub ended_by: Option<String>,
    pub recording_url: Option<String>,
    pub recording_bytes: Option<i64>,
    /// Why the recording is missing a side or stops early (the directory could not be written, a full disk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_error: Option<String>,
    /// `in_app` or `pstn`.
    pub channel: crate::model::Channel,
    /// Phone calls only: the provider's side (each field absent on in-app rows).
    #[serde(flatten)]
    pub phone: PhoneFieldsView,
}

/// The fields a phone call adds to a CallLog row; none of them is present on an in-app row.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneFieldsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "twilio")]
    pub provider: Option<String>,
    /// The provider's id of the call (Twilio's CallSid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<crate::model::Direction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "+14155552671")]
    pub from_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "+14155550100")]
    pub to_number: Option<String>,
    /// The org's number the call used (`null` when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<Option<String>>,
    /// The provider's price in millionths of `priceUnit` (a cost is positive; `null` until priced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_micros: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_unit: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_seconds: Option<Option<i64>>,
}

impl From<&Call> for CallView {
    fn from(c: &Call) -> Self {
        Self {
            id: c.id.clone(),
            from_user_id: c.caller.user_id.clone(),
            to_user_id: c.callee.user_id.clone(),
            from_user_type: c.caller.kind,
            to_user_type: c.callee.kind,
            room_name: c.room_name.clone(),
            caller_name: c.caller_name.clone(),
            callee_name: c.callee_name.clone(),
            started_at: iso(c.started_at),
            answered_at: iso_opt(c.answered_at),
            ended_at: iso_opt(c.ended_at),
            duration: c.duration,
            status: c.status,
            end_reason: c.end_reason,
            ended_by: c.ended_by.clone(),
            recording_url: match c.phone.as_deref() {
                Some(p) => p
                    .recording_sid
                    .as_ref()
                    .map(|_| format!("/api/phone/calls/{}/recording", c.id)),
                None => c
                    .recording_path
                    .as_ref()
                    .map(|_| format!("/api/voip/calls/{}/recording", c.id)),
            },
            recording_bytes: c.recording_bytes,
            recording_error: c.recording_error.clone(),
            channel: c.channel(),
            phone: match c.phone.as_deref() {
                None => PhoneFieldsView::default(),
                Some(p) => PhoneFieldsView {
                    provider: Some(p.provider.clone()),
                    external_id: Some(p.external_id.clone()),
                    direction: Some(p.direction),
                    from_number: Some(p.from_number.clone()),
                    to_number: Some(p.to_number.clone()),
                    phone_number_id: Some(p.phone_number_id.clone()),
                    price_micros: Some(p.price_micros),
                    price_unit: Some(p.price_unit.clone()),
                    provider_status: Some(p.provider_status.clone()),
                    voicemail: Some(p.voicemail),
                    recording_seconds: Some(p.recording_seconds),
                },
            },
        }
    }
}

/// An open call in `welcome.activeCalls`, with this participant's own media
/// token so a reloaded page can rejoin the room.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCallView {
    #[serde(flatten)]
    pub call: CallView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub livekit_url: Option<String>,
}

/// The caller as the callee's ringing screen shows it.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FromView {
    pub user_id: String,
    pub participant_type: ParticipantType,
    pub name: String,
}

/// `call.incoming`, and each entry of `welcome.pendingCalls`.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct IncomingView {
    pub call_id: String,
    pub room_name: String,
    pub from: FromView,
    /// The callee's own media token (LiveKit mode), never the caller's.
    pub token: Option<String>,
    pub livekit_url: Option<String>,
    pub started_at: String,
    pub ring_deadline: Option<String>,
}

/// The user a session belongs to, as `welcome` describes it.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub user_id: String,
    pub tenant_id: String,
    pub participant_type: ParticipantType,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
}

/// An agent in `GET /api/voip/agents/available` and in `presence` frames.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub supabase_user_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// `available`, `busy` or `away`.
    #[schema(value_type = String, example = "available")]
    pub status: &'static str,
}

/// One STUN/TURN server for `RTCPeerConnection`'s `iceServers`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IceServerView {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Frames the server sends on the socket.
#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum ServerMsg<'a> {
    #[serde(rename = "welcome")]
    Welcome {
        session_id: &'a str,
        user: &'a UserView,
        media_mode: &'static str,
        ice_servers: &'a [IceServerView],
        pending_calls: &'a [IncomingView],
        active_calls: &'a [ActiveCallView],
        limits: Limits,
    },
    #[serde(rename = "call.incoming")]
    CallIncoming(&'a IncomingView),
    #[serde(rename = "call.accepted")]
    CallAccepted {
        call_id: &'a str,
        room_name: &'a str,
        answered_at: Option<String>,
    },
    #[serde(rename = "call.answered_elsewhere")]
    CallAnsweredElsewhere { call_id: &'a str },
    #[serde(rename = "call.declined")]
    CallDeclined {
        call_id: &'a str,
        reason: Option<EndReason>,
    },
    #[serde(rename = "call.cancelled")]
    CallCancelled {
        call_id: &'a str,
        reason: Option<EndReason>,
    },
    #[serde(rename = "call.missed")]
    CallMissed {
        call_id: &'a str,
        reason: Option<EndReason>,
    },
    #[serde(rename = "call.ended")]
    CallEnded {
        call_id: &'a str,
        status: CallStatus,
        reason: Option<EndReason>,
        duration: i64,
        ended_by: Option<&'a str>,
    },
    #[serde(rename = "presence")]
    Presence(&'a AgentView),
    /// Cluster mode, after this node lost and regained Redis: the tenant's
    /// available agents now (replace the list; changes missed meanwhile are in it).
    #[serde(rename = "presence.sync")]
    PresenceSync { agents: &'a [AgentView] },
    #[serde(rename = "rtc.signal")]
    RtcSignal {
        call_id: &'a str,
        from: &'a str,
        data: &'a RawValue,
    },
    #[serde(rename = "rtc.offer")]
    RtcOffer { call_id: &'a str, sdp: &'a str },
    #[serde(rename = "rtc.answer")]
    RtcAnswer {
        call_id: &'a str,
        sdp: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a RawValue>,
    },
    #[serde(rename = "rtc.candidate")]
    RtcCandidate { call_id: &'a str, candidate: &'a RawValue },
    #[serde(rename = "error")]
    Error {
        code: &'static str,
        message: &'a str,
        #[serde(rename = "ref")]
        reference: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u32>,
    },
    #[serde(rename = "ack")]
    Ack {
        #[serde(rename = "ref")]
        reference: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<&'a CallView>,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        livekit_url: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        glare: Option<bool>,
    },
    /// The socket's token expires soon: send `auth.refresh` or the socket closes (4001).
    #[serde(rename = "auth.expiring")]
    AuthExpiring { expires_at: String, closes_in_secs: i64 },
    /// The reply to `auth.refresh`: an `ack` carrying the new expiry.
    #[serde(rename = "ack")]
    AuthRefreshed {
        #[serde(rename = "ref")]
        reference: Option<&'a RawValue>,
        expires_at: String,
    },
    #[serde(rename = "pong")]
    Pong {
        #[serde(rename = "ref")]
        reference: Option<&'a RawValue>,
    },
}

/// Limits announced in `welcome` so clients can size what they send.
#[derive(Serialize, Debug, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_message_bytes: usize,
    pub ping_interval_secs: u64,
    pub idle_timeout_secs: u64,
    pub ring_timeout_secs: u64,
}

impl ServerMsg<'_> {
    /// Serializes once; the text is then shared by every recipient.
    pub fn to_text(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys,
        // no failing Serialize impls.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_javascript() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(iso(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn frames_have_type_and_camel_case() {
        let m = ServerMsg::CallEnded {
            call_id: "c1",
            status: CallStatus::Completed,
            reason: Some(EndReason::Hangup),
            duration: 12,
            ended_by: Some("u1"),
        };
        let v: serde_json::Value = serde_json::from_str(&m.to_text()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"call.ended","callId":"c1","status":"COMPLETED","reason":"hangup","duration":12,"endedBy":"u1"})
        );
        let r = RawValue::from_string("\"r1\"".into()).unwrap();
        let e = ServerMsg::Error {
            code: "call_not_found",
            message: "no",
            reference: Some(&r),
            retry_after_secs: None,
        };
        assert_eq!(
            e.to_text(),
            r#"{"type":"error","code":"call_not_found","message":"no","ref":"r1"}"#
        );
        let ack = ServerMsg::Ack {
            reference: None,
            call: None,
            token: None,
            livekit_url: None,
            glare: None,
        };
        assert_eq!(ack.to_text(), r#"{"type":"ack","ref":null}"#);
    }

    #[test]
    fn relayed_data_is_embedded_verbatim() {
        let data = RawValue::from_string(r#"{"sdp":"v=0\r\n","n":[1]}"#.into()).unwrap();
        let m = ServerMsg::RtcSignal {
            call_id: "c",
            from: "u",
            data: &data,
        };
        assert_eq!(
            m.to_text(),
            r#"{"type":"rtc.signal","callId":"c","from":"u","data":{"sdp":"v=0\r\n","n":[1]}}"#
        );
    }
}
