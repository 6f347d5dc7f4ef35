//! RingCentral call-log pages: paging links, record mapping, skipped records.

use serde_json::json;

use super::*;

fn record(id: &str, result: &str, direction: &str) -> Value {
    json!({
        "uri": format!("https://platform.ringcentral.com/restapi/v1.0/account/1/call-log/{id}"),
        "id": id, "sessionId": "404", "startTime": "2026-12-01T09:30:00.000Z", "duration": 65,
        "type": "Voice", "direction": direction, "action": "Phone Call", "result": result,
        "from": {"phoneNumber": "+16505550100", "name": "Pat Customer"},
        "to": {"phoneNumber": "16505550199", "extensionNumber": "101", "name": "Agent"}
    })
}

#[test]
fn a_page_without_totals_pages_on_its_next_link() {
    let body = json!({
        "uri": "https://platform.ringcentral.com/restapi/v1.0/account/~/call-log?page=1&perPage=2",
        "records": [record("A", "Accepted", "Inbound"), record("B", "Missed", "Inbound")],
        "paging": {"page": 1, "perPage": 2, "pageStart": 0, "pageEnd": 1},
        "navigation": {
            "firstPage": {"uri": "https://x/call-log?page=1"},
            "nextPage": {"uri": "https://platform.ringcentral.com/restapi/v1.0/account/~/call-log?page=2&perPage=2"}
        }
    });
    let page = parse_page(body.to_string().as_bytes()).unwrap();
    assert_eq!(page.records.len(), 2);
    assert!(page.next.as_deref().unwrap().ends_with("page=2&perPage=2"));
    let (a, raw) = &page.records[0];
    assert_eq!(raw["id"], "A", "the raw record is kept as it came");
    assert_eq!(a.external_id, "A");
    assert_eq!(a.direction, Direction::Inbound);
    assert_eq!(a.from_number.as_deref(), Some("+16505550100"));
    assert_eq!(
        a.to_number.as_deref(),
        Some("+16505550199"),
        "a number without + is read as international"
    );
    assert_eq!(a.our_extension.as_deref(), Some("101"));
    assert_eq!(a.started_at, 1_796_117_400_000);
    assert_eq!((a.duration, a.status), (65, CallStatus::Completed));
    assert_eq!(page.records[1].0.status, CallStatus::Missed);
}

#[test]
fn the_last_page_has_no_next_link() {
    let body = json!({"records": [], "navigation": {"firstPage": {"uri": "https://x"}}, "paging": {"page": 3}});
    let page = parse_page(body.to_string().as_bytes()).unwrap();
    assert!(page.next.is_none());
    assert!(page.records.is_empty());
    assert!(parse_page(b"{\"records\": 5}").is_err());
    assert!(parse_page(b"<html>").is_err());
}

#[test]
fn calls_in_progress_faxes_and_broken_records_are_skipped_by_id() {
    let mut fax = record("F", "Received", "Inbound");
    fax["type"] = json!("Fax");
    let mut bad_time = record("T", "Accepted", "Inbound");
    bad_time["startTime"] = json!("yesterday");
    let body = json!({"records": [
        record("P", "In Progress", "Inbound"), fax, bad_time, json!({"nothing": true}),
        record("K", "Accepted", "Outbound")
    ]});
    let page = parse_page(body.to_string().as_bytes()).unwrap();
    assert_eq!(page.skipped, vec!["P", "F", "T", "#3"]);
    assert_eq!(page.records.len(), 1);
    let k = &page.records[0].0;
    assert_eq!(k.direction, Direction::Outbound);
    assert_eq!(
        k.our_extension, None,
        "outbound: our extension is the caller's, absent here"
    );
}

#[test]
fn every_documented_result_maps_to_a_status() {
    use CallStatus::*;
    let cases = [
        ("Accepted", Completed, false),
        ("Call connected", Completed, false),
        ("Voicemail", Missed, true),
        ("Missed", Missed, false),
        ("No Answer", Missed, false),
        ("Abandoned", Missed, false),
        ("Rejected", Declined, false),
        ("Declined", Declined, false),
        ("Busy", Busy, false),
        ("Hang Up", Cancelled, false),
        ("Stopped", Cancelled, false),
        ("Blocked", Failed, false),
        ("Wrong Number", Failed, false),
        ("Call Failed", Failed, false),
        ("Call Failure", Failed, false),
        ("Internal Error", Failed, false),
        ("Restricted", Failed, false),
        ("Unknown", Failed, false),
        ("", Failed, false),
    ];
    for (result, status, vm) in cases {
        assert_eq!(map_result(result), Some((status, vm)), "{result}");
    }
    assert_eq!(map_result("In Progress"), None);
}

#[test]
fn numbers_in_ringcentral_formats_become_e164() {
    assert_eq!(e164("+16505550100").as_deref(), Some("+16505550100"));
    assert_eq!(e164("16505550100").as_deref(), Some("+16505550100"));
    assert_eq!(e164(" +44 20 7946 0958 ").as_deref(), Some("+442079460958"));
    assert_eq!(e164("101"), None, "an extension is not a number");
    assert_eq!(e164(""), None);
    assert_eq!(e164("anonymous"), None);
}
