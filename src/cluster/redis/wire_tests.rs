//! Tests of the inter-node messages and names.

use super::*;

#[test]
fn names_of_different_pairs_never_collide() {
    let k = Keys::new("sb");
    assert_ne!(k.user_channel("a:b", "c"), k.user_channel("a", "b:c"));
    assert_ne!(k.presence_key("a:b", "c"), k.presence_key("a", "b:c"));
    assert!(k.presence_key("t", "u").starts_with("sb:p:"));
    assert_eq!(k.presence_pattern(), "sb:p:*");
    // Two prefixes share nothing.
    let other = Keys::new("sb2");
    assert_ne!(k.cluster_channel(), other.cluster_channel());
    assert!(!other.presence_key("t", "u").starts_with("sb:"));
}

#[test]
fn a_message_carries_its_frames_verbatim() {
    let h = Header {
        k: "u".into(),
        o: Some("n1.abc".into()),
        t: Some("t1".into()),
        u: Some("u1".into()),
        x: Some(7),
        ..Header::default()
    };
    let f1 = r#"{"type":"call.incoming","sdp":"v=0\r\n"}"#;
    let f2 = r#"{"type":"presence"}"#;
    let msg = encode(&h, &[f1, f2]);
    let (back, rest) = decode(&msg).expect("parses");
    assert_eq!(back, h);
    assert_eq!(frames(rest).collect::<Vec<_>>(), [f1, f2]);
}

#[test]
fn a_header_alone_has_no_frames() {
    let msg = encode(
        &Header {
            k: "hb".into(),
            o: Some("m".into()),
            ..Header::default()
        },
        &[],
    );
    let (h, rest) = decode(&msg).unwrap();
    assert_eq!(h.k, "hb");
    assert_eq!(frames(rest).count(), 0);
}

#[test]
fn garbage_is_refused_without_a_panic() {
    for bad in ["", "\n", "{", "[1,2]", "{\"k\":5}", "not json\n{}", "\u{0}\u{ffff}"] {
        assert!(decode(bad).is_none(), "{bad:?}");
    }
    // A header without a kind is refused too (the kind is required).
    assert!(decode("{}").is_none());
}

#[test]
fn a_presence_hash_is_read_leniently() {
    let h: Vec<String> = [
        "n:a.1",
        "2",
        "n:b.2",
        "1",
        "n:c.3",
        "zero",
        "n:d.4",
        "0",
        "id",
        "{\"k\":\"CRM_USER\"}",
        "a",
        "away",
        "c",
        "1",
        "junk",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let s = UserState::from_hash(&h);
    assert_eq!(s.members, [("a.1".to_owned(), 2), ("b.2".to_owned(), 1)]);
    assert_eq!(s.profile.as_deref(), Some("{\"k\":\"CRM_USER\"}"));
    assert!(s.away && s.in_call && s.online());
    let empty = UserState::from_hash(&[]);
    assert!(!empty.online() && !empty.away && !empty.in_call);
}

#[test]
fn user_members_split_back() {
    let m = user_member("tenant", "user:with:colons");
    assert_eq!(parse_user_member(&m), Some(("tenant", "user:with:colons")));
    assert_eq!(parse_user_member("no newline"), None);
}

#[test]
fn the_lua_state_message_parses() {
    // What the presence script publishes (cjson's encoding of the same fields).
    let lua = r#"{"k":"p","t":"t1","u":"u1","v":42,"h":["n:m.1","1","id","{}"]}"#;
    let (h, rest) = decode(lua).unwrap();
    assert_eq!((&*h.k, h.v), ("p", Some(42)));
    assert_eq!(rest, "");
    assert!(UserState::from_hash(h.h.as_deref().unwrap()).online());
    let gone = r#"{"k":"p","t":"t1","u":"u1","v":43}"#;
    assert!(decode(gone).unwrap().0.h.is_none());
}
