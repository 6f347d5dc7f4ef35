//! A call as a provider's call log reports it, provider-neutral, and the CallLog row made from it.
//!
//! Pure: adapters turn their records into [`SyncedCall`]; the sync job picks
//! the member and the org's number, and [`call_row`] builds (or rebuilds)
//! the row. A re-synced record gives the same row but for what changed.

use crate::model::{Call, CallStatus, Direction, EndReason, Millis, ParticipantType, Party, PhoneLeg};

/// One call of a provider's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedCall {
    /// The provider's id of the record; unique per provider.
    pub external_id: String,
    pub direction: Direction,
    /// E.164, when the provider gave a usable number (not for extension-to-extension calls).
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// The extension on our side (the callee's inbound, the caller's outbound), if any.
    pub our_extension: Option<String>,
    pub started_at: Millis,
    /// Whole seconds the provider counts for the call.
    pub duration: i64,
    pub status: CallStatus,
    /// The provider's own word for the outcome (`Accepted`, `Missed`…).
    pub provider_status: String,
    pub voicemail: bool,
}

impl SyncedCall {
    /// Our side's number: where an inbound call went, where an outbound one came from.
    pub fn our_number(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => self.to_number.as_deref(),
            Direction::Outbound => self.from_number.as_deref(),
        }
    }

    /// The customer's side.
    pub fn their_number(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => self.from_number.as_deref(),
            Direction::Outbound => self.to_number.as_deref(),
        }
    }

    /// When it ended (start plus the provider's duration).
    pub fn ended_at(&self) -> Millis {
        self.started_at + self.duration.max(0) * 1000
    }
}

/// Why a call with `status` ended.
fn reason(status: CallStatus) -> EndReason {
    match status {
        CallStatus::Completed | CallStatus::Active | CallStatus::Ringing => EndReason::Hangup,
        CallStatus::Missed => EndReason::RingTimeout,
        CallStatus::Declined => EndReason::Declined,
        CallStatus::Cancelled => EndReason::Cancelled,
        CallStatus::Busy => EndReason::CalleeBusy,
        CallStatus::Failed => EndReason::ProviderFailed,
    }
}

/// Where the row goes and whose it is.
pub struct RowTarget<'a> {
    /// The row's id (kept from the stored row on a re-sync).
    pub id: &'a str,
    pub org_id: &'a str,
    pub provider: &'a str,
    /// The org's member on our side, if one was matched.
    pub member: Option<&'a str>,
    /// The org's number on our side, if it is one.
    pub phone_number_id: Option<&'a str>,
    pub node_id: &'a str,
    /// The stored row's version (0 for a new row); the new row is one above.
    pub version: i64,
}

/// The CallLog row of `s`: ended, with the member (or the number) on our side.
pub fn call_row(s: &SyncedCall, t: &RowTarget<'_>) -> Call {
    let number = |n: Option<&str>, fallback: &str| Party {
        user_id: n.unwrap_or(fallback).to_owned(),
        kind: ParticipantType::Phone,
    };
    let ours = match t.member {
        Some(m) => Party {
            user_id: m.to_owned(),
            kind: ParticipantType::CrmUser,
        },
        None => number(s.our_number(), s.our_extension.as_deref().unwrap_or("unknown")),
    };
    let theirs = number(s.their_number(), "unknown");
    let (caller, callee) = match s.direction {
        Direction::Inbound => (theirs, ours),
        Direction::Outbound => (ours, theirs),
    };
    let answered = s.status == CallStatus::Completed;
    let ended_at = s.ended_at();
    Call {
        id: t.id.to_owned(),
        tenant_id: t.org_id.to_owned(),
        room_name: format!("pstn-{}", t.id),
        caller,
        callee,
        caller_name: None,
        status: s.status,
        started_at: s.started_at,
        answered_at: answered.then_some(s.started_at),
        ended_at: Some(ended_at),
        duration: if answered { s.duration.max(0) } else { 0 },
        end_reason: Some(reason(s.status)),
        ended_by: None,
        ring_deadline: None,
        grace_deadline: None,
        grace_reason: None,
        grace_since: None,
        caller_session: None,
        callee_session: None,
        record: false,
        recording_path: None,
        recording_bytes: None,
        recording_error: None,
        callee_name: None,
        node_id: t.node_id.to_owned(),
        version: t.version,
        phone: Some(Box::new(PhoneLeg {
            provider: t.provider.to_owned(),
            external_id: s.external_id.clone(),
            direction: s.direction,
            from_number: s.from_number.clone().unwrap_or_default(),
            to_number: s.to_number.clone().unwrap_or_default(),
            phone_number_id: t.phone_number_id.map(str::to_owned),
            price_micros: None,
            price_unit: None,
            provider_status: Some(s.provider_status.clone()),
            recording_sid: None,
            recording_seconds: None,
            voicemail: s.voicemail,
        })),
    }
}

/// Whether `stored` already says what `fresh` says (a re-synced, unchanged record writes nothing).
pub fn same_content(stored: &Call, fresh: &Call) -> bool {
    let mut a = stored.clone();
    a.version = fresh.version;
    a.node_id.clone_from(&fresh.node_id);
    a == *fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced(direction: Direction, status: CallStatus) -> SyncedCall {
        SyncedCall {
            external_id: "rec1".into(),
            direction,
            from_number: Some("+14155550101".into()),
            to_number: Some("+14155550202".into()),
            our_extension: Some("101".into()),
            started_at: 1_000_000,
            duration: 42,
            status,
            provider_status: "Accepted".into(),
            voicemail: false,
        }
    }

    fn target<'a>(member: Option<&'a str>) -> RowTarget<'a> {
        RowTarget {
            id: "c1",
            org_id: "org1",
            provider: "ringcentral",
            member,
            phone_number_id: Some("pn1"),
            node_id: "n1",
            version: 0,
        }
    }

    #[test]
    fn an_answered_inbound_call_puts_the_member_on_the_callee_side() {
        let row = call_row(&synced(Direction::Inbound, CallStatus::Completed), &target(Some("u1")));
        assert_eq!(row.caller.user_id, "+14155550101");
        assert_eq!(row.caller.kind, ParticipantType::Phone);
        assert_eq!(
            (row.callee.user_id.as_str(), row.callee.kind),
            ("u1", ParticipantType::CrmUser)
        );
        assert_eq!(
            (row.answered_at, row.ended_at, row.duration),
            (Some(1_000_000), Some(1_042_000), 42)
        );
        assert_eq!(row.end_reason, Some(EndReason::Hangup));
        let leg = row.phone.unwrap();
        assert_eq!(
            (leg.provider.as_str(), leg.external_id.as_str()),
            ("ringcentral", "rec1")
        );
        assert_eq!(leg.phone_number_id.as_deref(), Some("pn1"));
    }

    #[test]
    fn unanswered_outbound_calls_have_no_talk_time_and_their_reason() {
        for (status, reason) in [
            (CallStatus::Missed, EndReason::RingTimeout),
            (CallStatus::Declined, EndReason::Declined),
            (CallStatus::Cancelled, EndReason::Cancelled),
            (CallStatus::Busy, EndReason::CalleeBusy),
            (CallStatus::Failed, EndReason::ProviderFailed),
        ] {
            let row = call_row(&synced(Direction::Outbound, status), &target(Some("u1")));
            assert_eq!(row.caller.user_id, "u1");
            assert_eq!(row.callee.user_id, "+14155550202");
            assert_eq!((row.answered_at, row.duration), (None, 0), "{status:?}");
            assert_eq!(row.end_reason, Some(reason));
            assert_eq!(row.status, status);
        }
    }

    #[test]
    fn without_a_member_our_side_is_the_number_or_the_extension() {
        let row = call_row(&synced(Direction::Inbound, CallStatus::Completed), &target(None));
        assert_eq!(
            (row.callee.user_id.as_str(), row.callee.kind),
            ("+14155550202", ParticipantType::Phone)
        );
        let mut s = synced(Direction::Outbound, CallStatus::Completed);
        s.from_number = None;
        let row = call_row(&s, &target(None));
        assert_eq!(row.caller.user_id, "101");
        assert_eq!(s.our_number(), None);
        assert_eq!(s.their_number(), Some("+14155550202"));
    }

    #[test]
    fn an_unchanged_record_is_the_same_content_and_a_changed_one_is_not() {
        let s = synced(Direction::Inbound, CallStatus::Completed);
        let stored = call_row(&s, &target(Some("u1")));
        let mut t = target(Some("u1"));
        t.version = 1;
        t.node_id = "n2";
        assert!(same_content(&stored, &call_row(&s, &t)));
        let mut longer = s.clone();
        longer.duration = 50;
        assert!(!same_content(&stored, &call_row(&longer, &t)));
    }
}
