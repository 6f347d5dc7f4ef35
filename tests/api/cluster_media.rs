//! Embedded media across nodes: the room lives on the call's node; a participant connected to another node negotiates through it.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use serde_json::json;
use switchboard::media::MediaMode;

use crate::cluster_support::*;
use crate::helpers::*;
use crate::media::{CALLEE_TAG, CALLER_TAG, assert_candidates_name_port, until};
use switchboard_loadtest::rtc_client::RtcClient;

async fn join_at(app: &TestApp, addr: &str, who: &Person, call_id: &str, ssrc: u32, expect: u8) -> RtcClient {
    let url = format!("ws://{addr}/api/voip/ws?access_token={}", app.token(who));
    RtcClient::join(&url, call_id, ssrc, expect, true)
        .await
        .expect("media client joins")
}

/// 9. Caller on A, callee on B: Opus both ways through the room on A, whose address B's participant is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_flows_between_participants_on_different_nodes() {
    let (nodes, _) = in_process_nodes(2, &redis_url(), |s| s.media_mode = MediaMode::Embedded).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (c, ag) = (customer("t1", "c"), agent("t1", "a"));
    let mut cw = a.connect(&c).await;
    let mut aw = b.connect(&ag).await;
    let ack = cw.request(json!({"type": "call.start", "calleeId": "a"})).await;
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    aw.next_of("call.incoming").await;
    assert_eq!(
        aw.request(json!({"type": "call.accept", "callId": id})).await["type"],
        "ack"
    );
    let caller = join_at(a, &a.addr.to_string(), &c, &id, 0x1111_1111, CALLEE_TAG).await;
    let callee = join_at(a, &b.addr.to_string(), &ag, &id, 0x2222_2222, CALLER_TAG).await;
    tokio::time::timeout(Duration::from_secs(15), async {
        tokio::try_join!(caller.wait_connected(), callee.wait_connected())
    })
    .await
    .expect("both connected within 15 s")
    .expect("both connected");
    let sfu_a = a.state.media.as_deref().unwrap();
    let sfu_b = b.state.media.as_deref().unwrap();
    assert_eq!(
        (sfu_a.rooms(), sfu_a.connections()),
        (1, 2),
        "the room and both connections are on A"
    );
    assert_eq!(sfu_b.rooms(), 0, "B holds no room");
    tokio::join!(caller.send_audio(150, CALLER_TAG), callee.send_audio(150, CALLEE_TAG));
    until("100 packets each way", 10, || {
        callee.inbound.tagged.load(SeqCst) >= 100 && caller.inbound.tagged.load(SeqCst) >= 100
    })
    .await;
    // B's participant was told A's port.
    let frames = callee.frames().expect("frames kept");
    assert!(
        frames.iter().any(|f| f["type"] == "rtc.answer"),
        "the answer came back through B"
    );
    assert_candidates_name_port(&frames, sfu_a.udp_addr().port());
    println!(
        "media across nodes: callee got {} and caller {} of 150 packets",
        callee.inbound.tagged.load(SeqCst),
        caller.inbound.tagged.load(SeqCst)
    );
}
