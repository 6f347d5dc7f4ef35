//! The call state machine: `(call, actor, command, now) -> (next call, effects)`.
//!
//! Sans-IO in the str0m manner: it never reads a clock, never awaits, never
//! touches a socket or the store. The driver (`call::service`) persists the
//! returned row with a conditional update and then performs the effects.

use smallvec::{SmallVec, smallvec};

use crate::model::{Call, CallStatus, EndReason, Millis, ParticipantType, Party, Side, whole_seconds};

/// Who asks for a transition.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// A participant, from a socket session (`session`) or REST (`None`).
    User { user_id: &'a str, session: Option<&'a str> },
    /// The server itself: timers, sweepers, connection tracking.
    System,
}

/// What can happen to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Accept,
    Decline,
    Cancel,
    End,
    /// The ring window passed (`ring_deadline <= now`).
    RingTimeout,
    /// The reconnect grace passed (`grace_deadline <= now`).
    GraceExpired,
    /// A participant of an ACTIVE call lost every socket (or the server
    /// restarted): the call ends at `now + grace_ms` unless they come back.
    ParticipantLost {
        grace_ms: Millis,
        reason: EndReason,
    },
    /// A participant's media stopped at `since` (the last packet): the call
    /// ends `grace_ms` after that unless media comes back. The grace of a
    /// loss that began earlier (a dropped socket) is never extended.
    MediaLost {
        grace_ms: Millis,
        since: Millis,
    },
    /// The participants are connected again: the grace deadline is lifted.
    ParticipantBack,
    /// Every socket of the caller dropped while the call rang.
    CallerVanished,
    /// Media failed: the call ends as FAILED.
    Fail {
        reason: EndReason,
    },
}

/// What a participant's devices are told after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Accepted,
    AnsweredElsewhere,
    Declined,
    Cancelled,
    Missed,
    Ended,
}

/// Work the driver does after the row is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Tell `side`'s devices, all but `except_session`.
    Notify {
        side: Side,
        except_session: Option<String>,
        kind: NoticeKind,
    },
    StopRingTimer,
    StartGraceTimer {
        deadline: Millis,
    },
    StopGraceTimer,
    /// The call is final: free both participants' lines.
    Release,
}

pub type Effects = SmallVec<[Effect; 4]>;

/// A transition to persist: `call` replaces the row whose version is
/// `call.version - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub call: Call,
    pub effects: Effects,
}

/// Why a command does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    #[error("not a participant of this call")]
    NotParticipant,
    #[error("only the callee may do this")]
    NotCallee,
    #[error("only the caller may do this")]
    NotCaller,
    #[error("the call was already answered")]
    AlreadyAnswered,
    #[error("the call is not ringing")]
    NotRinging,
    #[error("the call is not active")]
    NotActive,
    #[error("the call has ended")]
    Ended,
    #[error("the deadline has not passed")]
    NotDue,
    #[error("only the server may do this")]
    SystemOnly,
    #[error("a participant cannot call themselves")]
    SelfCall,
    #[error("customers may only call agents")]
    NotAllowed,
}

/// Checks who may call whom. Cross-tenant calls never get here: the callee
/// lookup is scoped to the caller's tenant.
pub fn check_start(caller: &Party, callee: &Party) -> Result<(), MachineError> {
    if caller.user_id == callee.user_id {
        return Err(MachineError::SelfCall);
    }
    if caller.kind == ParticipantType::PortalCustomer && callee.kind == ParticipantType::PortalCustomer {
        return Err(MachineError::NotAllowed);
    }
    Ok(())
}

/// The room name the CRM clients expect: `call-{callerId}-{calleeId}-{unixMillis}`.
pub fn room_name(caller_id: &str, callee_id: &str, now: Millis) -> String {
    format!("call-{caller_id}-{callee_id}-{now}")
}

/// Everything needed to open a call row.
#[derive(Clone, Debug)]
pub struct NewCall {
    pub id: String,
    pub tenant_id: String,
    pub caller: Party,
    pub callee: Party,
    pub caller_name: Option<String>,
    pub callee_name: Option<String>,
    pub caller_session: Option<String>,
    pub record: bool,
    pub node_id: String,
}

/// A RINGING call that becomes MISSED at `now + ring_timeout_ms`.
pub fn ringing(new: NewCall, now: Millis, ring_timeout_ms: Millis) -> Call {
    base(new, now, CallStatus::Ringing, Some(now + ring_timeout_ms))
}

/// A call that found the callee busy: final at once, kept for the history.
pub fn busy(new: NewCall, now: Millis) -> Call {
    let mut call = base(new, now, CallStatus::Busy, None);
    call.ended_at = Some(now);
    call.end_reason = Some(EndReason::CalleeBusy);
    call
}

/// The version of a call's first row (each transition adds one).
pub const FIRST_VERSION: i64 = 0;

fn base(new: NewCall, now: Millis, status: CallStatus, ring_deadline: Option<Millis>) -> Call {
    Call {
        room_name: room_name(&new.caller.user_id, &new.callee.user_id, now),
        id: new.id,
        tenant_id: new.tenant_id,
        caller: new.caller,
        callee: new.callee,
        caller_name: new.caller_name,
        status,
        started_at: now,
        answered_at: None,
        ended_at: None,
        duration: 0,
        end_reason: None,
        ended_by: None,
        ring_deadline,
        grace_deadline: None,
        grace_reason: None,
        grace_since: None,
        caller_session: new.caller_session,
        callee_session: None,
        record: new.record,
        recording_path: None,
        recording_bytes: None,
        recording_error: None,
        callee_name: new.callee_name,
        node_id: new.node_id,
        version: FIRST_VERSION,
        phone: None,
    }
}

/// Applies `cmd` by `actor` to `call` at `now`.
pub fn apply(call: &Call, actor: Actor<'_>, cmd: Command, now: Millis) -> Result<Transition, MachineError> {
    let side = match actor {
        Actor::User { user_id, .. } => Some(call.side_of(user_id).ok_or(MachineError::NotParticipant)?),
        Actor::System => None,
    };
    let by = match actor {
        Actor::User { user_id, .. } => Some(user_id),
        Actor::System => None,
    };
    match cmd {
        Command::Accept => {
            require_side(side, Side::Callee, MachineError::NotCallee)?;
            match call.status {
                CallStatus::Ringing if call.ring_deadline.is_some_and(|d| now >= d) => Err(MachineError::Ended),
                CallStatus::Ringing => {
                    let session = match actor {
                        Actor::User { session, .. } => session.map(str::to_owned),
                        Actor::System => None,
                    };
                    let mut next = step(call);
                    next.status = CallStatus::Active;
                    next.answered_at = Some(now);
                    next.ring_deadline = None;
                    next.callee_session = session.clone();
                    Ok(Transition {
                        call: next,
                        effects: smallvec![
                            Effect::StopRingTimer,
                            notify(Side::Caller, NoticeKind::Accepted),
                            Effect::Notify {
                                side: Side::Callee,
                                except_session: session,
                                kind: NoticeKind::AnsweredElsewhere,
                            },
                        ],
                    })
                }
                _ if call.answered_at.is_some() => Err(MachineError::AlreadyAnswered),
                _ => Err(MachineError::Ended),
            }
        }
        Command::Decline => {
            require_side(side, Side::Callee, MachineError::NotCallee)?;
            ring_only(call)?;
            Ok(finish_unanswered(
                call,
                CallStatus::Declined,
                EndReason::Declined,
                by,
                now,
                NoticeKind::Declined,
            ))
        }
        Command::Cancel => {
            require_side(side, Side::Caller, MachineError::NotCaller)?;
            ring_only(call)?;
            Ok(finish_unanswered(
                call,
                CallStatus::Cancelled,
                EndReason::Cancelled,
                by,
                now,
                NoticeKind::Cancelled,
            ))
        }
        Command::End => {
            let side = side.ok_or(MachineError::NotParticipant)?;
            match (call.status, side) {
                (CallStatus::Ringing, Side::Caller) => apply(call, actor, Command::Cancel, now),
                (CallStatus::Ringing, Side::Callee) => apply(call, actor, Command::Decline, now),
                (CallStatus::Active, _) => Ok(finish_answered(call, CallStatus::Completed, EndReason::Hangup, by, now)),
                _ => Err(MachineError::Ended),
            }
        }
        Command::RingTimeout => {
            system_only(side)?;
            ring_only(call)?;
            if call.ring_deadline.is_none_or(|d| now < d) {
                return Err(MachineError::NotDue);
            }
            Ok(finish_unanswered(
                call,
                CallStatus::Missed,
                EndReason::RingTimeout,
                None,
                now,
                NoticeKind::Missed,
            ))
        }
        Command::CallerVanished => {
            system_only(side)?;
            ring_only(call)?;
            Ok(finish_unanswered(
                call,
                CallStatus::Cancelled,
                EndReason::CallerDisconnected,
                None,
                now,
                NoticeKind::Cancelled,
            ))
        }
        Command::GraceExpired => {
            system_only(side)?;
            active_only(call)?;
            match call.grace_deadline {
                Some(d) if now >= d => {
                    let reason = call.grace_reason.unwrap_or(EndReason::ConnectionLost);
                    // The call stopped when the participant was lost, not when we gave up on them.
                    let ended = call.grace_since.map_or(now, |since| since.min(now));
                    // Media that never came back is a failed call; a lost connection ends it.
                    let status = match reason {
                        EndReason::MediaFailed => CallStatus::Failed,
                        _ => CallStatus::Completed,
                    };
                    Ok(finish_answered(call, status, reason, None, ended))
                }
                _ => Err(MachineError::NotDue),
            }
        }
        Command::ParticipantLost { grace_ms, reason } => {
            system_only(side)?;
            active_only(call)?;
            let deadline = now + grace_ms;
            let mut next = step(call);
            // A second loss never extends the first one's deadline.
            let (deadline, reason) = match (call.grace_deadline, call.grace_reason) {
                (Some(d), Some(r)) if d <= deadline => (d, r),
                _ => (deadline, reason),
            };
            let since = call.grace_since.unwrap_or(now);
            next.grace_deadline = Some(deadline);
            next.grace_reason = Some(reason);
            next.grace_since = Some(since);
            Ok(Transition {
                call: next,
                effects: smallvec![Effect::StartGraceTimer { deadline }],
            })
        }
        Command::MediaLost { grace_ms, since } => {
            system_only(side)?;
            active_only(call)?;
            let since = since.min(now);
            let mut next = step(call);
            // Already in grace (a socket dropped, often with its media): that
            // loss's deadline and reason stand; the call still ends at the
            // earliest moment anything was lost.
            let (deadline, reason) = match (call.grace_deadline, call.grace_reason) {
                (Some(d), Some(r)) => (d, r),
                _ => (since + grace_ms, EndReason::MediaFailed),
            };
            next.grace_deadline = Some(deadline);
            next.grace_reason = Some(reason);
            next.grace_since = Some(call.grace_since.map_or(since, |s| s.min(since)));
            Ok(Transition {
                call: next,
                effects: smallvec![Effect::StartGraceTimer { deadline }],
            })
        }
        Command::ParticipantBack => {
            system_only(side)?;
            active_only(call)?;
            let mut next = step(call);
            next.grace_deadline = None;
            next.grace_reason = None;
            next.grace_since = None;
            Ok(Transition {
                call: next,
                effects: smallvec![Effect::StopGraceTimer],
            })
        }
        Command::Fail { reason } => {
            system_only(side)?;
            match call.status {
                CallStatus::Ringing | CallStatus::Active => {
                    let mut t = finish_answered(call, CallStatus::Failed, reason, None, now);
                    t.effects.insert(0, Effect::StopRingTimer);
                    Ok(t)
                }
                _ => Err(MachineError::Ended),
            }
        }
    }
}

fn require_side(side: Option<Side>, want: Side, err: MachineError) -> Result<(), MachineError> {
    match side {
        Some(s) if s == want => Ok(()),
        Some(_) => Err(err),
        None => Err(MachineError::NotParticipant),
    }
}

fn system_only(side: Option<Side>) -> Result<(), MachineError> {
    match side {
        None => Ok(()),
        Some(_) => Err(MachineError::SystemOnly),
    }
}

fn ring_only(call: &Call) -> Result<(), MachineError> {
    match call.status {
        CallStatus::Ringing => Ok(()),
        CallStatus::Active => Err(MachineError::NotRinging),
        _ => Err(MachineError::Ended),
    }
}

fn active_only(call: &Call) -> Result<(), MachineError> {
    match call.status {
        CallStatus::Active => Ok(()),
        CallStatus::Ringing => Err(MachineError::NotActive),
        _ => Err(MachineError::Ended),
    }
}

fn notify(side: Side, kind: NoticeKind) -> Effect {
    Effect::Notify {
        side,
        except_session: None,
        kind,
    }
}

fn step(call: &Call) -> Call {
    let mut next = call.clone();
    next.version += 1;
    next
}

/// The call's next version, final with `status` at `now`.
fn ended(call: &Call, status: CallStatus, reason: EndReason, by: Option<&str>, now: Millis) -> Call {
    let mut next = step(call);
    next.status = status;
    next.ended_at = Some(now);
    next.end_reason = Some(reason);
    next.ended_by = by.map(str::to_owned);
    next.ring_deadline = None;
    next.grace_deadline = None;
    next.grace_reason = None;
    next.grace_since = None;
    next
}

fn finish_unanswered(
    call: &Call,
    status: CallStatus,
    reason: EndReason,
    by: Option<&str>,
    now: Millis,
    kind: NoticeKind,
) -> Transition {
    let mut next = ended(call, status, reason, by, now);
    next.duration = 0;
    Transition {
        call: next,
        effects: smallvec![
            Effect::StopRingTimer,
            notify(Side::Caller, kind),
            notify(Side::Callee, kind),
            Effect::Release,
        ],
    }
}

fn finish_answered(call: &Call, status: CallStatus, reason: EndReason, by: Option<&str>, now: Millis) -> Transition {
    let mut next = ended(call, status, reason, by, now);
    next.duration = call.answered_at.map_or(0, |a| whole_seconds(a, now));
    Transition {
        call: next,
        effects: smallvec![
            Effect::StopGraceTimer,
            notify(Side::Caller, NoticeKind::Ended),
            notify(Side::Callee, NoticeKind::Ended),
            Effect::Release,
        ],
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
