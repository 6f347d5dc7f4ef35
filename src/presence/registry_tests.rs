//! Tests of the presence registry: sessions, statuses, delivery and slow consumers.

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

fn session(id: SessionId, cap: usize) -> (SessionHandle, flume::Receiver<Outbound>, CancellationToken) {
    let (tx, rx) = flume::bounded(cap);
    let kill = CancellationToken::new();
    (SessionHandle::new(id, tx, kill.clone()), rx, kill)
}

fn frame(s: &str) -> Outbound {
    Outbound::from(s.to_owned())
}

/// The text of the next queued item (a single frame).
fn next_text(rx: &flume::Receiver<Outbound>) -> String {
    match rx.try_recv().expect("a queued frame") {
        Outbound::One(f) => f.as_str().to_owned(),
        Outbound::Batch(_) => panic!("expected a single frame"),
    }
}

#[test]
fn agent_presence_follows_sessions_availability_and_calls() {
    let r = Registry::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let (h1, _rx1, _) = session(1, 8);
    let (h2, _rx2, _) = session(2, 8);

    let (first, before) = r.connect(&a, h1);
    assert!(first);
    assert_eq!(before, PresenceStatus::Offline);
    assert_eq!(r.change_since(&a, before).map(|p| p.agent.status), Some("available"));
    assert_eq!(r.available_agents("t1").len(), 1);
    assert_eq!(r.available_agents("t2").len(), 0);

    let (first, before) = r.connect(&a, h2);
    assert!(!first);
    assert_eq!(
        r.change_since(&a, before),
        None,
        "second device changes nothing visible"
    );
    assert_eq!(r.session_count(), 2);

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

    let d = r.disconnect(&a, 1);
    assert!(!d.edge);
    assert_eq!(d.presence, None);
    let d = r.disconnect(&a, 2);
    assert!(d.edge);
    assert_eq!(d.presence.map(|p| p.agent.status), Some("offline"));
    assert_eq!(r.session_count(), 0);
    assert!(!r.is_online("t1", "agent"));
    // Unknown session: nothing happens.
    assert!(!r.disconnect(&a, 99).edge);
}

#[test]
fn customers_never_produce_presence() {
    let r = Registry::default();
    let c = ident("t1", "cust", ParticipantType::PortalCustomer);
    let (h, _rx, _) = session(1, 8);
    let (first, before) = r.connect(&c, h);
    assert!(first);
    assert_eq!(r.change_since(&c, before), None);
    assert!(r.available_agents("t1").is_empty());
    assert!(r.is_online("t1", "cust"));
    assert_eq!(r.disconnect(&c, 1).presence, None);
}

#[test]
fn connecting_during_a_call_shows_busy() {
    let r = Registry::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let (h, _rx, _) = session(1, 8);
    let (_, before) = r.connect(&a, h);
    r.set_in_call("t1", "agent", true);
    assert_eq!(r.change_since(&a, before).map(|p| p.agent.status), Some("busy"));
}

#[test]
fn delivery_targets_users_sessions_and_tenants() {
    let r = Registry::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let c = ident("t1", "cust", ParticipantType::PortalCustomer);
    let other = ident("t2", "x", ParticipantType::CrmUser);
    let (h1, rx1, _) = session(1, 8);
    let (h2, rx2, _) = session(2, 8);
    let (h3, rx3, _) = session(3, 8);
    let (h4, rx4, _) = session(4, 8);
    r.connect(&a, h1);
    r.connect(&a, h2);
    r.connect(&c, h3);
    r.connect(&other, h4);

    assert_eq!(r.deliver_user("t1", "agent", Some(1), &frame("x")), 1);
    assert!(rx1.try_recv().is_err());
    assert_eq!(next_text(&rx2), "x");

    assert_eq!(r.deliver_session_or_user("t1", "agent", 1, &frame("only1")), 1);
    assert_eq!(next_text(&rx1), "only1");
    assert!(rx2.try_recv().is_err());
    assert_eq!(r.deliver_session_or_user("t1", "agent", 42, &frame("gone")), 2);
    assert_eq!(r.deliver_session("t1", "agent", 42, &frame("nobody")), 0, "no fallback");
    assert_eq!(r.deliver_session("t1", "agent", 2, &frame("two")), 1);

    assert_eq!(r.broadcast("t1", &frame("p")), 3);
    assert_eq!(next_text(&rx3), "p");
    assert!(rx4.try_recv().is_err(), "other tenant must not hear it");

    assert_eq!(r.deliver_user("t1", "nobody", None, &frame("x")), 0);
    assert_eq!(r.deliver_user("t9", "agent", None, &frame("x")), 0);
    // Same user id in another tenant is another person.
    assert_eq!(r.deliver_user("t2", "agent", None, &frame("x")), 0);
}

#[test]
fn a_full_queue_kills_only_that_session() {
    let r = Registry::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let (slow, _rx_slow, kill_slow) = session(1, 2);
    let (fast, rx_fast, kill_fast) = session(2, 64);
    r.connect(&a, slow);
    r.connect(&a, fast);
    for i in 0..10 {
        r.deliver_user("t1", "agent", None, &frame(&i.to_string()));
    }
    assert!(kill_slow.is_cancelled());
    assert!(!kill_fast.is_cancelled());
    let mut got = 0;
    while rx_fast.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 10);
}

#[test]
fn available_agents_are_sorted_and_carry_profile() {
    let r = Registry::default();
    for (i, name) in ["zed", "amy", "bob"].iter().enumerate() {
        let (h, rx, _) = session(i as u64, 1);
        std::mem::forget(rx);
        r.connect(&ident("t1", name, ParticipantType::CrmUser), h);
    }
    let names: Vec<_> = r
        .available_agents("t1")
        .into_iter()
        .map(|a| a.first_name.unwrap())
        .collect();
    assert_eq!(names, ["AMY", "BOB", "ZED"]);
}

#[test]
fn a_batch_takes_one_slot_of_a_session_queue() {
    let r = Registry::default();
    let a = ident("t1", "agent", ParticipantType::CrmUser);
    let (h, rx, kill) = session(1, 2);
    r.connect(&a, h);
    let batch = Outbound::Batch((0..50).map(|i| i.to_string().into()).collect::<Vec<_>>().into());
    assert_eq!(r.broadcast("t1", &batch), 1);
    assert_eq!(r.broadcast("t1", &batch), 1);
    assert!(!kill.is_cancelled(), "100 frames in two items fit a queue of two");
    assert_eq!(rx.try_recv().unwrap().frames().len(), 50);
}
