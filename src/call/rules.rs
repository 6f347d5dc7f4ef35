//! The call decisions the driver used to make inline, as pure functions beside the machine: no IO, no clock.
//!
//! What a returning session is shown, what a vanished user's call does,
//! what a restarted node does with its open calls, and when a refused start
//! is glare. Each takes the row (and the time where it matters) and answers;
//! the driver performs the answer.

use super::machine::Command;
use crate::model::{Call, CallStatus, EndReason, Millis, Party, Side};

/// What a user's new session is told about their open call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Welcome {
    /// It rings for them (callee) and its ring window is still open.
    Ringing,
    /// They placed it and it rings, or it is ACTIVE: they are in it, on `side`.
    InCall { side: Side, returning: bool },
    /// Nothing to show (not a participant, or a ring window that passed).
    Nothing,
}

/// What a user's new session learns of `call` at `now`. `returning`: the call
/// is ACTIVE and in its reconnect grace (the user may be what it waits for).
pub fn welcome(call: &Call, user_id: &str, now: Millis) -> Welcome {
    match (call.status, call.side_of(user_id)) {
        (CallStatus::Ringing, Some(Side::Callee)) if call.ring_deadline.is_some_and(|d| d > now) => Welcome::Ringing,
        (CallStatus::Ringing, Some(Side::Caller)) => Welcome::InCall {
            side: Side::Caller,
            returning: false,
        },
        (CallStatus::Active, Some(side)) => Welcome::InCall {
            side,
            returning: call.grace_deadline.is_some(),
        },
        _ => Welcome::Nothing,
    }
}

/// The command for `call` once `user_id`'s last session (anywhere) closed:
/// a ringing caller cancels, an active participant starts the reconnect grace.
pub fn went_offline(call: &Call, user_id: &str, grace_ms: Millis) -> Option<Command> {
    match (call.status, call.side_of(user_id)) {
        (CallStatus::Ringing, Some(Side::Caller)) => Some(Command::CallerVanished),
        (CallStatus::Active, Some(_)) => Some(Command::ParticipantLost {
            grace_ms,
            reason: EndReason::ConnectionLost,
        }),
        _ => None,
    }
}

/// What a restarted node does with an open call it created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRestart {
    /// An ACTIVE call not yet in grace: start the grace (`server_restart`).
    Run(Command),
    /// A deadline is already set: arm the timer for it.
    Arm {
        deadline: Millis,
        cmd: Command,
    },
    Nothing,
}

/// The restart action for `call`.
pub fn after_restart(call: &Call, grace_ms: Millis) -> AfterRestart {
    match (call.status, call.grace_deadline, call.ring_deadline) {
        (CallStatus::Active, None, _) => AfterRestart::Run(Command::ParticipantLost {
            grace_ms,
            reason: EndReason::ServerRestart,
        }),
        (CallStatus::Active, Some(deadline), _) => AfterRestart::Arm {
            deadline,
            cmd: Command::GraceExpired,
        },
        (CallStatus::Ringing, _, Some(deadline)) => AfterRestart::Arm {
            deadline,
            cmd: Command::RingTimeout,
        },
        _ => AfterRestart::Nothing,
    }
}

/// What a node does with an open call it took over from a dead member:
/// an ACTIVE call with a participant offline everywhere gets the grace
/// (`connection_lost`: their connection went with the node); deadlines
/// already set get their timers; a call whose participants are all still
/// connected (to other nodes) just goes on.
pub fn after_claim(call: &Call, caller_online: bool, callee_online: bool, grace_ms: Millis) -> AfterRestart {
    match (call.status, call.grace_deadline, call.ring_deadline) {
        (CallStatus::Active, None, _) if !(caller_online && callee_online) => {
            AfterRestart::Run(Command::ParticipantLost {
                grace_ms,
                reason: EndReason::ConnectionLost,
            })
        }
        (CallStatus::Active, None, _) => AfterRestart::Nothing,
        _ => after_restart(call, grace_ms),
    }
}

/// Whether `held` (the open call holding the caller's line) is the callee
/// calling the caller back while it still rings: then `from` accepts it.
pub fn is_glare(held: &Call, from: &Party, to: &Party) -> bool {
    held.status == CallStatus::Ringing && held.caller.user_id == to.user_id && held.callee.user_id == from.user_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::fixtures::{RING, T0, party, ringing};
    use crate::call::machine::{self, Actor};
    use crate::model::ParticipantType;

    const GRACE: Millis = 15_000;

    fn active() -> Call {
        let actor = Actor::User {
            user_id: "agent",
            session: None,
        };
        machine::apply(&ringing(), actor, Command::Accept, T0 + 1_000)
            .unwrap()
            .call
    }

    fn in_grace() -> Call {
        let lost = Command::ParticipantLost {
            grace_ms: GRACE,
            reason: EndReason::ConnectionLost,
        };
        machine::apply(&active(), Actor::System, lost, T0 + 2_000).unwrap().call
    }

    #[test]
    fn a_returning_callee_is_rung_only_inside_the_ring_window() {
        let c = ringing();
        assert_eq!(welcome(&c, "agent", T0 + 1), Welcome::Ringing);
        assert_eq!(welcome(&c, "agent", T0 + RING), Welcome::Nothing, "the window passed");
        assert_eq!(
            welcome(&c, "cust", T0 + RING + 5),
            Welcome::InCall {
                side: Side::Caller,
                returning: false
            }
        );
        assert_eq!(welcome(&c, "stranger", T0), Welcome::Nothing);
    }

    #[test]
    fn an_active_call_shows_to_both_and_says_when_it_waits_for_them() {
        assert_eq!(
            welcome(&active(), "agent", T0),
            Welcome::InCall {
                side: Side::Callee,
                returning: false
            }
        );
        assert_eq!(
            welcome(&in_grace(), "cust", T0),
            Welcome::InCall {
                side: Side::Caller,
                returning: true
            }
        );
        let mut ended = active();
        ended.status = CallStatus::Completed;
        assert_eq!(welcome(&ended, "cust", T0), Welcome::Nothing);
    }

    #[test]
    fn going_offline_cancels_a_ringing_callers_call_and_puts_an_active_one_in_grace() {
        assert_eq!(went_offline(&ringing(), "cust", GRACE), Some(Command::CallerVanished));
        assert_eq!(
            went_offline(&ringing(), "agent", GRACE),
            None,
            "a callee's ring goes on"
        );
        for user in ["cust", "agent"] {
            assert_eq!(
                went_offline(&active(), user, GRACE),
                Some(Command::ParticipantLost {
                    grace_ms: GRACE,
                    reason: EndReason::ConnectionLost
                })
            );
        }
        assert_eq!(went_offline(&active(), "stranger", GRACE), None);
    }

    #[test]
    fn a_restart_graces_active_calls_and_rearms_deadlines() {
        assert_eq!(
            after_restart(&active(), GRACE),
            AfterRestart::Run(Command::ParticipantLost {
                grace_ms: GRACE,
                reason: EndReason::ServerRestart
            })
        );
        let g = in_grace();
        assert_eq!(
            after_restart(&g, GRACE),
            AfterRestart::Arm {
                deadline: g.grace_deadline.unwrap(),
                cmd: Command::GraceExpired
            }
        );
        assert_eq!(
            after_restart(&ringing(), GRACE),
            AfterRestart::Arm {
                deadline: T0 + RING,
                cmd: Command::RingTimeout
            }
        );
        let mut ended = active();
        ended.status = CallStatus::Completed;
        assert_eq!(after_restart(&ended, GRACE), AfterRestart::Nothing);
    }

    #[test]
    fn glare_is_the_callee_calling_back_while_it_rings() {
        let held = ringing();
        let (cust, agent) = (held.caller.clone(), held.callee.clone());
        assert!(
            is_glare(&held, &agent, &cust),
            "the agent calls the customer who is calling them"
        );
        assert!(!is_glare(&held, &cust, &agent), "the same direction is not glare");
        assert!(!is_glare(&active(), &agent, &cust), "answered: not glare");
        assert!(!is_glare(&held, &party("other", ParticipantType::CrmUser), &cust));
    }

    #[test]
    fn a_claimed_call_gets_the_grace_only_when_someone_is_gone() {
        use crate::call::fixtures;
        let mut c = fixtures::ringing();
        c.status = CallStatus::Active;
        c.ring_deadline = None;
        c.grace_deadline = None;
        assert_eq!(after_claim(&c, true, true, 10), AfterRestart::Nothing);
        for (a, b) in [(false, true), (true, false), (false, false)] {
            assert_eq!(
                after_claim(&c, a, b, 10),
                AfterRestart::Run(Command::ParticipantLost {
                    grace_ms: 10,
                    reason: EndReason::ConnectionLost
                })
            );
        }
        c.grace_deadline = Some(99);
        assert_eq!(
            after_claim(&c, false, false, 10),
            AfterRestart::Arm {
                deadline: 99,
                cmd: Command::GraceExpired
            }
        );
        let mut r = fixtures::ringing();
        r.status = CallStatus::Ringing;
        r.ring_deadline = Some(5);
        assert_eq!(
            after_claim(&r, true, false, 10),
            AfterRestart::Arm {
                deadline: 5,
                cmd: Command::RingTimeout
            }
        );
        r.status = CallStatus::Missed;
        assert_eq!(after_claim(&r, true, true, 10), AfterRestart::Nothing);
    }
}
