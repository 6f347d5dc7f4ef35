//! Transition-by-transition tests of the call state machine, with hand-made clocks.

use super::*;
use crate::call::fixtures::{RING, T0, new_call, party};
use crate::model::{CallStatus as S, EndReason as R};

fn call_in(status: S) -> Call {
    let mut c = ringing(new_call(), T0, RING);
    match status {
        S::Ringing => {}
        S::Active => {
            c = apply(&c, callee(), Command::Accept, T0 + 2_000).unwrap().call;
        }
        other => {
            c.status = other;
            c.ring_deadline = None;
            c.ended_at = Some(T0 + 1);
            if other == S::Completed {
                c.answered_at = Some(T0);
            }
        }
    }
    c
}

fn caller() -> Actor<'static> {
    Actor::User {
        user_id: "cust",
        session: Some("s-caller"),
    }
}

fn callee() -> Actor<'static> {
    Actor::User {
        user_id: "agent",
        session: Some("phone"),
    }
}

fn stranger() -> Actor<'static> {
    Actor::User {
        user_id: "mallory",
        session: None,
    }
}

fn has_notice(t: &Transition, side: Side, kind: NoticeKind) -> bool {
    t.effects
        .iter()
        .any(|e| matches!(e, Effect::Notify { side: s, kind: k, .. } if *s == side && *k == kind))
}

#[test]
fn new_call_rings_with_deadline_and_room_name() {
    let c = ringing(new_call(), T0, RING);
    assert_eq!(c.status, S::Ringing);
    assert_eq!(c.ring_deadline, Some(T0 + RING));
    assert_eq!(c.room_name, format!("call-cust-agent-{T0}"));
    assert_eq!(c.started_at, T0);
    assert_eq!((c.answered_at, c.ended_at, c.duration), (None, None, 0));
    assert_eq!(c.version, 0);
}

#[test]
fn busy_call_is_final_at_once() {
    let c = busy(new_call(), T0);
    assert_eq!(c.status, S::Busy);
    assert!(c.status.is_final());
    assert_eq!(c.ended_at, Some(T0));
    assert_eq!(c.end_reason, Some(R::CalleeBusy));
    assert_eq!(c.ring_deadline, None);
}

#[test]
fn start_rules() {
    let a = party("a", ParticipantType::CrmUser);
    let b = party("b", ParticipantType::CrmUser);
    let c1 = party("c1", ParticipantType::PortalCustomer);
    let c2 = party("c2", ParticipantType::PortalCustomer);
    assert_eq!(check_start(&a, &a), Err(MachineError::SelfCall));
    assert_eq!(check_start(&c1, &c2), Err(MachineError::NotAllowed));
    assert!(check_start(&c1, &a).is_ok());
    assert!(check_start(&a, &c1).is_ok());
    assert!(check_start(&a, &b).is_ok());
}

#[test]
fn accept_makes_active_and_tells_everyone() {
    let c = call_in(S::Ringing);
    let t = apply(&c, callee(), Command::Accept, T0 + 1_500).unwrap();
    assert_eq!(t.call.status, S::Active);
    assert_eq!(t.call.answered_at, Some(T0 + 1_500));
    assert_eq!(t.call.ring_deadline, None);
    assert_eq!(t.call.callee_session.as_deref(), Some("phone"));
    assert_eq!(t.call.version, c.version + 1);
    assert!(t.effects.contains(&Effect::StopRingTimer));
    assert!(has_notice(&t, Side::Caller, NoticeKind::Accepted));
    assert!(t.effects.contains(&Effect::Notify {
        side: Side::Callee,
        except_session: Some("phone".into()),
        kind: NoticeKind::AnsweredElsewhere
    }));
    assert!(!t.effects.contains(&Effect::Release));
}

#[test]
fn accept_from_rest_has_no_session_so_every_device_is_told() {
    let c = call_in(S::Ringing);
    let rest = Actor::User {
        user_id: "agent",
        session: None,
    };
    let t = apply(&c, rest, Command::Accept, T0 + 10).unwrap();
    assert!(t.effects.contains(&Effect::Notify {
        side: Side::Callee,
        except_session: None,
        kind: NoticeKind::AnsweredElsewhere
    }));
}

#[test]
fn accept_refusals() {
    let ringing = call_in(S::Ringing);
    assert_eq!(
        apply(&ringing, caller(), Command::Accept, T0).unwrap_err(),
        MachineError::NotCallee
    );
    assert_eq!(
        apply(&ringing, stranger(), Command::Accept, T0).unwrap_err(),
        MachineError::NotParticipant
    );
    assert_eq!(
        apply(&ringing, Actor::System, Command::Accept, T0).unwrap_err(),
        MachineError::NotParticipant
    );
    // At or after the ring deadline an accept loses to the timeout.
    assert_eq!(
        apply(&ringing, callee(), Command::Accept, T0 + RING).unwrap_err(),
        MachineError::Ended
    );
    let active = call_in(S::Active);
    assert_eq!(
        apply(&active, callee(), Command::Accept, T0 + 3_000).unwrap_err(),
        MachineError::AlreadyAnswered
    );
    let completed = call_in(S::Completed);
    assert_eq!(
        apply(&completed, callee(), Command::Accept, T0 + 3_000).unwrap_err(),
        MachineError::AlreadyAnswered
    );
    for st in [S::Missed, S::Declined, S::Cancelled, S::Busy, S::Failed] {
        assert_eq!(
            apply(&call_in(st), callee(), Command::Accept, T0).unwrap_err(),
            MachineError::Ended,
            "{st:?}"
        );
    }
}

#[test]
fn decline_by_callee_only_while_ringing() {
    let c = call_in(S::Ringing);
    let t = apply(&c, callee(), Command::Decline, T0 + 700).unwrap();
    assert_eq!(t.call.status, S::Declined);
    assert_eq!(t.call.end_reason, Some(R::Declined));
    assert_eq!(t.call.ended_by.as_deref(), Some("agent"));
    assert_eq!(t.call.ended_at, Some(T0 + 700));
    assert_eq!(t.call.duration, 0);
    assert!(has_notice(&t, Side::Caller, NoticeKind::Declined));
    assert!(has_notice(&t, Side::Callee, NoticeKind::Declined));
    assert!(t.effects.contains(&Effect::Release));
    assert!(t.effects.contains(&Effect::StopRingTimer));

    assert_eq!(
        apply(&c, caller(), Command::Decline, T0).unwrap_err(),
        MachineError::NotCallee
    );
    assert_eq!(
        apply(&c, stranger(), Command::Decline, T0).unwrap_err(),
        MachineError::NotParticipant
    );
    assert_eq!(
        apply(&call_in(S::Active), callee(), Command::Decline, T0).unwrap_err(),
        MachineError::NotRinging
    );
    assert_eq!(
        apply(&call_in(S::Missed), callee(), Command::Decline, T0).unwrap_err(),
        MachineError::Ended
    );
}

#[test]
fn cancel_by_caller_only_while_ringing() {
    let c = call_in(S::Ringing);
    let t = apply(&c, caller(), Command::Cancel, T0 + 900).unwrap();
    assert_eq!(t.call.status, S::Cancelled);
    assert_eq!(t.call.end_reason, Some(R::Cancelled));
    assert_eq!(t.call.ended_by.as_deref(), Some("cust"));
    assert!(has_notice(&t, Side::Callee, NoticeKind::Cancelled));
    assert!(has_notice(&t, Side::Caller, NoticeKind::Cancelled));
    assert!(t.effects.contains(&Effect::Release));

    assert_eq!(
        apply(&c, callee(), Command::Cancel, T0).unwrap_err(),
        MachineError::NotCaller
    );
    assert_eq!(
        apply(&c, stranger(), Command::Cancel, T0).unwrap_err(),
        MachineError::NotParticipant
    );
    assert_eq!(
        apply(&call_in(S::Active), caller(), Command::Cancel, T0).unwrap_err(),
        MachineError::NotRinging
    );
    assert_eq!(
        apply(&call_in(S::Declined), caller(), Command::Cancel, T0).unwrap_err(),
        MachineError::Ended
    );
}

#[test]
fn end_active_completes_with_whole_second_duration() {
    let c = call_in(S::Active); // answered at T0 + 2_000
    let t = apply(&c, caller(), Command::End, T0 + 2_000 + 62_999).unwrap();
    assert_eq!(t.call.status, S::Completed);
    assert_eq!(t.call.duration, 62);
    assert_eq!(t.call.end_reason, Some(R::Hangup));
    assert_eq!(t.call.ended_by.as_deref(), Some("cust"));
    assert!(has_notice(&t, Side::Caller, NoticeKind::Ended));
    assert!(has_notice(&t, Side::Callee, NoticeKind::Ended));
    assert!(t.effects.contains(&Effect::Release));

    let t = apply(&c, callee(), Command::End, T0 + 2_000 + 5_000).unwrap();
    assert_eq!((t.call.duration, t.call.ended_by.as_deref()), (5, Some("agent")));
}

#[test]
fn end_while_ringing_means_cancel_or_decline() {
    let c = call_in(S::Ringing);
    assert_eq!(
        apply(&c, caller(), Command::End, T0 + 1).unwrap().call.status,
        S::Cancelled
    );
    assert_eq!(
        apply(&c, callee(), Command::End, T0 + 1).unwrap().call.status,
        S::Declined
    );
    assert_eq!(
        apply(&c, stranger(), Command::End, T0 + 1).unwrap_err(),
        MachineError::NotParticipant
    );
    for st in [S::Completed, S::Missed, S::Declined, S::Cancelled, S::Busy, S::Failed] {
        assert_eq!(
            apply(&call_in(st), caller(), Command::End, T0).unwrap_err(),
            MachineError::Ended,
            "{st:?}"
        );
    }
}

#[test]
fn ring_timeout_only_when_due_and_only_by_the_server() {
    let c = call_in(S::Ringing);
    assert_eq!(
        apply(&c, Actor::System, Command::RingTimeout, T0 + RING - 1).unwrap_err(),
        MachineError::NotDue
    );
    assert_eq!(
        apply(&c, callee(), Command::RingTimeout, T0 + RING).unwrap_err(),
        MachineError::SystemOnly
    );
    let t = apply(&c, Actor::System, Command::RingTimeout, T0 + RING).unwrap();
    assert_eq!(t.call.status, S::Missed);
    assert_eq!(t.call.end_reason, Some(R::RingTimeout));
    assert_eq!(t.call.ended_by, None);
    assert_eq!(t.call.duration, 0);
    assert!(has_notice(&t, Side::Caller, NoticeKind::Missed));
    assert!(has_notice(&t, Side::Callee, NoticeKind::Missed));
    assert!(t.effects.contains(&Effect::Release));
    assert_eq!(
        apply(&call_in(S::Active), Actor::System, Command::RingTimeout, T0 + RING).unwrap_err(),
        MachineError::NotRinging
    );
    assert_eq!(
        apply(&call_in(S::Completed), Actor::System, Command::RingTimeout, T0 + RING).unwrap_err(),
        MachineError::Ended
    );
}

#[test]
fn caller_vanishing_while_ringing_cancels() {
    let c = call_in(S::Ringing);
    let t = apply(&c, Actor::System, Command::CallerVanished, T0 + 5).unwrap();
    assert_eq!(t.call.status, S::Cancelled);
    assert_eq!(t.call.end_reason, Some(R::CallerDisconnected));
    assert!(has_notice(&t, Side::Callee, NoticeKind::Cancelled));
    assert_eq!(
        apply(&c, caller(), Command::CallerVanished, T0).unwrap_err(),
        MachineError::SystemOnly
    );
    assert_eq!(
        apply(&call_in(S::Active), Actor::System, Command::CallerVanished, T0).unwrap_err(),
        MachineError::NotRinging
    );
}

#[test]
fn lost_participant_gets_a_grace_deadline_that_never_extends() {
    let c = call_in(S::Active);
    let lost = Command::ParticipantLost {
        grace_ms: 30_000,
        reason: R::ConnectionLost,
    };
    let t = apply(&c, Actor::System, lost, T0 + 10_000).unwrap();
    assert_eq!(t.call.status, S::Active);
    assert_eq!(t.call.grace_deadline, Some(T0 + 40_000));
    assert_eq!(t.call.grace_reason, Some(R::ConnectionLost));
    assert_eq!(
        t.effects.as_slice(),
        &[Effect::StartGraceTimer { deadline: T0 + 40_000 }]
    );

    // The other participant drops later: the earlier deadline and loss time stand.
    let t2 = apply(&t.call, Actor::System, lost, T0 + 20_000).unwrap();
    assert_eq!(t2.call.grace_deadline, Some(T0 + 40_000));
    assert_eq!(t2.call.grace_since, Some(T0 + 10_000));
    assert_eq!(t2.call.version, c.version + 2);

    assert_eq!(apply(&c, callee(), lost, T0).unwrap_err(), MachineError::SystemOnly);
    assert_eq!(
        apply(&call_in(S::Ringing), Actor::System, lost, T0).unwrap_err(),
        MachineError::NotActive
    );
    assert_eq!(
        apply(&call_in(S::Completed), Actor::System, lost, T0).unwrap_err(),
        MachineError::Ended
    );
}

#[test]
fn coming_back_lifts_the_grace_deadline() {
    let c = call_in(S::Active);
    let lost = Command::ParticipantLost {
        grace_ms: 30_000,
        reason: R::ConnectionLost,
    };
    let t = apply(&c, Actor::System, lost, T0 + 10_000).unwrap();
    let back = apply(&t.call, Actor::System, Command::ParticipantBack, T0 + 12_000).unwrap();
    assert_eq!(back.call.grace_deadline, None);
    assert_eq!(back.call.grace_reason, None);
    assert_eq!(back.call.grace_since, None);
    assert_eq!(back.effects.as_slice(), &[Effect::StopGraceTimer]);
    assert_eq!(back.call.status, S::Active);
    // Expiry afterwards is not due any more.
    assert_eq!(
        apply(&back.call, Actor::System, Command::GraceExpired, T0 + 99_000).unwrap_err(),
        MachineError::NotDue
    );
}

#[test]
fn grace_expiry_completes_with_the_stored_reason() {
    let c = call_in(S::Active); // answered T0 + 2_000
    for reason in [R::ConnectionLost, R::ServerRestart] {
        let lost = Command::ParticipantLost {
            grace_ms: 30_000,
            reason,
        };
        let t = apply(&c, Actor::System, lost, T0 + 10_000).unwrap();
        assert_eq!(
            apply(&t.call, Actor::System, Command::GraceExpired, T0 + 39_999).unwrap_err(),
            MachineError::NotDue
        );
        assert_eq!(t.call.grace_since, Some(T0 + 10_000));
        let end = apply(&t.call, Actor::System, Command::GraceExpired, T0 + 40_000).unwrap();
        assert_eq!(end.call.status, S::Completed);
        assert_eq!(end.call.end_reason, Some(reason));
        // Answered at T0+2s, lost at T0+10s: 8 seconds, ending when it was lost.
        assert_eq!(end.call.duration, 8);
        assert_eq!(end.call.ended_at, Some(T0 + 10_000));
        assert_eq!(end.call.grace_deadline, None);
        assert_eq!(end.call.grace_since, None);
        assert!(has_notice(&end, Side::Callee, NoticeKind::Ended));
        assert!(end.effects.contains(&Effect::Release));
    }
    assert_eq!(
        apply(&c, Actor::System, Command::GraceExpired, T0 + 99_000).unwrap_err(),
        MachineError::NotDue
    );
    assert_eq!(
        apply(&c, caller(), Command::GraceExpired, T0).unwrap_err(),
        MachineError::SystemOnly
    );
}

#[test]
fn lost_media_gets_the_grace_from_the_moment_it_stopped() {
    let c = call_in(S::Active); // answered T0 + 2_000
    // The last packet came at T0+5s; the loss was noticed at T0+20s.
    let lost = Command::MediaLost {
        grace_ms: 30_000,
        since: T0 + 5_000,
    };
    let t = apply(&c, Actor::System, lost, T0 + 20_000).unwrap();
    assert_eq!(t.call.status, S::Active);
    assert_eq!(
        t.call.grace_deadline,
        Some(T0 + 35_000),
        "30 s from the loss, not its detection"
    );
    assert_eq!(t.call.grace_reason, Some(R::MediaFailed));
    assert_eq!(t.call.grace_since, Some(T0 + 5_000));
    assert_eq!(
        t.effects.as_slice(),
        &[Effect::StartGraceTimer { deadline: T0 + 35_000 }]
    );
    // A `since` from the future (clock skew between tasks) counts as now.
    let skewed = Command::MediaLost {
        grace_ms: 30_000,
        since: T0 + 99_000,
    };
    let s2 = apply(&c, Actor::System, skewed, T0 + 20_000).unwrap();
    assert_eq!(s2.call.grace_since, Some(T0 + 20_000));
    // Never coming back: FAILED, ended (and billed) at the last packet.
    let end = apply(&t.call, Actor::System, Command::GraceExpired, T0 + 35_000).unwrap();
    assert_eq!(end.call.status, S::Failed);
    assert_eq!(end.call.end_reason, Some(R::MediaFailed));
    assert_eq!(end.call.ended_at, Some(T0 + 5_000));
    assert_eq!(end.call.duration, 3);
    assert!(end.effects.contains(&Effect::Release));
    // Media back in time: lifted like any grace.
    let back = apply(&t.call, Actor::System, Command::ParticipantBack, T0 + 25_000).unwrap();
    assert_eq!((back.call.grace_deadline, back.call.grace_since), (None, None));
    assert_eq!(apply(&c, callee(), lost, T0).unwrap_err(), MachineError::SystemOnly);
    assert_eq!(
        apply(&call_in(S::Ringing), Actor::System, lost, T0).unwrap_err(),
        MachineError::NotActive
    );
}

#[test]
fn a_socket_and_its_media_lost_together_keep_the_first_loss() {
    let c = call_in(S::Active);
    let socket = Command::ParticipantLost {
        grace_ms: 30_000,
        reason: R::ConnectionLost,
    };
    // The page reloads at T0+10s; its media is noticed gone at T0+25s (last packet T0+10s).
    let t = apply(&c, Actor::System, socket, T0 + 10_000).unwrap();
    let media = Command::MediaLost {
        grace_ms: 30_000,
        since: T0 + 10_000,
    };
    let t2 = apply(&t.call, Actor::System, media, T0 + 25_000).unwrap();
    assert_eq!(t2.call.grace_deadline, Some(T0 + 40_000));
    assert_eq!(t2.call.grace_reason, Some(R::ConnectionLost));
    assert_eq!(t2.call.grace_since, Some(T0 + 10_000));
    // Media stopped first (T0+4s), the dead socket was noticed later: the earlier loss wins.
    let m = apply(
        &c,
        Actor::System,
        Command::MediaLost {
            grace_ms: 30_000,
            since: T0 + 4_000,
        },
        T0 + 19_000,
    )
    .unwrap();
    let both = apply(&m.call, Actor::System, socket, T0 + 30_000).unwrap();
    assert_eq!(both.call.grace_deadline, Some(T0 + 34_000));
    assert_eq!(both.call.grace_reason, Some(R::MediaFailed));
    assert_eq!(both.call.grace_since, Some(T0 + 4_000));
    // Media found lost during a socket grace: the socket's deadline and
    // reason stand, the end moves to the earlier last packet.
    let earlier = apply(
        &t.call,
        Actor::System,
        Command::MediaLost {
            grace_ms: 30_000,
            since: T0 + 9_000,
        },
        T0 + 24_000,
    )
    .unwrap();
    assert_eq!(earlier.call.grace_deadline, Some(T0 + 40_000));
    assert_eq!(earlier.call.grace_reason, Some(R::ConnectionLost));
    assert_eq!(earlier.call.grace_since, Some(T0 + 9_000));
}

#[test]
fn ending_a_call_in_grace_clears_the_grace() {
    let c = call_in(S::Active);
    let lost = Command::ParticipantLost {
        grace_ms: 30_000,
        reason: R::ConnectionLost,
    };
    let t = apply(&c, Actor::System, lost, T0 + 10_000).unwrap();
    let end = apply(&t.call, callee(), Command::End, T0 + 11_000).unwrap();
    assert_eq!(end.call.grace_deadline, None);
    assert_eq!(end.call.end_reason, Some(R::Hangup));
    assert!(end.effects.contains(&Effect::StopGraceTimer));
}

#[test]
fn failure_ends_open_calls_as_failed() {
    let fail = Command::Fail { reason: R::MediaFailed };
    let t = apply(&call_in(S::Active), Actor::System, fail, T0 + 12_000).unwrap();
    assert_eq!(t.call.status, S::Failed);
    assert_eq!(t.call.end_reason, Some(R::MediaFailed));
    assert_eq!(t.call.duration, 10);
    let t = apply(&call_in(S::Ringing), Actor::System, fail, T0 + 1).unwrap();
    assert_eq!((t.call.status, t.call.duration), (S::Failed, 0));
    assert!(t.effects.contains(&Effect::StopRingTimer));
    assert_eq!(
        apply(&call_in(S::Missed), Actor::System, fail, T0).unwrap_err(),
        MachineError::Ended
    );
    assert_eq!(
        apply(&call_in(S::Active), caller(), fail, T0).unwrap_err(),
        MachineError::SystemOnly
    );
}

/// Every (status, actor, command) triple: final calls never change, every
/// success bumps the version by one, and only open calls move.
#[test]
fn exhaustive_final_states_are_absorbing() {
    let actors = [caller(), callee(), stranger(), Actor::System];
    let commands = [
        Command::Accept,
        Command::Decline,
        Command::Cancel,
        Command::End,
        Command::RingTimeout,
        Command::GraceExpired,
        Command::ParticipantLost {
            grace_ms: 1,
            reason: R::ConnectionLost,
        },
        Command::ParticipantBack,
        Command::MediaLost { grace_ms: 1, since: T0 },
        Command::CallerVanished,
        Command::Fail { reason: R::MediaFailed },
    ];
    let mut successes = 0;
    for st in S::ALL {
        let c = call_in(st);
        for actor in actors {
            for cmd in commands {
                for now in [T0, T0 + RING, T0 + 10 * RING] {
                    match apply(&c, actor, cmd, now) {
                        Ok(t) => {
                            successes += 1;
                            assert!(!st.is_final(), "{st:?} moved on {cmd:?}");
                            assert_eq!(t.call.version, c.version + 1);
                            assert_eq!(t.call.id, c.id);
                            if t.call.status.is_final() {
                                assert!(t.effects.contains(&Effect::Release), "{cmd:?}");
                                assert!(t.call.ended_at.is_some());
                                assert_eq!(t.call.ring_deadline, None);
                                assert_eq!(t.call.grace_deadline, None);
                            }
                            if let Actor::User { user_id, .. } = actor {
                                assert!(c.side_of(user_id).is_some());
                            }
                        }
                        Err(_) => assert_eq!(
                            apply(&c, actor, cmd, now).map(|_| ()),
                            apply(&c, actor, cmd, now).map(|_| ())
                        ),
                    }
                }
            }
        }
    }
    assert!(successes > 20, "only {successes} transitions succeeded");
}
