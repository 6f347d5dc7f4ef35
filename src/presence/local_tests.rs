//! Tests of one node's presence: sessions, statuses, availability, calls.

use super::*;

fn ident(tenant: &str, user: &str, kind: ParticipantType) -> Arc<Identity> {
    Arc::new(Identity {
        user_id: user.into(),
        tenant_id: tenant.into(),
        kind,
        first_name: Some(user.to_uppercase()),
        last_name: None,
        email: None,
        role: None,
    })
}

#[test]
fn agent_presence_follows_sessions_availability_and_calls() {
    let r = LocalPresence::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);

    let before = r.open(&a, 1);
    assert_eq!(before, PresenceStatus::Offline);
    assert_eq!(r.change_since(&a, before).map(|p| p.agent.status), Some("available"));
    assert_eq!(r.available_agents("t1").len(), 1);
    assert_eq!(r.available_agents("t2").len(), 0);

    let before = r.open(&a, 2);
    assert_ne!(before, PresenceStatus::Offline, "not the first session");
    assert_eq!(
        r.change_since(&a, before),
        None,
        "second device changes nothing visible"
    );

    assert_eq!(
        r.set_availability(&a, Availability::Away).map(|p| p.agent.status),
        Some("away")
    );
    assert!(r.available_agents("t1").is_empty());
    assert_eq!(r.set_availability(&a, Availability::Away), None);
    assert_eq!(
        r.set_availability(&a, Availability::Available).map(|p| p.agent.status),
        Some("available")
    );

    assert_eq!(r.set_in_call("t1", "agent", true).map(|p| p.agent.status), Some("busy"));
    assert!(r.available_agents("t1").is_empty());
    assert_eq!(
        r.set_in_call("t1", "agent", false).map(|p| p.agent.status),
        Some("available")
    );

    let d = r.close(&a, 1);
    assert!(!d.edge);
    assert_eq!(d.presence, None);
    let d = r.close(&a, 2);
    assert!(d.edge);
    assert_eq!(d.presence.map(|p| p.agent.status), Some("offline"));
    assert!(!r.is_online("t1", "agent"));
    // Unknown session: nothing happens.
    assert!(!r.close(&a, 99).edge);
}

#[test]
fn customers_never_produce_presence() {
    let r = LocalPresence::default();
    let c = ident("t1", "cust", ParticipantType::PortalCustomer);
    let before = r.open(&c, 1);
    assert_eq!(before, PresenceStatus::Offline);
    assert_eq!(r.change_since(&c, before), None);
    assert!(r.available_agents("t1").is_empty());
    assert!(r.is_online("t1", "cust"));
    assert_eq!(r.close(&c, 1).presence, None);
}

#[test]
fn connecting_during_a_call_shows_busy() {
    let r = LocalPresence::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let before = r.open(&a, 1);
    r.set_in_call("t1", "agent", true);
    assert_eq!(r.change_since(&a, before).map(|p| p.agent.status), Some("busy"));
}

#[test]
fn available_agents_are_sorted_and_carry_profile() {
    let r = LocalPresence::default();
    for (i, name) in ["zed", "amy", "bob"].iter().enumerate() {
        r.open(&ident("t1", name, ParticipantType::CrmUser), i as u64);
    }
    let names: Vec<_> = r
        .available_agents("t1")
        .into_iter()
        .map(|a| a.first_name.unwrap())
        .collect();
    assert_eq!(names, ["AMY", "BOB", "ZED"]);
}

#[test]
fn the_last_session_is_the_edge_even_when_closes_interleave() {
    let r = LocalPresence::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    r.open(&a, 1);
    r.open(&a, 2);
    assert!(!r.close(&a, 2).edge);
    assert!(!r.close(&a, 2).edge, "a second close of one session is not the edge");
    assert!(r.is_online("t1", "agent"));
    assert!(r.close(&a, 1).edge);
    assert!(!r.is_online("t1", "agent"));
    assert_eq!(r.status_of("t1", "agent"), PresenceStatus::Offline);
}
