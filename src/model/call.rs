//! The call record and its vocabulary: participant types, statuses, end reasons.
//!
//! Everything here is plain data. Times are Unix milliseconds (`Millis`) handed
//! in by the caller; nothing in this module reads a clock.

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds. The store keeps every timestamp in this form so
/// SQLite and PostgreSQL share one schema shape and one comparison rule.
pub type Millis = i64;

/// Who a participant is in the CRM: an agent (`CRM_USER`) or a customer of the
/// portal (`PORTAL_CUSTOMER`); the far end of a phone call is `PHONE` (its
/// user id is the E.164 number; never a token's participant type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParticipantType {
    CrmUser,
    PortalCustomer,
    Phone,
}

impl ParticipantType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CrmUser => "CRM_USER",
            Self::PortalCustomer => "PORTAL_CUSTOMER",
            Self::Phone => "PHONE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CRM_USER" => Some(Self::CrmUser),
            "PORTAL_CUSTOMER" => Some(Self::PortalCustomer),
            "PHONE" => Some(Self::Phone),
            _ => None,
        }
    }
}

/// The CallLog status. `Ringing` and `Active` are open; the rest are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallStatus {
    Ringing,
    Active,
    Completed,
    Missed,
    Declined,
    Cancelled,
    Busy,
    Failed,
}

impl CallStatus {
    pub const ALL: [CallStatus; 8] = [
        Self::Ringing,
        Self::Active,
        Self::Completed,
        Self::Missed,
        Self::Declined,
        Self::Cancelled,
        Self::Busy,
        Self::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "RINGING",
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
            Self::Missed => "MISSED",
            Self::Declined => "DECLINED",
            Self::Cancelled => "CANCELLED",
            Self::Busy => "BUSY",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True once the call can no longer change.
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Ringing | Self::Active)
    }
}

/// Why a call ended, stored in `end_reason` and sent in `call.ended` & co.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A participant hung up an ACTIVE call.
    Hangup,
    /// The callee declined.
    Declined,
    /// The caller gave up while it rang.
    Cancelled,
    /// Every socket of the caller dropped while it rang.
    CallerDisconnected,
    /// Nobody answered inside the ring window.
    RingTimeout,
    /// The callee was already in a call or ringing.
    CalleeBusy,
    /// A participant lost every socket during the call and did not come back
    /// inside the reconnect grace period.
    ConnectionLost,
    /// The server restarted during the call and the participants did not come
    /// back inside the grace period.
    ServerRestart,
    /// Media could not be established or stopped flowing.
    MediaFailed,
    /// Phone calls: the provider failed the call, or refused to place it.
    ProviderFailed,
}

impl EndReason {
    pub const ALL: [EndReason; 10] = [
        Self::Hangup,
        Self::Declined,
        Self::Cancelled,
        Self::CallerDisconnected,
        Self::RingTimeout,
        Self::CalleeBusy,
        Self::ConnectionLost,
        Self::ServerRestart,
        Self::MediaFailed,
        Self::ProviderFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hangup => "hangup",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::CallerDisconnected => "caller_disconnected",
            Self::RingTimeout => "ring_timeout",
            Self::CalleeBusy => "callee_busy",
            Self::ConnectionLost => "connection_lost",
            Self::ServerRestart => "server_restart",
            Self::MediaFailed => "media_failed",
            Self::ProviderFailed => "provider_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One side of a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub user_id: String,
    pub kind: ParticipantType,
}

/// Which side of a call a user is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    /// Both sides, in `index` order.
    pub const BOTH: [Side; 2] = [Side::Caller, Side::Callee];

    /// `caller` or `callee` (recording file names, URLs, stream ids).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::BOTH.into_iter().find(|side| side.as_str() == s)
    }

    /// The other participant's side.
    pub const fn other(self) -> Self {
        match self {
            Self::Caller => Self::Callee,
            Self::Callee => Self::Caller,
        }
    }

    /// 0 for the caller, 1 for the callee (per-side arrays).
    pub const fn index(self) -> usize {
        match self {
            Self::Caller => 0,
            Self::Callee => 1,
        }
    }
}

/// A CallLog row, as the state machine and the store see it (serialized
/// whole only between nodes of one deployment, never to clients).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// UUIDv7 text: unique, and ordered by creation time (history pages on it).
    pub id: String,
    pub tenant_id: String,
    pub room_name: String,
    pub caller: Party,
    pub callee: Party,
    /// Display name the caller gave (`callerName`), shown on the callee's screen.
    pub caller_name: Option<String>,
    pub status: CallStatus,
    pub started_at: Millis,
    pub answered_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Whole seconds from answer to end; 0 for unanswered calls.
    pub duration: i64,
    pub end_reason: Option<EndReason>,
    /// User id of the participant whose action ended the call, if any.
    pub ended_by: Option<String>,
    /// While RINGING: when the call becomes MISSED. Kept in the row so any
    /// node's sweeper can expire it if the node that started it died.
    pub ring_deadline: Option<Millis>,
    /// While ACTIVE with a participant gone: when the call ends.
    pub grace_deadline: Option<Millis>,
    /// The reason the call will end with if `grace_deadline` passes.
    pub grace_reason: Option<EndReason>,
    /// When the participant was lost (or the server restarted); a call that
    /// ends at its grace deadline ends, for `ended_at` and `duration`, here.
    pub grace_since: Option<Millis>,
    /// The socket session that started the call, if it came over the socket.
    pub caller_session: Option<String>,
    /// The socket session that accepted the call, if it came over the socket.
    pub callee_session: Option<String>,
    /// Whether the call's media is recorded (embedded SFU only).
    pub record: bool,
    /// The recording's directory under the recording root, once written.
    pub recording_path: Option<String>,
    /// Total size of the recording's files.
    pub recording_bytes: Option<i64>,
    /// Why the recording is missing a side or stops early, if it does.
    pub recording_error: Option<String>,
    /// The callee's display name when the call was placed.
    pub callee_name: Option<String>,
    /// The node that created the call; its restart sweeps the call.
    pub node_id: String,
    /// Optimistic-concurrency counter: every update is conditional on it.
    pub version: i64,
    /// A phone call's provider side; `None` for an in-app call.
    #[serde(default)]
    pub phone: Option<Box<super::PhoneLeg>>,
}

impl Call {
    pub fn channel(&self) -> super::Channel {
        if self.phone.is_some() {
            super::Channel::Pstn
        } else {
            super::Channel::InApp
        }
    }

    /// The side `user_id` is on, or `None` for a stranger.
    pub fn side_of(&self, user_id: &str) -> Option<Side> {
        if self.caller.user_id == user_id {
            Some(Side::Caller)
        } else if self.callee.user_id == user_id {
            Some(Side::Callee)
        } else {
            None
        }
    }

    pub fn party(&self, side: Side) -> &Party {
        match side {
            Side::Caller => &self.caller,
            Side::Callee => &self.callee,
        }
    }

    pub fn other(&self, side: Side) -> &Party {
        match side {
            Side::Caller => &self.callee,
            Side::Callee => &self.caller,
        }
    }
}

/// Whole seconds between two instants, never negative.
pub fn whole_seconds(from: Millis, to: Millis) -> i64 {
    (to - from).max(0) / 1000
}

/// What a stored change of a call's status means outside the call layer
/// (the event stream, webhooks): a new row is `Created`, reaching `ACTIVE`
/// is `Answered`, reaching a final status is `Ended`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Answered,
    Ended,
}

impl ChangeKind {
    /// The kinds a change from `prev` (`None`: a new row) to `next` makes, in order.
    pub fn of(prev: Option<CallStatus>, next: CallStatus) -> impl Iterator<Item = ChangeKind> {
        let created = prev.is_none();
        let answered = next == CallStatus::Active && prev != Some(CallStatus::Active);
        let ended = next.is_final() && !prev.is_some_and(CallStatus::is_final);
        [
            created.then_some(ChangeKind::Created),
            answered.then_some(ChangeKind::Answered),
            ended.then_some(ChangeKind::Ended),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_finality() {
        for st in CallStatus::ALL {
            assert_eq!(CallStatus::parse(st.as_str()), Some(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        assert!(!CallStatus::Ringing.is_final());
        assert!(!CallStatus::Active.is_final());
        assert!(CallStatus::Completed.is_final());
        assert!(CallStatus::Busy.is_final());
        assert_eq!(CallStatus::parse("ringing"), None);
    }

    #[test]
    fn a_whole_row_round_trips_between_nodes() {
        let call = Call {
            id: "0190".into(),
            tenant_id: "t".into(),
            room_name: "r".into(),
            caller: Party {
                user_id: "cust".into(),
                kind: ParticipantType::PortalCustomer,
            },
            callee: Party {
                user_id: "agent".into(),
                kind: ParticipantType::CrmUser,
            },
            caller_name: Some("Cy \"Quote\" Ñ\n".into()),
            status: CallStatus::Active,
            started_at: 1,
            answered_at: Some(2),
            ended_at: None,
            duration: 0,
            end_reason: Some(EndReason::ALL[3]),
            ended_by: Some("agent".into()),
            ring_deadline: None,
            grace_deadline: Some(5),
            grace_reason: Some(EndReason::ALL[1]),
            grace_since: Some(4),
            caller_session: Some("7".into()),
            callee_session: Some("8".into()),
            record: true,
            recording_path: Some("a/b".into()),
            recording_bytes: Some(9),
            recording_error: Some("e".into()),
            callee_name: Some("Ag".into()),
            node_id: "n1.abc".into(),
            version: 6,
            phone: None,
        };
        let line = serde_json::to_string(&call).unwrap();
        assert!(!line.contains('\n'), "one line on the wire");
        assert_eq!(serde_json::from_str::<Call>(&line).unwrap(), call);
    }

    #[test]
    fn reasons_and_types_round_trip() {
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.as_str()));
        }
        for t in [
            ParticipantType::CrmUser,
            ParticipantType::PortalCustomer,
            ParticipantType::Phone,
        ] {
            assert_eq!(ParticipantType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ParticipantType::parse("ADMIN"), None);
    }

    #[test]
    fn side_helpers_agree() {
        assert_eq!(Side::Caller.as_str(), "caller");
        assert_eq!(Side::Callee.as_str(), "callee");
        for (i, side) in Side::BOTH.into_iter().enumerate() {
            assert_eq!(side.index(), i);
            assert_eq!(Side::parse(side.as_str()), Some(side));
            assert_ne!(side.other(), side);
            assert_eq!(side.other().other(), side);
        }
        assert_eq!(Side::Caller.other(), Side::Callee);
        assert_eq!(Side::parse("Caller"), None);
        assert_eq!(Side::parse("caller.ogg"), None);
    }

    #[test]
    fn whole_seconds_truncates_and_clamps() {
        assert_eq!(whole_seconds(1_000, 1_999), 0);
        assert_eq!(whole_seconds(1_000, 2_000), 1);
        assert_eq!(whole_seconds(1_000, 63_999), 62);
        assert_eq!(whole_seconds(5_000, 1_000), 0);
    }
}
