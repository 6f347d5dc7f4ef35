//! Tests of `calls.rs`: a phone call's row through its callbacks, repeated and out of order.

use super::*;

fn inbound() -> Call {
    new_row(
        NewPhoneCall {
            id: "c1".into(),
            org_id: "org",
            direction: Direction::Inbound,
            external_id: "CA1",
            from_number: "+14155552671",
            to_number: "+14155550100",
            phone_number_id: "n1",
            member: None,
            record: false,
            node_id: "local",
        },
        1_000,
    )
}

fn outbound() -> Call {
    new_row(
        NewPhoneCall {
            id: "c2".into(),
            org_id: "org",
            direction: Direction::Outbound,
            external_id: "CA2",
            from_number: "+14155550100",
            to_number: "+442079460958",
            phone_number_id: "n1",
            member: Some(("agent", Some("Ann".into()))),
            record: true,
            node_id: "local",
        },
        1_000,
    )
}

fn status(s: &str) -> StatusReport<'_> {
    StatusReport {
        status: s,
        ..Default::default()
    }
}

fn agent(s: &str, duration: Option<i64>) -> StatusReport<'_> {
    StatusReport {
        status: s,
        duration,
        price: None,
        agent_leg: true,
    }
}

#[test]
fn a_new_row_names_both_ends() {
    let c = inbound();
    assert_eq!(c.status, CallStatus::Ringing);
    assert_eq!(
        (c.caller.kind, c.caller.user_id.as_str()),
        (ParticipantType::Phone, "+14155552671")
    );
    assert_eq!(
        (c.callee.kind, c.callee.user_id.as_str()),
        (ParticipantType::Phone, "+14155550100")
    );
    assert_eq!(c.channel(), crate::model::Channel::Pstn);
    let o = outbound();
    assert_eq!(
        (o.caller.kind, o.caller.user_id.as_str()),
        (ParticipantType::CrmUser, "agent")
    );
    assert_eq!(o.callee.user_id, "+442079460958");
    assert_eq!(o.caller_name.as_deref(), Some("Ann"));
    assert_eq!(o.phone.as_ref().unwrap().direction, Direction::Outbound);
}

#[test]
fn answered_then_completed_takes_twilios_duration_once() {
    let c = outbound();
    let ringing = on_status(&c, &status("ringing"), 2_000);
    assert!(ringing.is_none(), "ringing is where it is");
    let active = on_status(&c, &status("in-progress"), 3_000).unwrap();
    assert_eq!(
        (active.status, active.answered_at, active.version),
        (CallStatus::Active, Some(3_000), 1)
    );
    let done = on_status(
        &active,
        &StatusReport {
            status: "completed",
            duration: Some(42),
            price: Some((17_000, "USD")),
            agent_leg: false,
        },
        46_000,
    )
    .unwrap();
    assert_eq!(done.status, CallStatus::Completed);
    assert_eq!(
        (done.duration, done.ended_at, done.end_reason),
        (42, Some(46_000), Some(EndReason::Hangup))
    );
    assert_eq!(done.phone.as_ref().unwrap().price_micros, Some(17_000));
    // Repeated: nothing. Late `in-progress`: nothing. A different final status: nothing.
    for late in ["completed", "in-progress", "ringing", "busy", "no-answer", "failed"] {
        assert!(on_status(&done, &status(late), 50_000).is_none(), "{late}");
    }
}

#[test]
fn completed_before_in_progress_dates_the_answer_from_the_duration() {
    let done = on_status(
        &outbound(),
        &StatusReport {
            status: "completed",
            duration: Some(30),
            price: None,
            agent_leg: false,
        },
        40_000,
    )
    .unwrap();
    assert_eq!((done.answered_at, done.duration), (Some(10_000), 30));
    assert!(on_status(&done, &status("in-progress"), 41_000).is_none());
}

#[test]
fn unanswered_endings_have_no_talk_time() {
    for (s, st, reason) in [
        ("no-answer", CallStatus::Missed, EndReason::RingTimeout),
        ("busy", CallStatus::Busy, EndReason::CalleeBusy),
        ("canceled", CallStatus::Cancelled, EndReason::Cancelled),
        ("failed", CallStatus::Failed, EndReason::ProviderFailed),
    ] {
        let r = StatusReport {
            status: s,
            duration: Some(9),
            price: None,
            agent_leg: false,
        };
        let next = on_status(&outbound(), &r, 5_000).unwrap();
        assert_eq!(
            (next.status, next.duration, next.end_reason),
            (st, 0, Some(reason)),
            "{s}"
        );
    }
    assert!(on_status(&outbound(), &status("bogus"), 5_000).is_none());
}

#[test]
fn a_late_price_is_taken_once() {
    let done = on_status(&outbound(), &status("canceled"), 5_000).unwrap();
    let priced = on_status(
        &done,
        &StatusReport {
            status: "canceled",
            duration: None,
            price: Some((1, "USD")),
            agent_leg: false,
        },
        6_000,
    )
    .unwrap();
    assert_eq!(
        (priced.status, priced.phone.as_ref().unwrap().price_micros),
        (CallStatus::Cancelled, Some(1))
    );
    let again = StatusReport {
        status: "completed",
        duration: None,
        price: Some((2, "USD")),
        agent_leg: false,
    };
    assert!(on_status(&priced, &again, 7_000).is_none());
}

#[test]
fn an_agent_answers_an_inbound_call_once() {
    let c = inbound();
    let a = answered_by(&c, "agent-1", Some("Ann".into()), 2_000).unwrap();
    assert_eq!(
        (a.callee.kind, a.callee.user_id.as_str()),
        (ParticipantType::CrmUser, "agent-1")
    );
    assert_eq!((a.status, a.answered_at), (CallStatus::Active, Some(2_000)));
    assert!(answered_by(&a, "agent-2", None, 2_100).is_none(), "answered elsewhere");
    assert!(answered_by(&outbound(), "agent-1", None, 2_000).is_none());
    // The received call's own `in-progress` (our TwiML answered it) is not an agent's answer.
    assert!(on_status(&c, &status("in-progress"), 1_500).is_none());
    // The agent's leg ends with its talk time; the received call's `completed` then changes nothing.
    let done = on_status(&a, &agent("completed", Some(12)), 14_000).unwrap();
    assert_eq!((done.status, done.duration), (CallStatus::Completed, 12));
    assert!(on_status(&done, &status("completed"), 15_000).is_none());
}

#[test]
fn a_received_call_completing_first_counts_talk_time_from_the_answer() {
    // The agent answered at 2 s; the received call's `completed` (its CallDuration counts the ringing too) comes first at 32 s.
    let a = answered_by(&inbound(), "agent-1", None, 2_000).unwrap();
    let report = StatusReport {
        status: "completed",
        duration: Some(55),
        price: None,
        agent_leg: false,
    };
    let done = on_status(&a, &report, 32_000).unwrap();
    assert_eq!((done.status, done.duration), (CallStatus::Completed, 30));
    assert_eq!(
        a.room_name, "pstn-c1",
        "named by our id, not a provider id that may come later"
    );
}

#[test]
fn an_inbound_call_nobody_answered_is_missed() {
    let done = on_status(&inbound(), &status("completed"), 9_000).unwrap();
    assert_eq!(
        (done.status, done.duration, done.answered_at),
        (CallStatus::Missed, 0, None)
    );
}

#[test]
fn voicemail_makes_an_unanswered_inbound_call_missed() {
    let vm = to_voicemail(&inbound()).unwrap();
    assert!(to_voicemail(&vm).is_none());
    // Twilio's `<Record>` answered the call: Twilio says in-progress, then completed.
    let done = on_status(
        &vm,
        &StatusReport {
            status: "completed",
            duration: Some(25),
            price: None,
            agent_leg: false,
        },
        30_000,
    )
    .unwrap();
    assert_eq!((done.status, done.duration), (CallStatus::Missed, 0));
    let rec = with_recording(&done, "RE1", 21, true).unwrap();
    assert!(rec.phone.as_ref().unwrap().voicemail);
    assert_eq!(rec.phone.as_ref().unwrap().recording_seconds, Some(21));
    assert!(with_recording(&rec, "RE1", 21, true).is_none(), "a repeated callback");
}
