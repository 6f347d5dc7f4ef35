//! The embedded SFU end to end: two webrtc-crate clients exchange Opus through the server.

use std::time::Duration;

use serde_json::json;
use switchboard::media::MediaMode;

use crate::helpers::*;
use crate::rtc_client::{RtcClient, join};

pub const CALLER_TAG: u8 = 0xC1;
pub const CALLEE_TAG: u8 = 0xC2;

pub async fn embedded(b: Backend, tweak: impl FnOnce(&mut switchboard::Settings)) -> TestApp {
    spawn_with(b, |s| {
        s.media_mode = MediaMode::Embedded;
        tweak(s);
    })
    .await
}

/// Starts a call from `c` to `a`; accepts it unless `accept` is false.
pub async fn call(cw: &mut Ws, aw: &mut Ws, accept: bool, record: bool) -> String {
    let ack = cw
        .request(json!({"type": "call.start", "calleeId": "a", "record": record}))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    if accept {
        assert_eq!(
            aw.request(json!({"type": "call.accept", "callId": id})).await["type"],
            "ack"
        );
    }
    id
}

/// A call from customer `c` to agent `a` (tenant t1) whose two participants have their media connected.
pub struct MediaCall {
    pub c: Person,
    pub a: Person,
    pub cw: Ws,
    pub aw: Ws,
    pub id: String,
    pub caller: RtcClient,
    pub callee: RtcClient,
}

/// Connects `c` and `a`, calls (see [`call`]), joins both to the call's media and waits until both are connected.
pub async fn media_call(app: &TestApp, accept: bool, record: bool) -> MediaCall {
    let (c, a) = (customer("t1", "c"), agent("t1", "a"));
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;
    let id = call(&mut cw, &mut aw, accept, record).await;
    let caller = join(app, &c, &id, 0x1111_1111, CALLEE_TAG).await;
    let callee = join(app, &a, &id, 0x2222_2222, CALLER_TAG).await;
    tokio::time::timeout(Duration::from_secs(15), async {
        tokio::try_join!(caller.wait_connected(), callee.wait_connected())
    })
    .await
    .expect("both connected within 15 s")
    .expect("both connected");
    MediaCall {
        c,
        a,
        cw,
        aw,
        id,
        caller,
        callee,
    }
}

pub async fn until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The server's first `rtc.candidate` among `frames` names `port` (the SFU's one UDP port).
pub fn assert_candidates_name_port(frames: &[serde_json::Value], port: u16) {
    let cand = frames
        .iter()
        .find(|f| f["type"] == "rtc.candidate")
        .expect("server candidates reach the client");
    assert!(
        cand["candidate"]["candidate"]
            .as_str()
            .unwrap()
            .contains(&format!(" {port} typ host")),
        "{cand}"
    );
}

pub fn sfu(app: &TestApp) -> &switchboard::media::sfu::Sfu {
    app.state.media.as_deref().expect("embedded mode runs the SFU")
}

async fn opus_flows_both_ways_through_the_sfu(b: Backend) {
    let app = embedded(b, |_| {}).await;
    let MediaCall {
        mut cw,
        id,
        caller,
        callee,
        ..
    } = media_call(&app, true, false).await;
    assert_eq!(cw.welcome["mediaMode"], "embedded");
    assert_eq!(sfu(&app).rooms(), 1);
    assert_eq!(sfu(&app).connections(), 2, "two connections on the one shared UDP port");

    tokio::join!(caller.send_audio(150, CALLER_TAG), callee.send_audio(150, CALLEE_TAG));
    // Waits for the packets, not for a fixed time (forwarding lags on a loaded machine).
    until("100 packets each way", 5, || {
        callee.inbound.tagged.load(SeqCst) >= 100 && caller.inbound.tagged.load(SeqCst) >= 100
    })
    .await;
    let (to_callee, to_caller) = (callee.inbound.tagged.load(SeqCst), caller.inbound.tagged.load(SeqCst));
    assert!(to_callee >= 100, "callee got {to_callee} of the caller's 150 packets");
    assert!(to_caller >= 100, "caller got {to_caller} of the callee's 150 packets");
    assert_eq!(
        callee.inbound.packets.load(SeqCst),
        to_callee,
        "only the caller's audio reaches the callee"
    );
    assert_eq!(
        caller.inbound.seq_gaps.load(SeqCst),
        0,
        "sequence numbers stay continuous"
    );
    assert_eq!(callee.inbound.seq_gaps.load(SeqCst), 0);
    // The server's answer carried the offer's ref; its candidates name the shared port.
    let frames = caller.frames().expect("the test client keeps frames");
    assert!(frames.iter().any(|f| f["type"] == "rtc.answer" && f["ref"] == "offer"));
    // The answer to the first offer carries no candidates: they come as rtc.candidate (docs/protocol.md § 5).
    let answer = frames.iter().find(|f| f["type"] == "rtc.answer").unwrap();
    assert!(!answer["sdp"].as_str().unwrap().contains("a=candidate"), "{answer}");
    assert_candidates_name_port(&frames, sfu(&app).udp_addr().port());

    // Hanging up releases everything of the call's media.
    cw.request(json!({"type": "call.end", "callId": id})).await;
    until("media released", 10, || {
        sfu(&app).rooms() == 0 && sfu(&app).connections() == 0
    })
    .await;
    caller.close().await;
    callee.close().await;
}

async fn media_flows_only_once_the_call_is_active(b: Backend) {
    let app = embedded(b, |_| {}).await;
    // Both negotiate while it rings.
    let MediaCall {
        mut aw,
        id,
        caller,
        callee,
        ..
    } = media_call(&app, false, false).await;
    caller.send_audio(50, CALLER_TAG).await;
    assert_eq!(callee.inbound.tagged.load(SeqCst), 0, "no media before the accept");
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    caller.send_audio(100, CALLER_TAG).await;
    until("media after the accept", 5, || callee.inbound.tagged.load(SeqCst) >= 60).await;
    caller.close().await;
    callee.close().await;
}

async fn stopped_media_ends_the_call_as_media_failed(b: Backend) {
    let app = embedded(b, |s| {
        s.sfu.media_timeout = Duration::from_millis(1_500);
        s.reconnect_grace = Duration::from_secs(1);
    })
    .await;
    let MediaCall {
        mut cw,
        id,
        caller,
        callee,
        ..
    } = media_call(&app, true, false).await;
    tokio::join!(caller.send_audio(30, CALLER_TAG), callee.send_audio(30, CALLEE_TAG));
    let last_packet = switchboard::clock::now_ms();
    // Now both go silent: after the media timeout, and then the reconnect grace, the call ends.
    // The read's deadline is that sum plus a wide margin for a loaded CI machine
    // (the frame comes as soon as the server sends it; when it ended is checked below).
    cw.wait = Duration::from_millis(1_500 + 1_000) + Duration::from_secs(20);
    let ended = cw.next_of("call.ended").await;
    assert_eq!(ended["callId"], id.as_str());
    assert_eq!(ended["status"], "FAILED");
    assert_eq!(ended["reason"], "media_failed");
    // It ended (and is billed) when media stopped, not when the grace ran out.
    let row = app.state.store.get_call(&id).await.unwrap().unwrap();
    let ended_at = row.ended_at.unwrap();
    assert!(
        (last_packet - 500..=last_packet + 200).contains(&ended_at),
        "ended at {ended_at}, last packet at {last_packet}"
    );
    until("media released", 10, || sfu(&app).rooms() == 0).await;
    caller.close().await;
    callee.close().await;
}

async fn recordings_are_written_and_only_participants_read_them(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let app = embedded(b, move |s| s.sfu.recording_dir = root).await;
    let MediaCall {
        c,
        a,
        mut cw,
        id,
        caller,
        callee,
        ..
    } = media_call(&app, true, true).await;
    tokio::join!(caller.send_audio(100, CALLER_TAG), callee.send_audio(100, CALLEE_TAG));
    cw.request(json!({"type": "call.end", "callId": id})).await;

    let path = format!("/api/voip/calls/{id}");
    let mut row = json!(null);
    for _ in 0..100 {
        row = app.get(&path, Some(&app.token(&c))).await.1;
        if row["recordingBytes"].as_i64().is_some_and(|n| n > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row["recordingUrl"], format!("/api/voip/calls/{id}/recording"), "{row}");
    let total = row["recordingBytes"].as_i64().unwrap();

    let (status, manifest) = app.get(&format!("{path}/recording"), Some(&app.token(&a))).await;
    assert_eq!(status, 200, "{manifest}");
    let tracks = manifest["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2, "{manifest}");
    let sum: i64 = tracks.iter().map(|t| t["bytes"].as_i64().unwrap()).sum();
    assert_eq!(sum, total);
    assert_eq!(tracks[0]["side"], "caller");
    assert_eq!(tracks[0]["userId"], "c");

    // The file itself: an Ogg/Opus stream, with the token in the query (for <audio src>).
    let url = format!(
        "{}{}?access_token={}",
        app.url(""),
        tracks[0]["url"].as_str().unwrap(),
        app.token(&c)
    );
    let resp = app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/ogg");
    let body = resp.bytes().await.unwrap();
    assert!(body.starts_with(b"OggS") && body.windows(8).any(|w| w == b"OpusHead"));
    assert_eq!(body.len() as i64, tracks[0]["bytes"].as_i64().unwrap());
    assert!(body.len() > 2_000, "about 100 packets of audio: {} bytes", body.len());

    // Nobody else can.
    for stranger in [agent("t1", "m"), agent("t2", "a")] {
        let (status, body) = app.get(&format!("{path}/recording"), Some(&app.token(&stranger))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("call_not_found")));
        let (status, _) = app
            .get(&format!("{path}/recording/caller"), Some(&app.token(&stranger)))
            .await;
        assert_eq!(status, 404);
    }
    let (status, _) = app.get(&format!("{path}/recording"), None).await;
    assert_eq!(status, 401);
    let (status, body) = app
        .get(&format!("{path}/recording/../../etc"), Some(&app.token(&c)))
        .await;
    assert_eq!(status, 404, "{body}");
    caller.close().await;
    callee.close().await;
}

async fn unrecorded_calls_have_no_recording_and_other_modes_refuse_rtc(b: Backend) {
    let app = embedded(b, |_| {}).await;
    let (c, a) = (customer("t1", "c"), agent("t1", "a"));
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;
    let id = call(&mut cw, &mut aw, true, false).await;
    let (status, body) = app
        .get(&format!("/api/voip/calls/{id}/recording"), Some(&app.token(&c)))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("recording_not_found"))
    );
    // An answer without an offer from this session is refused.
    let err = cw
        .request(json!({"type": "rtc.answer", "callId": id, "sdp": "v=0"}))
        .await;
    assert_eq!(err["code"], "media_unavailable");

    let p2p = spawn_app(b).await;
    let mut cw = p2p.connect(&c).await;
    let mut aw = p2p.connect(&a).await;
    let id = call(&mut cw, &mut aw, true, false).await;
    let err = cw
        .request(json!({"type": "rtc.offer", "callId": id, "sdp": "v=0\r\n"}))
        .await;
    assert_eq!(err["code"], "media_unavailable");
    let err = cw
        .request(json!({"type": "call.start", "calleeId": "a", "record": true}))
        .await;
    assert_eq!(err["code"], "media_unavailable", "recording needs the embedded mode");
}

use std::sync::atomic::Ordering::SeqCst;

crate::on_both_backends!(
    opus_flows_both_ways_through_the_sfu,
    media_flows_only_once_the_call_is_active,
    stopped_media_ends_the_call_as_media_failed,
    recordings_are_written_and_only_participants_read_them,
    unrecorded_calls_have_no_recording_and_other_modes_refuse_rtc,
);
