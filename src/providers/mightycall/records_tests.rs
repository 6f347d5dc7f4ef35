//! MightyCall call-list parsing: the envelope, each call's mapping, the statuses, times, durations, numbers and paging.

use serde_json::json;

use super::*;

fn call(id: &str, direction: &str, status: &str) -> Value {
    json!({
        "id": id,
        "direction": direction,
        "callStatus": status,
        "dateTimeUtc": "2026-12-01T09:30:00",
        "duration": 65_400,
        "businessNumber": "+16505550100",
        "caller": {"name": "Ann", "phone": "+14155550111", "extension": null},
        "called": [
            {"name": "Desk", "phone": "+16505550100", "extension": "101", "isConnected": false},
            {"name": "Bo", "phone": "+16505550100", "extension": "102", "isConnected": true}
        ],
        "callRecord": {"fileName": "r.mp3", "uri": "https://example.invalid/r.mp3"}
    })
}

fn page(calls: Vec<Value>, total: Option<u64>) -> Vec<u8> {
    let mut data = json!({ "calls": calls });
    if let Some(t) = total {
        data["total"] = json!(t);
    }
    serde_json::to_vec(&json!({ "data": data })).unwrap()
}

#[test]
fn an_inbound_connected_call_maps_to_a_completed_row_on_the_callee_who_answered() {
    let p = parse_page(&page(vec![call("c1", "Incoming", "Connected")], Some(1))).unwrap();
    assert_eq!((p.returned, p.total), (1, Some(1)));
    let (s, raw) = &p.page.records[0];
    assert_eq!(raw["callRecord"]["fileName"], "r.mp3", "the raw call is kept whole");
    assert_eq!(s.external_id, "c1");
    assert_eq!(s.direction, Direction::Inbound);
    assert_eq!(s.from_number.as_deref(), Some("+14155550111"));
    assert_eq!(s.to_number.as_deref(), Some("+16505550100"));
    assert_eq!(s.our_extension.as_deref(), Some("102"), "the callee that connected");
    assert_eq!(s.started_at, 1_796_117_400_000);
    assert_eq!(s.duration, 65, "65,400 ms rounds to 65 s");
    assert_eq!((s.status, s.voicemail), (CallStatus::Completed, false));
    assert_eq!(s.provider_status, "Connected");
}

#[test]
fn an_outbound_call_is_from_the_business_number_and_the_callers_extension() {
    let mut c = call("c2", "Outgoing", "Missed");
    c["caller"] = json!({"phone": "+16505550100", "extension": 103});
    c["called"] = json!({"phone": "(415) 555-0122"});
    c["businessNumber"] = json!({"number": "16505550100"});
    let p = parse_page(&page(vec![c], None)).unwrap();
    let (s, _) = &p.page.records[0];
    assert_eq!(s.direction, Direction::Outbound);
    assert_eq!(s.from_number.as_deref(), Some("+16505550100"));
    assert_eq!(
        s.to_number.as_deref(),
        Some("+14155550122"),
        "a national number is read as NANP"
    );
    assert_eq!(s.our_extension.as_deref(), Some("103"));
    assert_eq!(s.status, CallStatus::Missed);
}

#[test]
fn every_status_word_maps_and_calls_in_progress_wait_for_a_later_sync() {
    for (word, want) in [
        ("Connected", Some((CallStatus::Completed, false))),
        ("Missed", Some((CallStatus::Missed, false))),
        ("VoiceMail", Some((CallStatus::Missed, true))),
        ("Dropped", Some((CallStatus::Cancelled, false))),
        ("Busy", Some((CallStatus::Busy, false))),
        ("Rejected", Some((CallStatus::Declined, false))),
        ("SomethingNew", Some((CallStatus::Failed, false))),
        ("Ringing", None),
        ("InProgress", None),
    ] {
        assert_eq!(map_status(word), want, "{word}");
    }
    let p = parse_page(&page(
        vec![
            call("live", "Incoming", "InProgress"),
            call("done", "Incoming", "VoiceMail"),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(p.page.skipped, vec!["live".to_owned()]);
    assert!(p.page.records[0].0.voicemail);
    assert_eq!(p.returned, 2, "skipped calls still count for paging");
}

#[test]
fn times_with_and_without_a_zone_are_utc() {
    assert_eq!(parse_utc("2026-12-01T09:30:00"), Some(1_796_117_400_000));
    assert_eq!(parse_utc("2026-12-01T09:30:00.250"), Some(1_796_117_400_250));
    assert_eq!(parse_utc("2026-12-01T09:30:00Z"), Some(1_796_117_400_000));
    assert_eq!(parse_utc("2026-12-01T10:30:00+01:00"), Some(1_796_117_400_000));
    assert_eq!(parse_utc("01/12/2026 09:30"), None);
    assert_eq!(parse_utc(""), None);
}

#[test]
fn durations_are_milliseconds_rounded_to_seconds() {
    assert_eq!(duration_secs(&json!(0)), Some(0));
    assert_eq!(duration_secs(&json!(499)), Some(0));
    assert_eq!(duration_secs(&json!(500)), Some(1));
    assert_eq!(duration_secs(&json!("120000")), Some(120));
    assert_eq!(duration_secs(&json!(1500.0)), Some(2));
    assert_eq!(duration_secs(&json!(-1)), None);
    assert_eq!(duration_secs(&json!("00:02:00")), None);
    assert_eq!(duration_secs(&json!({})), None);
}

#[test]
fn records_missing_what_a_row_needs_are_skipped_by_id_or_position() {
    let mut no_time = call("t", "Incoming", "Connected");
    no_time.as_object_mut().unwrap().remove("dateTimeUtc");
    let mut bad_dir = call("d", "Sideways", "Connected");
    bad_dir["id"] = json!(77);
    let mut bad_duration = call("u", "Incoming", "Connected");
    bad_duration["duration"] = json!("two minutes");
    let p = parse_page(&page(
        vec![
            no_time,
            bad_dir,
            json!("not an object"),
            bad_duration,
            call("ok", "Outgoing", "Connected"),
        ],
        Some(5),
    ))
    .unwrap();
    assert_eq!(p.page.skipped, vec!["t", "77", "#2", "u"]);
    assert_eq!(p.page.records.len(), 1);
    let mut numeric = call("x", "Incoming", "Connected");
    numeric["id"] = json!(123_456);
    let p = parse_page(&page(vec![numeric], None)).unwrap();
    assert_eq!(p.page.records[0].0.external_id, "123456");
}

#[test]
fn a_body_that_is_not_a_call_list_is_an_error() {
    assert!(parse_page(b"<html>").is_err());
    assert!(parse_page(br#"{"isSuccess": false}"#).unwrap_err().contains("data"));
    let empty = parse_page(br#"{"data": {}}"#).unwrap();
    assert_eq!((empty.returned, empty.page.records.len()), (0, 0));
}

#[test]
fn paging_stops_at_a_short_page_an_empty_page_or_the_total() {
    assert_eq!(next_skip(0, 100, 100, None), Some(100));
    assert_eq!(next_skip(0, 100, 100, Some(250)), Some(100));
    assert_eq!(next_skip(200, 100, 50, Some(250)), None, "short page");
    assert_eq!(next_skip(100, 100, 100, Some(200)), None, "the total is reached");
    assert_eq!(next_skip(100, 100, 0, None), None, "empty page");
    assert_eq!(
        next_skip(0, 100, 100, Some(0)),
        None,
        "a total that disagrees stops, too"
    );
    assert_eq!(next_skip(u64::MAX, 100, 100, None), None);
}

#[test]
fn numbers_in_several_formats_are_e164() {
    assert_eq!(e164("+16505550100").as_deref(), Some("+16505550100"));
    assert_eq!(e164("16505550100").as_deref(), Some("+16505550100"));
    assert_eq!(e164("6505550100").as_deref(), Some("+16505550100"));
    assert_eq!(e164("(650) 555-0100").as_deref(), Some("+16505550100"));
    assert_eq!(e164("442071838750").as_deref(), Some("+442071838750"));
    assert_eq!(e164("101"), None);
    assert_eq!(e164(""), None);
}
