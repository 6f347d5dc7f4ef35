//! Media recovery in embedded mode: lost media gets the reconnect grace, a reload that re-offers
//! keeps the call, a bad or dead replacement cannot break or mask it, honest end times, and
//! recordings that stay in step across a reconnect.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::media::{CALLEE_TAG, CALLER_TAG, MediaCall, embedded, media_call, sfu, until};
use crate::rtc_client::join;

async fn grace_of(app: &TestApp, id: &str) -> Option<i64> {
    app.state.store.get_call(id).await.unwrap().unwrap().grace_deadline
}

/// Sends audio both ways and checks each side received more of the other's.
async fn media_flows(call: &MediaCall) {
    let (before_callee, before_caller) = (
        call.callee.inbound.tagged.load(SeqCst),
        call.caller.inbound.tagged.load(SeqCst),
    );
    tokio::join!(
        call.caller.send_audio(50, CALLER_TAG),
        call.callee.send_audio(50, CALLEE_TAG)
    );
    until("audio both ways", 5, || {
        call.callee.inbound.tagged.load(SeqCst) >= before_callee + 30
            && call.caller.inbound.tagged.load(SeqCst) >= before_caller + 30
    })
    .await;
}

async fn a_bad_offer_from_a_second_tab_leaves_the_call_working(b: Backend) {
    let app = embedded(b, |_| {}).await;
    let call = media_call(&app, true, false).await;
    media_flows(&call).await;
    // The agent's second tab sends an offer the SFU cannot take.
    let mut tab = app.connect(&call.a).await;
    for sdp in [
        "v=0\r\nthis is not sdp\r\n",
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
    ] {
        let err = tab
            .request(json!({"type": "rtc.offer", "callId": call.id, "sdp": sdp}))
            .await;
        assert_eq!(err["type"], "error", "{err}");
        assert_eq!(err["code"], "invalid_message", "{err}");
    }
    // The working connection was not touched: media still flows both ways.
    assert_eq!(sfu(&app).connections(), 2);
    media_flows(&call).await;
    let row = app.state.store.get_call(&call.id).await.unwrap().unwrap();
    assert_eq!(row.grace_deadline, None);
    call.caller.close().await;
    call.callee.close().await;
}

async fn a_replacement_that_never_connects_does_not_mask_the_loss(b: Backend) {
    let app = quick(b, 2, 1).await;
    let mut call = media_call(&app, true, false).await;
    media_flows(&call).await;
    // A second tab's valid offer replaces the connection... and that tab is gone at once.
    let ghost = join(&app, &call.a, &call.id, 0x3333_3333, CALLER_TAG).await;
    until("the ghost's offer answered", 5, || {
        ghost.frames().unwrap().iter().any(|f| f["type"] == "rtc.answer")
    })
    .await;
    ghost.close().await;
    // No media from the agent's side any more: the call must not stay ACTIVE and silent.
    let ended = call.cw.next_of("call.ended").await;
    assert_eq!(ended["status"], "FAILED", "{ended}");
    assert_eq!(ended["reason"], "media_failed");
    call.caller.close().await;
    call.callee.close().await;
}

async fn a_reload_that_re_offers_within_the_grace_keeps_the_call(b: Backend) {
    let app = quick(b, 2, 8).await;
    let mut call = media_call(&app, true, false).await;
    let (a, id) = (call.a.clone(), call.id.clone());
    media_flows(&call).await;
    // The agent reloads the page: every socket and the media connection go at once.
    let reloaded = Instant::now();
    call.aw.kill();
    call.callee.close().await;
    // Long enough for the media to be found lost too (timeout 2 s).
    until("media found lost", 5, || sfu(&app).media_lost(&id)).await;
    assert!(
        grace_of(&app, &id).await.is_some(),
        "the call is in its reconnect grace"
    );
    // The page is back: a socket, then an offer on it.
    call.aw = app.connect(&a).await;
    let welcome = &call.aw.welcome;
    assert_eq!(welcome["activeCalls"][0]["id"], id.as_str(), "{welcome}");
    let rejoined = Instant::now();
    call.callee = join(&app, &a, &id, 0x4444_4444, CALLER_TAG).await;
    tokio::time::timeout(Duration::from_secs(15), call.callee.wait_connected())
        .await
        .expect("reconnected within 15 s")
        .unwrap();
    let media_back = rejoined.elapsed();
    media_flows(&call).await;
    // Everyone is back: the grace is lifted and the call goes on.
    let deadline = Instant::now() + WAIT;
    while grace_of(&app, &id).await.is_some() {
        assert!(Instant::now() < deadline, "the grace was never lifted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "reload survived: away {:?}, media connected again {media_back:?} after the re-offer",
        rejoined - reloaded
    );
    call.cw.expect_no("call.ended", Duration::from_millis(1_500)).await;
    let ack = call.aw.request(json!({"type": "call.end", "callId": id})).await;
    assert_eq!(ack["call"]["status"], "COMPLETED", "{ack}");
    assert_eq!(ack["call"]["endReason"], "hangup");
    call.caller.close().await;
    call.callee.close().await;
}

async fn a_reload_that_never_returns_ends_at_the_moment_of_loss(b: Backend) {
    let app = quick(b, 2, 2).await;
    let mut call = media_call(&app, true, false).await;
    media_flows(&call).await;
    let lost_at = switchboard::clock::now_ms();
    call.aw.kill();
    call.callee.close().await;
    // The caller keeps talking into the void; the callee never comes back.
    let talking = tokio::spawn(async move {
        call.caller.send_audio(150, CALLER_TAG).await;
        call.caller
    });
    let ended = call.cw.next_of("call.ended").await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["reason"], "connection_lost");
    let row = app.state.store.get_call(&call.id).await.unwrap().unwrap();
    let ended_at = row.ended_at.unwrap();
    assert!(
        (lost_at - 500..=lost_at + 300).contains(&ended_at),
        "ended at {ended_at}, lost at {lost_at}: the grace is not billed"
    );
    assert_eq!(row.duration, (ended_at - row.answered_at.unwrap()) / 1000);
    talking.await.unwrap().close().await;
}

/// The call's row once its recording is noted on it (a few moments after the call ends).
async fn recorded(app: &TestApp, id: &str) -> switchboard::call::model::Call {
    let deadline = Instant::now() + WAIT;
    loop {
        let row = app.state.store.get_call(id).await.unwrap().unwrap();
        if row.recording_bytes.is_some() {
            return row;
        }
        assert!(Instant::now() < deadline, "the recording was never noted on the call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An embedded-mode server whose media timeout and reconnect grace are short.
async fn quick(b: Backend, media_timeout_secs: u64, grace_secs: u64) -> TestApp {
    embedded(b, move |s| {
        s.sfu.media_timeout = Duration::from_secs(media_timeout_secs);
        s.reconnect_grace = Duration::from_secs(grace_secs);
    })
    .await
}

/// The last granule position (48 kHz samples) of an Ogg file.
fn last_granule(bytes: &[u8]) -> u64 {
    let (mut i, mut granule) = (0, 0);
    while i + 27 <= bytes.len() && &bytes[i..i + 4] == b"OggS" {
        let g = u64::from_le_bytes(bytes[i + 6..i + 14].try_into().unwrap());
        if g != u64::MAX {
            granule = granule.max(g);
        }
        let segments = bytes[i + 26] as usize;
        let body: usize = bytes[i + 27..i + 27 + segments].iter().map(|&b| b as usize).sum();
        i += 27 + segments + body;
    }
    granule
}

async fn recordings_stay_in_step_across_a_reconnect(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let app = embedded(b, move |s| s.sfu.recording_dir = root).await;
    let MediaCall {
        a,
        mut cw,
        id,
        caller,
        callee,
        ..
    } = media_call(&app, true, true).await;
    // The caller talks throughout: 6 s.
    let started = Instant::now();
    let talking = tokio::spawn(async move {
        caller.send_audio(300, CALLER_TAG).await;
        caller
    });
    callee.send_audio(50, CALLEE_TAG).await;
    // The callee's media drops for about 1.5 s, then comes back on a new connection.
    callee.close().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let back = join(&app, &a, &id, 0x5555_5555, CALLER_TAG).await;
    tokio::time::timeout(Duration::from_secs(15), back.wait_connected())
        .await
        .expect("reconnected")
        .unwrap();
    // Then talks until the caller stops (one 20 ms packet at a time, as a browser sends).
    let left = 300u32.saturating_sub((started.elapsed().as_millis() / 20) as u32);
    back.send_audio(left, CALLEE_TAG).await;
    let caller = talking.await.unwrap();
    cw.request(json!({"type": "call.end", "callId": id})).await;
    until("recording stored", 10, || {
        let dir = dir.path().join(&id);
        dir.join("caller.ogg").exists() && dir.join("callee.ogg").exists()
    })
    .await;
    let row = recorded(&app, &id).await;
    assert_eq!(row.recording_error, None);
    let caller_end = last_granule(&std::fs::read(dir.path().join(&id).join("caller.ogg")).unwrap());
    let callee_end = last_granule(&std::fs::read(dir.path().join(&id).join("callee.ogg")).unwrap());
    println!("recording ends: caller {caller_end}, callee {callee_end} samples");
    // Both end where the call ended (within 100 ms), the gap included in the callee's.
    assert!(caller_end > 48_000 * 5, "{caller_end}");
    assert!(
        caller_end.abs_diff(callee_end) <= 4_800,
        "caller {caller_end} vs callee {callee_end}"
    );
    caller.close().await;
    back.close().await;
}

async fn a_recording_that_fails_mid_call_is_reported_on_the_call(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let app = embedded(b, move |s| s.sfu.recording_dir = root).await;
    let (c, a) = (customer("t1", "c"), agent("t1", "a"));
    let mut cw = app.connect(&c).await;
    let mut aw = app.connect(&a).await;
    let id = crate::media::call(&mut cw, &mut aw, false, true).await;
    // The caller's file will be a full disk.
    let call_dir = dir.path().join(&id);
    std::fs::create_dir_all(&call_dir).unwrap();
    std::os::unix::fs::symlink("/dev/full", call_dir.join("caller.ogg")).unwrap();
    aw.request(json!({"type": "call.accept", "callId": id})).await;
    let caller = join(&app, &c, &id, 0x1111_1111, CALLEE_TAG).await;
    let callee = join(&app, &a, &id, 0x2222_2222, CALLER_TAG).await;
    tokio::time::timeout(Duration::from_secs(15), async {
        tokio::try_join!(caller.wait_connected(), callee.wait_connected())
    })
    .await
    .expect("connected")
    .unwrap();
    // Enough audio to fill the writer's buffer a few times over.
    tokio::join!(caller.send_audio(400, CALLER_TAG), callee.send_audio(400, CALLEE_TAG));
    cw.request(json!({"type": "call.end", "callId": id})).await;
    let row = recorded(&app, &id).await;
    let error = row.recording_error.clone().expect("the failure is stored on the call");
    assert!(error.contains("caller") && error.contains("No space left"), "{error}");
    assert!(row.recording_bytes.unwrap() > 0, "the callee's side was recorded");
    // And shown wherever the call is.
    let (_, view) = app.get(&format!("/api/voip/calls/{id}"), Some(&app.token(&c))).await;
    assert_eq!(view["recordingError"], error.as_str());
    let (_, history) = app.get("/api/voip/history", Some(&app.token(&a))).await;
    assert_eq!(history[0]["recordingError"], error.as_str());
    caller.close().await;
    callee.close().await;
}

crate::on_both_backends!(
    a_bad_offer_from_a_second_tab_leaves_the_call_working,
    a_replacement_that_never_connects_does_not_mask_the_loss,
    a_reload_that_re_offers_within_the_grace_keeps_the_call,
    a_reload_that_never_returns_ends_at_the_moment_of_loss,
    recordings_stay_in_step_across_a_reconnect,
    a_recording_that_fails_mid_call_is_reported_on_the_call,
);
