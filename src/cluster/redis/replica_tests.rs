//! Tests of the presence replica: ordering by version, offline entries, reloads.

use super::*;

fn state(members: &[(&str, u32)], away: bool, in_call: bool) -> UserState {
    UserState {
        members: members.iter().map(|(m, n)| ((*m).to_owned(), *n)).collect(),
        profile: Some(r#"{"k":"CRM_USER","f":"Ada"}"#.into()),
        away,
        in_call,
    }
}

#[test]
fn the_newest_state_wins_whatever_order_they_arrive_in() {
    let r = Replica::default();
    let a = r
        .apply("t", "u", 5, Some(state(&[("A.1", 1)], false, false)), None, 0)
        .unwrap();
    assert_eq!(
        (a.before, a.after),
        (PresenceStatus::Offline, PresenceStatus::Available)
    );
    assert_eq!(a.identity.first_name.as_deref(), Some("Ada"));
    // Offline at 7, then the older 6 arrives late: still offline.
    r.apply("t", "u", 7, None, None, 1).unwrap();
    assert!(
        r.apply("t", "u", 6, Some(state(&[("A.1", 2)], false, false)), None, 2)
            .is_none()
    );
    assert_eq!(r.status_of("t", "u"), PresenceStatus::Offline);
    assert!(r.identity("t", "u").is_none(), "offline users have no live identity");
    // A newer one brings them back, busy.
    r.apply("t", "u", 8, Some(state(&[("B.1", 1)], false, true)), None, 3)
        .unwrap();
    assert_eq!(r.status_of("t", "u"), PresenceStatus::Busy);
}

#[test]
fn agents_are_listed_across_members_and_customers_are_not() {
    let r = Replica::default();
    r.apply("t", "a", 1, Some(state(&[("A.1", 1)], false, false)), None, 0);
    r.apply("t", "b", 2, Some(state(&[("B.1", 1)], false, false)), None, 0);
    r.apply("t", "c", 3, Some(state(&[("B.1", 1)], true, false)), None, 0);
    let mut cust = state(&[("B.1", 1)], false, false);
    cust.profile = Some(r#"{"k":"PORTAL_CUSTOMER"}"#.into());
    r.apply("t", "d", 4, Some(cust), None, 0);
    r.apply("other", "e", 5, Some(state(&[("A.1", 1)], false, false)), None, 0);
    let ids: Vec<_> = r
        .available_agents("t")
        .into_iter()
        .map(|a| a.supabase_user_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn a_local_edit_is_overridden_by_the_next_confirmed_state() {
    let r = Replica::default();
    let id = Arc::new(identity_of("t", "u", &serde_json::from_str(r#"{"k":"CRM_USER"}"#).unwrap()).unwrap());
    let a = r
        .edit("t", "u", Some(&id), |e| e.members.push(("A.1".into(), 1)), 0)
        .unwrap();
    assert_eq!(a.after, PresenceStatus::Available);
    // Unconfirmed (version 0): any state replaces it, even an old one.
    r.apply("t", "u", 3, Some(state(&[("A.1", 1)], true, false)), None, 0);
    assert_eq!(r.status_of("t", "u"), PresenceStatus::Away);
    // Editing a user not held, without an identity, does nothing.
    assert!(r.edit("t", "ghost", None, |e| e.in_call = true, 0).is_none());
}

#[test]
fn prune_forgets_only_long_offline_users() {
    let r = Replica::default();
    r.apply(
        "t",
        "gone",
        1,
        None,
        Some(&Arc::new(
            identity_of("t", "gone", &serde_json::from_str(r#"{"k":"CRM_USER"}"#).unwrap()).unwrap(),
        )),
        0,
    );
    r.apply("t", "here", 2, Some(state(&[("A.1", 1)], false, false)), None, 0);
    r.prune(OFFLINE_KEPT_MS - 1);
    assert!(r.get("t", "gone").is_some());
    r.prune(OFFLINE_KEPT_MS + 1);
    assert!(r.get("t", "gone").is_none());
    assert!(r.get("t", "here").is_some());
}

#[test]
fn a_reload_replaces_versions_and_reports_who_changed() {
    let r = Replica::default();
    r.apply("t", "stays", 100, Some(state(&[("A.1", 1)], false, false)), None, 0);
    r.apply("t", "left", 101, Some(state(&[("B.1", 1)], false, false)), None, 0);
    // Redis restarted: its counter is back at 3; "left" is not in it any more, "new" is.
    let changed = r.reload(
        vec![
            ("t".into(), "stays".into(), state(&[("A.1", 1)], false, false)),
            ("t".into(), "new".into(), state(&[("A.2", 1)], false, false)),
        ],
        3,
        10,
    );
    let mut who: Vec<_> = changed
        .iter()
        .map(|(_, a)| (a.identity.user_id.to_string(), a.after))
        .collect();
    who.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        who,
        [
            ("left".to_owned(), PresenceStatus::Offline),
            ("new".to_owned(), PresenceStatus::Available)
        ]
    );
    // States after the restart (version 4 > 3) apply again.
    assert!(r.apply("t", "stays", 4, None, None, 11).is_some());
    assert_eq!(r.status_of("t", "stays"), PresenceStatus::Offline);
}
