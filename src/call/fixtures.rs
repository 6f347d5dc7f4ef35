//! Test fixtures of the call layer: a customer calling an agent, at a hand-made time.

use super::machine::{self, NewCall};
use crate::model::{Call, Millis, ParticipantType, Party};

/// The fixtures' clock: when the call was placed.
pub const T0: Millis = 1_700_000_000_000;
/// The fixtures' ring window.
pub const RING: Millis = 30_000;

pub fn party(id: &str, kind: ParticipantType) -> Party {
    Party {
        user_id: id.into(),
        kind,
    }
}

/// Customer `cust` (Ann, session `s-caller`) calls agent `agent` (Bob) in tenant `t1`.
pub fn new_call() -> NewCall {
    NewCall {
        id: "0190-call".into(),
        tenant_id: "t1".into(),
        caller: party("cust", ParticipantType::PortalCustomer),
        callee: party("agent", ParticipantType::CrmUser),
        caller_name: Some("Ann".into()),
        callee_name: Some("Bob".into()),
        caller_session: Some("s-caller".into()),
        record: false,
        node_id: "n1".into(),
    }
}

/// That call, ringing since `T0`.
pub fn ringing() -> Call {
    machine::ringing(new_call(), T0, RING)
}
