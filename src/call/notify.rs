//! The frames a call's transitions push to participants, serialized once each.

use axum::extract::ws::Utf8Bytes;

use super::machine::NoticeKind;
use crate::model::Call;
use crate::wire::views::{FromView, IncomingView, ServerMsg, iso};

/// `call.incoming` for the callee (token is the callee's own, or `None`).
pub fn incoming(call: &Call, token: Option<String>, livekit_url: Option<String>) -> IncomingView {
    IncomingView {
        call_id: call.id.clone(),
        room_name: call.room_name.clone(),
        from: FromView {
            user_id: call.caller.user_id.clone(),
            participant_type: call.caller.kind,
            name: call.caller_name.clone().unwrap_or_else(|| call.caller.user_id.clone()),
        },
        // The URL only matters with a token to present to it.
        livekit_url: livekit_url.filter(|_| token.is_some()),
        token,
        started_at: iso(call.started_at),
        ring_deadline: call.ring_deadline.map(iso),
    }
}

pub fn incoming_frame(view: &IncomingView) -> Utf8Bytes {
    ServerMsg::CallIncoming(view).to_text().into()
}

/// The frame for a notice about `call`.
pub fn notice_frame(call: &Call, kind: NoticeKind) -> Utf8Bytes {
    let id = call.id.as_str();
    let msg = match kind {
        NoticeKind::Accepted => ServerMsg::CallAccepted {
            call_id: id,
            room_name: &call.room_name,
            answered_at: call.answered_at.map(iso),
        },
        NoticeKind::AnsweredElsewhere => ServerMsg::CallAnsweredElsewhere { call_id: id },
        NoticeKind::Declined => ServerMsg::CallDeclined {
            call_id: id,
            reason: call.end_reason,
        },
        NoticeKind::Cancelled => ServerMsg::CallCancelled {
            call_id: id,
            reason: call.end_reason,
        },
        NoticeKind::Missed => ServerMsg::CallMissed {
            call_id: id,
            reason: call.end_reason,
        },
        NoticeKind::Ended => ServerMsg::CallEnded {
            call_id: id,
            status: call.status,
            reason: call.end_reason,
            duration: call.duration,
            ended_by: call.ended_by.as_deref(),
        },
    };
    msg.to_text().into()
}

/// Serializes each notice kind at most once per transition.
#[derive(Default)]
pub struct FrameCache {
    frames: [Option<Utf8Bytes>; 6],
}

impl FrameCache {
    pub fn get(&mut self, call: &Call, kind: NoticeKind) -> Utf8Bytes {
        let slot = &mut self.frames[kind as usize];
        slot.get_or_insert_with(|| notice_frame(call, kind)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::machine::{NewCall, ringing};
    use crate::model::{ParticipantType, Party};

    fn call() -> Call {
        ringing(
            NewCall {
                id: "c1".into(),
                tenant_id: "t".into(),
                caller: Party {
                    user_id: "cust".into(),
                    kind: ParticipantType::PortalCustomer,
                },
                callee: Party {
                    user_id: "agent".into(),
                    kind: ParticipantType::CrmUser,
                },
                caller_name: Some("Ann".into()),
                callee_name: None,
                caller_session: None,
                record: false,
                node_id: "n".into(),
            },
            0,
            30_000,
        )
    }

    #[test]
    fn incoming_names_the_caller_and_carries_only_the_given_token() {
        let v = incoming(&call(), Some("callee-token".into()), None);
        let json: serde_json::Value = serde_json::from_str(incoming_frame(&v).as_str()).unwrap();
        assert_eq!(json["type"], "call.incoming");
        assert_eq!(json["callId"], "c1");
        assert_eq!(json["roomName"], "call-cust-agent-0");
        assert_eq!(json["from"]["userId"], "cust");
        assert_eq!(json["from"]["participantType"], "PORTAL_CUSTOMER");
        assert_eq!(json["from"]["name"], "Ann");
        assert_eq!(json["token"], "callee-token");
        assert_eq!(json["ringDeadline"], "1970-01-01T00:00:30.000Z");
    }

    #[test]
    fn each_notice_has_its_type_and_the_cache_reuses_frames() {
        let c = call();
        let expect = [
            (NoticeKind::Accepted, "call.accepted"),
            (NoticeKind::AnsweredElsewhere, "call.answered_elsewhere"),
            (NoticeKind::Declined, "call.declined"),
            (NoticeKind::Cancelled, "call.cancelled"),
            (NoticeKind::Missed, "call.missed"),
            (NoticeKind::Ended, "call.ended"),
        ];
        let mut cache = FrameCache::default();
        for (kind, ty) in expect {
            let f = cache.get(&c, kind);
            let json: serde_json::Value = serde_json::from_str(f.as_str()).unwrap();
            assert_eq!(json["type"], ty);
            assert_eq!(json["callId"], "c1");
            assert!(json.get("token").is_none(), "{ty} must not carry tokens");
            assert_eq!(cache.get(&c, kind).as_str(), f.as_str());
        }
    }
}
