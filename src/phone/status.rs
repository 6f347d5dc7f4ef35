//! Twilio's call statuses mapped onto the CallLog's, and the rule that a status callback never moves a call backwards.
//!
//! Twilio's `CallStatus` (status callbacks and the Calls API): `queued`,
//! `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `failed`,
//! `no-answer`, `canceled`. Callbacks can arrive repeated and out of order
//! (Twilio retries, and the events of one call race each other), so the
//! webhook applies one only if it moves the call forward.

use crate::model::CallStatus;

/// The CallLog status for Twilio's `status`; `None` for one Twilio does not document.
pub fn from_twilio(status: &str) -> Option<CallStatus> {
    Some(match status {
        "queued" | "initiated" | "ringing" => CallStatus::Ringing,
        "in-progress" => CallStatus::Active,
        "completed" => CallStatus::Completed,
        "busy" => CallStatus::Busy,
        "failed" => CallStatus::Failed,
        "no-answer" => CallStatus::Missed,
        "canceled" => CallStatus::Cancelled,
        _ => return None,
    })
}

/// How far along a status is: open ones first, every final one last (and equal).
fn rank(s: CallStatus) -> u8 {
    match s {
        CallStatus::Ringing => 0,
        CallStatus::Active => 1,
        _ => 2,
    }
}

/// Whether a callback saying `next` may change a call that is `current`:
/// only forward, and never once the call is final (a late or repeated
/// callback changes nothing; the first final status stays).
pub fn moves_forward(current: CallStatus, next: CallStatus) -> bool {
    !current.is_final() && rank(next) > rank(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_maps_and_others_do_not() {
        let table = [
            ("queued", CallStatus::Ringing),
            ("initiated", CallStatus::Ringing),
            ("ringing", CallStatus::Ringing),
            ("in-progress", CallStatus::Active),
            ("completed", CallStatus::Completed),
            ("busy", CallStatus::Busy),
            ("failed", CallStatus::Failed),
            ("no-answer", CallStatus::Missed),
            ("canceled", CallStatus::Cancelled),
        ];
        for (t, ours) in table {
            assert_eq!(from_twilio(t), Some(ours), "{t}");
        }
        for bad in ["", "answered", "COMPLETED", "in_progress", "cancelled", "unknown"] {
            assert_eq!(from_twilio(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses_only_move_forward_and_a_final_one_stays() {
        for cur in CallStatus::ALL {
            for next in CallStatus::ALL {
                let want = match (cur, next) {
                    (CallStatus::Ringing, n) => n != CallStatus::Ringing,
                    (CallStatus::Active, n) => n.is_final(),
                    _ => false,
                };
                assert_eq!(moves_forward(cur, next), want, "{cur:?} -> {next:?}");
            }
        }
    }
}
