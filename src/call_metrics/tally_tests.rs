//! The tally's rules, call by call: directions per member and for the org, answered, missed, talk time, open calls, self-calls.

use super::*;
use crate::model::{Direction, Party, PhoneLeg};

fn party(id: &str, kind: ParticipantType) -> Party {
    Party {
        user_id: id.into(),
        kind,
    }
}

fn call(caller: Party, callee: Party, status: CallStatus, duration: i64, phone: Option<Direction>) -> Call {
    let answered = status == CallStatus::Completed;
    Call {
        id: format!("c-{}-{}", caller.user_id, callee.user_id),
        tenant_id: "t1".into(),
        room_name: "r".into(),
        caller,
        callee,
        caller_name: None,
        status,
        started_at: 1_000,
        answered_at: answered.then_some(2_000),
        ended_at: Some(10_000),
        duration: if answered { duration } else { 0 },
        end_reason: None,
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
        node_id: "n".into(),
        version: 1,
        phone: phone.map(|direction| {
            Box::new(PhoneLeg {
                provider: "ringcentral".into(),
                external_id: "x".into(),
                direction,
                from_number: "+1".into(),
                to_number: "+2".into(),
                phone_number_id: None,
                price_micros: None,
                price_unit: None,
                provider_status: None,
                recording_sid: None,
                recording_seconds: None,
                voicemail: false,
            })
        }),
    }
}

fn agent(id: &str) -> Party {
    party(id, ParticipantType::CrmUser)
}
fn customer(id: &str) -> Party {
    party(id, ParticipantType::PortalCustomer)
}
fn number(n: &str) -> Party {
    party(n, ParticipantType::Phone)
}

fn row<'a>(rows: &'a [Tally], user: &str) -> &'a Tally {
    rows.iter()
        .find(|t| t.user_id == user)
        .unwrap_or_else(|| panic!("no row for {user}: {rows:?}"))
}

#[test]
fn in_app_calls_are_inbound_to_the_agent_and_count_once_for_the_org() {
    let rows = tally(&[
        call(customer("c1"), agent("ann"), CallStatus::Completed, 60, None),
        call(customer("c2"), agent("ann"), CallStatus::Missed, 0, None),
        call(customer("c3"), agent("ann"), CallStatus::Cancelled, 0, None),
        call(customer("c4"), agent("ann"), CallStatus::Declined, 0, None),
        call(agent("ann"), customer("c1"), CallStatus::Completed, 30, None),
    ]);
    let ann = row(&rows, "ann");
    assert_eq!(
        (
            ann.total,
            ann.inbound,
            ann.outbound,
            ann.answered,
            ann.missed,
            ann.talk_seconds
        ),
        (5, 4, 1, 2, 2, 90),
        "declined counts in total only"
    );
    let org = row(&rows, ORG_ROW);
    assert_eq!(
        (org.total, org.inbound, org.outbound, org.missed, org.talk_seconds),
        (5, 4, 1, 2, 90)
    );
    assert_eq!(rows.len(), 2, "customers get no row: {rows:?}");
}

#[test]
fn a_call_between_two_members_counts_for_each_and_once_for_the_org() {
    let rows = tally(&[call(agent("ann"), agent("bob"), CallStatus::Completed, 45, None)]);
    let (ann, bob) = (row(&rows, "ann"), row(&rows, "bob"));
    assert_eq!((ann.outbound, ann.inbound, ann.talk_seconds), (1, 0, 45));
    assert_eq!((bob.outbound, bob.inbound, bob.talk_seconds), (0, 1, 45));
    let org = row(&rows, ORG_ROW);
    assert_eq!((org.total, org.outbound, org.talk_seconds), (1, 1, 45));
}

#[test]
fn phone_calls_take_the_providers_direction_and_unmatched_ones_count_for_the_org_only() {
    let rows = tally(&[
        call(
            number("+16505550100"),
            agent("ann"),
            CallStatus::Completed,
            95,
            Some(Direction::Inbound),
        ),
        call(
            agent("ann"),
            number("+16505550111"),
            CallStatus::Busy,
            0,
            Some(Direction::Outbound),
        ),
        call(
            number("+16505550100"),
            number("+16505550199"),
            CallStatus::Missed,
            0,
            Some(Direction::Inbound),
        ),
    ]);
    let ann = row(&rows, "ann");
    assert_eq!(
        (ann.total, ann.inbound, ann.outbound, ann.answered, ann.missed),
        (2, 1, 1, 1, 0)
    );
    let org = row(&rows, ORG_ROW);
    assert_eq!(
        (org.total, org.inbound, org.outbound, org.missed, org.talk_seconds),
        (3, 2, 1, 1, 95)
    );
}

#[test]
fn open_calls_are_left_out_and_an_empty_day_has_no_rows() {
    let mut open = call(customer("c1"), agent("ann"), CallStatus::Active, 0, None);
    open.ended_at = None;
    assert!(tally(&[open]).is_empty());
    assert!(tally(&[]).is_empty());
}

#[test]
fn a_member_calling_their_own_number_is_one_call() {
    let rows = tally(&[call(agent("ann"), agent("ann"), CallStatus::Completed, 10, None)]);
    assert_eq!(row(&rows, "ann").total, 1);
}

#[test]
fn the_tally_does_not_depend_on_the_order_of_the_calls() {
    let mut calls = vec![
        call(customer("c1"), agent("ann"), CallStatus::Completed, 60, None),
        call(agent("bob"), customer("c2"), CallStatus::Missed, 0, None),
        call(
            number("+1"),
            agent("bob"),
            CallStatus::Completed,
            7,
            Some(Direction::Inbound),
        ),
    ];
    let a = tally(&calls);
    calls.reverse();
    assert_eq!(a, tally(&calls));
}
