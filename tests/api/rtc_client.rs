//! A WebRTC test client on the same `webrtc` crate: signals over its own socket, sends and counts Opus.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
    register_default_interceptors,
};

use crate::helpers::{Person, TestApp};

const OPUS_PT: u8 = 111;

/// What arrived on the remote audio track.
#[derive(Default)]
pub struct Inbound {
    pub packets: AtomicU64,
    /// Packets whose payload carried the expected sender tag.
    pub tagged: AtomicU64,
    /// A sequence number jumped (not +1) between consecutive packets.
    pub seq_gaps: AtomicU64,
    pub connected: AtomicBool,
}

struct Handler {
    to_ws: mpsc::UnboundedSender<String>,
    call_id: String,
    inbound: Arc<Inbound>,
    expect_tag: u8,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let msg = json!({"type": "rtc.candidate", "callId": self.call_id, "candidate": init});
            let _ = self.to_ws.send(msg.to_string());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.inbound
            .connected
            .store(state == RTCPeerConnectionState::Connected, Ordering::SeqCst);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (inbound, tag) = (self.inbound.clone(), self.expect_tag);
        tokio::spawn(async move {
            let mut last: Option<u16> = None;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = event {
                    inbound.packets.fetch_add(1, Ordering::SeqCst);
                    if p.payload.first() == Some(&tag) {
                        inbound.tagged.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Some(prev) = last
                        && p.header.sequence_number != prev.wrapping_add(1)
                    {
                        inbound.seq_gaps.fetch_add(1, Ordering::SeqCst);
                    }
                    last = Some(p.header.sequence_number);
                }
            }
        });
    }
}

/// One participant's media client.
pub struct RtcClient {
    pub inbound: Arc<Inbound>,
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    /// Packets sent so far: sequence numbers and timestamps continue across calls
    /// (SRTP drops repeated sequence numbers as replays).
    sent: std::sync::atomic::AtomicU32,
    driver: tokio::task::JoinHandle<()>,
    /// Frames the server sent this client's socket (rtc.* included), for assertions.
    pub frames: Arc<Mutex<Vec<Value>>>,
}

async fn build_pc(handler: Arc<dyn PeerConnectionEventHandler>) -> Arc<dyn PeerConnection> {
    let mut me = MediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.into(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )
    .unwrap();
    let registry = register_default_interceptors(Registry::new(), &mut me).unwrap();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .unwrap();
    Arc::new(pc)
}

impl RtcClient {
    /// Opens a socket for `who`, publishes an Opus track in `call_id`, and
    /// expects the other side's packets to carry `expect_tag`.
    pub async fn join(app: &TestApp, who: &Person, call_id: &str, ssrc: u32, expect_tag: u8) -> Self {
        let url = format!("ws://{}/api/voip/ws?access_token={}", app.addr, app.token(who));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        let (to_ws, mut out) = mpsc::unbounded_channel::<String>();
        let inbound = Arc::new(Inbound::default());
        let handler = Arc::new(Handler {
            to_ws: to_ws.clone(),
            call_id: call_id.to_owned(),
            inbound: inbound.clone(),
            expect_tag,
        });
        let pc = build_pc(handler).await;
        let audio = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("{}-stream", who.id),
            format!("{}-audio", who.id),
            format!("{}-audio", who.id),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_OPUS.into(),
                    clock_rate: 48_000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                    rtcp_feedback: vec![],
                },
                ..Default::default()
            }],
        )));
        pc.add_track(audio.clone() as Arc<dyn TrackLocal>).await.unwrap();

        let frames = Arc::new(Mutex::new(Vec::new()));
        let remote_set = Arc::new(OnceLock::<()>::new());
        let pending: Arc<Mutex<Vec<RTCIceCandidateInit>>> = Arc::default();
        let (pc2, to_ws2, frames2, call) = (pc.clone(), to_ws.clone(), frames.clone(), call_id.to_owned());
        let driver = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(text) = out.recv() => {
                        if sink.send(Message::Text(text.into())).await.is_err() { return; }
                    }
                    msg = stream.next() => {
                        let Some(Ok(Message::Text(t))) = msg else {
                            if matches!(msg, Some(Ok(_))) { continue; }
                            return;
                        };
                        let v: Value = serde_json::from_str(&t).unwrap();
                        frames2.lock().await.push(v.clone());
                        match v["type"].as_str() {
                            Some("rtc.answer") => {
                                let desc = RTCSessionDescription::answer(v["sdp"].as_str().unwrap().to_owned()).unwrap();
                                pc2.set_remote_description(desc).await.unwrap();
                                let _ = remote_set.set(());
                                for c in pending.lock().await.drain(..) {
                                    pc2.add_ice_candidate(c).await.unwrap();
                                }
                            }
                            Some("rtc.offer") => {
                                let desc = RTCSessionDescription::offer(v["sdp"].as_str().unwrap().to_owned()).unwrap();
                                pc2.set_remote_description(desc).await.unwrap();
                                let answer = pc2.create_answer(None).await.unwrap();
                                pc2.set_local_description(answer.clone()).await.unwrap();
                                let msg = json!({"type": "rtc.answer", "callId": call, "sdp": answer.sdp});
                                let _ = to_ws2.send(msg.to_string());
                            }
                            Some("rtc.candidate") => {
                                let c: RTCIceCandidateInit = serde_json::from_value(v["candidate"].clone()).unwrap();
                                if remote_set.get().is_some() {
                                    pc2.add_ice_candidate(c).await.unwrap();
                                } else {
                                    pending.lock().await.push(c);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        let offer = pc.create_offer(None).await.unwrap();
        pc.set_local_description(offer.clone()).await.unwrap();
        let msg = json!({"type": "rtc.offer", "callId": call_id, "sdp": offer.sdp, "ref": "offer"});
        to_ws.send(msg.to_string()).unwrap();
        Self {
            inbound,
            pc,
            audio,
            ssrc,
            sent: std::sync::atomic::AtomicU32::new(0),
            driver,
            frames,
        }
    }

    /// Sends `n` Opus packets 20 ms apart, each payload starting with `tag`.
    pub async fn send_audio(&self, n: u16, tag: u8) {
        for _ in 0..n {
            let i = self.sent.fetch_add(1, Ordering::SeqCst);
            let pkt = rtc::rtp::packet::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    payload_type: OPUS_PT,
                    sequence_number: 1000u16.wrapping_add(i as u16),
                    timestamp: 77_000u32.wrapping_add(i * 960),
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload: bytes::Bytes::from(vec![tag, 0xff, 0xfe, (i & 0xff) as u8]),
            };
            let _ = self.audio.write_rtp(pkt).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn connected(&self) -> bool {
        self.inbound.connected.load(Ordering::SeqCst)
    }

    pub async fn close(self) {
        let _ = self.pc.close().await;
        self.driver.abort();
    }
}
