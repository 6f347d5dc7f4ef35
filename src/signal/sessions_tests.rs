//! Tests of this node's socket table: adding and removing, delivery and slow consumers.

use super::*;

fn session(id: SessionId, cap: usize) -> (SessionHandle, flume::Receiver<Outbound>, CancellationToken) {
    let (tx, rx) = flume::bounded(cap);
    let kill = CancellationToken::new();
    (SessionHandle::new(id, tx, kill.clone(), false), rx, kill)
}

fn frame(s: &str) -> Outbound {
    Outbound::from(s.to_owned())
}

fn add(r: &Sessions, tenant: &str, user: &str, h: SessionHandle) {
    r.add(&Arc::from(tenant), &Arc::from(user), h);
}

/// The text of the next queued item (a single frame).
fn next_text(rx: &flume::Receiver<Outbound>) -> String {
    match rx.try_recv().expect("a queued frame") {
        Outbound::One(f) => f.as_str().to_owned(),
        Outbound::Batch(_) => panic!("expected a single frame"),
    }
}

#[test]
fn sockets_are_counted_and_removed_once() {
    let r = Sessions::default();
    let (h1, _rx1, _) = session(1, 8);
    let (h2, _rx2, _) = session(2, 8);
    add(&r, "t1", "agent", h1);
    add(&r, "t1", "agent", h2);
    assert_eq!(r.session_count(), 2);
    assert!(r.remove("t1", "agent", 1));
    assert!(!r.remove("t1", "agent", 1), "removed once");
    assert!(!r.remove("t1", "agent", 99), "unknown session");
    assert!(!r.remove("t9", "agent", 2), "unknown tenant");
    assert!(r.remove("t1", "agent", 2));
    assert_eq!(r.session_count(), 0);
}

#[test]
fn delivery_targets_users_sessions_and_tenants() {
    let r = Sessions::default();
    let (h1, rx1, _) = session(1, 8);
    let (h2, rx2, _) = session(2, 8);
    let (h3, rx3, _) = session(3, 8);
    let (h4, rx4, _) = session(4, 8);
    add(&r, "t1", "agent", h1);
    add(&r, "t1", "agent", h2);
    add(&r, "t1", "cust", h3);
    add(&r, "t2", "x", h4);

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
    let r = Sessions::default();
    let (slow, _rx_slow, kill_slow) = session(1, 2);
    let (fast, rx_fast, kill_fast) = session(2, 64);
    add(&r, "t1", "agent", slow);
    add(&r, "t1", "agent", fast);
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
fn a_batch_takes_one_slot_of_a_session_queue() {
    let r = Sessions::default();
    let (h, rx, kill) = session(1, 2);
    add(&r, "t1", "agent", h);
    let batch = Outbound::Batch((0..50).map(|i| i.to_string().into()).collect::<Vec<_>>().into());
    assert_eq!(r.broadcast("t1", &batch), 1);
    assert_eq!(r.broadcast("t1", &batch), 1);
    assert!(!kill.is_cancelled(), "100 frames in two items fit a queue of two");
    assert_eq!(rx.try_recv().unwrap().frames().len(), 50);
}

#[test]
fn an_admin_broadcast_reaches_only_the_tenants_admin_sessions() {
    let r = Sessions::default();
    let (tx_a, rx_a) = flume::bounded(8);
    let (tx_b, rx_b) = flume::bounded(8);
    let (tx_other, rx_other) = flume::bounded(8);
    let (member, rx_member, _) = session(4, 8);
    add(
        &r,
        "t1",
        "ada",
        SessionHandle::new(1, tx_a, CancellationToken::new(), true),
    );
    add(
        &r,
        "t1",
        "bea",
        SessionHandle::new(2, tx_b, CancellationToken::new(), true),
    );
    add(
        &r,
        "t2",
        "eve",
        SessionHandle::new(3, tx_other, CancellationToken::new(), true),
    );
    add(&r, "t1", "bo", member);
    assert_eq!(r.broadcast_admins("t1", &frame("f")), 2);
    assert_eq!((next_text(&rx_a), next_text(&rx_b)), ("f".into(), "f".into()));
    assert!(rx_member.try_recv().is_err(), "a member is not told");
    assert!(rx_other.try_recv().is_err(), "another tenant's admin is not told");
    assert_eq!(r.broadcast_admins("t9", &frame("f")), 0);
}
