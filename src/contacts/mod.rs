//! A contact's activity timeline (issue #12, docs/contacts.md): calls, voicemails, texts and notes merged newest first, and the page cursor.
//!
//! Pure: the store reads each kind through the caller's scope, each already
//! newest first and older than the cursor; [`merge`] interleaves them and
//! keeps a page. The cursor is `"{at}.{id}"` of the page's last item.

use crate::model::{Call, Millis};
use crate::store::{Before, Note, SmsMessage};

/// Items one timeline page returns when the request does not say.
pub const TIMELINE_PAGE_DEFAULT: i64 = 50;
/// Most items one timeline page returns.
pub const TIMELINE_PAGE_MAX: i64 = 200;
/// Numbers one contact may have.
pub const MAX_CONTACT_NUMBERS: usize = 20;
/// Contacts one bulk upsert takes.
pub const MAX_BULK_CONTACTS: usize = 500;
/// Longest contact id, name and note.
pub const MAX_CONTACT_ID_LEN: usize = 128;
pub const MAX_CONTACT_NAME_LEN: usize = 200;
pub const MAX_NOTE_LEN: usize = 10_000;
/// The contact types a CRM may push.
pub const CONTACT_TYPES: [&str; 3] = ["prospect", "customer", "lead"];

/// One entry of the timeline.
#[derive(Debug, Clone)]
pub enum Item {
    /// A call, or a voicemail (a phone call that went to voicemail).
    Call(Call),
    Text(SmsMessage),
    Note(Note),
}

impl Item {
    /// When it happened (a call: when it started).
    pub fn at(&self) -> Millis {
        match self {
            Item::Call(c) => c.started_at,
            Item::Text(t) => t.created_at,
            Item::Note(n) => n.created_at,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Item::Call(c) => &c.id,
            Item::Text(t) => &t.id,
            Item::Note(n) => &n.id,
        }
    }

    /// `call`, `voicemail`, `sms` or `note`.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Call(c) if c.phone.as_ref().is_some_and(|p| p.voicemail) => "voicemail",
            Item::Call(_) => "call",
            Item::Text(_) => "sms",
            Item::Note(_) => "note",
        }
    }
}

/// The newest `limit` of the three lists (each newest first), newest first; ties by id, descending.
pub fn merge(calls: Vec<Call>, texts: Vec<SmsMessage>, notes: Vec<Note>, limit: usize) -> Vec<Item> {
    let mut all: Vec<Item> = calls
        .into_iter()
        .map(Item::Call)
        .chain(texts.into_iter().map(Item::Text))
        .chain(notes.into_iter().map(Item::Note))
        .collect();
    all.sort_by(|a, b| b.at().cmp(&a.at()).then_with(|| b.id().cmp(a.id())));
    all.truncate(limit);
    all
}

/// The cursor that continues after `item`.
pub fn cursor_after(item: &Item) -> String {
    format!("{}.{}", item.at(), item.id())
}

/// The page start a `before` cursor names; `None` for the first page; `Err` for text that is not a cursor.
pub fn parse_cursor(text: Option<&str>) -> Result<Before, String> {
    let Some(t) = text else {
        return Ok(Before {
            at: i64::MAX,
            id: String::new(),
        });
    };
    let (at, id) = t.split_once('.').ok_or("`before` is not a cursor this server gave")?;
    let at = at
        .parse::<i64>()
        .map_err(|_| "`before` is not a cursor this server gave")?;
    if id.is_empty() || id.len() > MAX_CONTACT_ID_LEN {
        return Err("`before` is not a cursor this server gave".into());
    }
    Ok(Before { at, id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str, at: Millis) -> Note {
        Note {
            id: id.into(),
            org_id: "t1".into(),
            contact_id: "k".into(),
            author_id: "ann".into(),
            body: "b".into(),
            created_at: at,
        }
    }

    fn text(id: &str, at: Millis) -> SmsMessage {
        SmsMessage {
            id: id.into(),
            conversation_id: "v".into(),
            org_id: "t1".into(),
            direction: "inbound".into(),
            from_number: "+1".into(),
            to_number: "+2".into(),
            body: "hi".into(),
            status: "received".into(),
            provider: "twilio".into(),
            external_id: None,
            segments: 1,
            price_micros: None,
            price_unit: None,
            user_id: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn kinds_interleave_newest_first_and_a_page_is_cut() {
        let items = merge(
            vec![],
            vec![text("t1", 30), text("t2", 10)],
            vec![note("n1", 20), note("n2", 5)],
            3,
        );
        let order: Vec<(&str, Millis)> = items.iter().map(|i| (i.id(), i.at())).collect();
        assert_eq!(order, [("t1", 30), ("n1", 20), ("t2", 10)]);
        assert_eq!(items[1].kind(), "note");
        assert_eq!(items[0].kind(), "sms");
    }

    #[test]
    fn equal_times_are_ordered_by_id_so_pages_neither_skip_nor_repeat() {
        let items = merge(vec![], vec![text("b", 10)], vec![note("a", 10), note("c", 10)], 10);
        let ids: Vec<&str> = items.iter().map(Item::id).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        let c = parse_cursor(Some(&cursor_after(&items[1]))).unwrap();
        assert_eq!((c.at, c.id.as_str()), (10, "b"));
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let first = parse_cursor(None).unwrap();
        assert_eq!(first.at, i64::MAX);
        for bad in ["", "12", "x.y", ".id", "12."] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad}");
        }
        let id = "0193a8c4-1111-7000-8000-000000000000";
        let c = parse_cursor(Some(&format!("1796652793000.{id}"))).unwrap();
        assert_eq!((c.at, c.id.as_str()), (1_796_652_793_000, id));
    }
}
