//! One local day's ended calls tallied per member (each CRM user on a call) and for the org (each call once).
//!
//! Rules (docs/metrics.md): a call counts on the day it started; only ended
//! calls count; `inbound` is a call to the member (for the org: from a
//! customer or an outside number), `outbound` one they placed; `answered`
//! means it was answered; `missed` is an inbound call nobody answered that
//! rang out or that the caller gave up on (declined, busy and failed calls
//! count in `total` only); talk time is the answered calls' duration.

use std::collections::BTreeMap;

use crate::model::{Call, CallStatus, Direction, ParticipantType};

/// The user id of the org's own row (every call once).
pub const ORG_ROW: &str = "*";

/// One (member or org) day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub user_id: String,
    pub total: i64,
    pub inbound: i64,
    pub outbound: i64,
    pub answered: i64,
    pub missed: i64,
    pub talk_seconds: i64,
}

impl Tally {
    fn add(&mut self, direction: Direction, call: &Call) {
        let answered = call.answered_at.is_some();
        self.total += 1;
        match direction {
            Direction::Inbound => self.inbound += 1,
            Direction::Outbound => self.outbound += 1,
        }
        if answered {
            self.answered += 1;
            self.talk_seconds += call.duration.max(0);
        } else if direction == Direction::Inbound && matches!(call.status, CallStatus::Missed | CallStatus::Cancelled) {
            self.missed += 1;
        }
    }
}

/// The direction of `call` as its `member` saw it.
fn direction_for(call: &Call, member_is_caller: bool) -> Direction {
    match &call.phone {
        Some(leg) => leg.direction,
        None if member_is_caller => Direction::Outbound,
        None => Direction::Inbound,
    }
}

/// The org's view: a phone call's own direction; an in-app call is inbound when a customer placed it.
fn org_direction(call: &Call) -> Direction {
    match &call.phone {
        Some(leg) => leg.direction,
        None if call.caller.kind == ParticipantType::CrmUser => Direction::Outbound,
        None => Direction::Inbound,
    }
}

/// The day's rows: one per member on any of `calls`, and the org's ([`ORG_ROW`]) when there was any call. Open calls are left out.
pub fn tally(calls: &[Call]) -> Vec<Tally> {
    let mut members: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut org = Tally {
        user_id: ORG_ROW.into(),
        ..Tally::default()
    };
    for call in calls.iter().filter(|c| c.ended_at.is_some()) {
        org.add(org_direction(call), call);
        let sides = [(&call.caller, true), (&call.callee, false)];
        for (party, is_caller) in sides {
            if party.kind != ParticipantType::CrmUser {
                continue;
            }
            // A member calling themselves is one call, not two.
            if !is_caller && call.caller.kind == ParticipantType::CrmUser && call.caller.user_id == party.user_id {
                continue;
            }
            members
                .entry(party.user_id.as_str())
                .or_insert_with(|| Tally {
                    user_id: party.user_id.clone(),
                    ..Tally::default()
                })
                .add(direction_for(call, is_caller), call);
        }
    }
    let mut out: Vec<Tally> = members.into_values().collect();
    if org.total > 0 {
        out.push(org);
    }
    out
}

#[cfg(test)]
#[path = "tally_tests.rs"]
mod tests;
