//! A WebRTC client on the `webrtc` crate for switchboard's embedded SFU: signals over its own socket,
//! publishes an Opus track, counts what arrives. Used by the `media` scenario and the server's tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
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

/// Opus payload type the client offers.
pub const OPUS_PT: u8 = 111;
/// One Opus frame: 20 ms at 48 kHz.
pub const FRAME_TS: u32 = 960;

/// What arrived on the remote audio track.
#[derive(Default)]
pub struct Inbound {
    pub packets: AtomicU64,
    /// Packets whose payload starts with the expected sender tag.
    pub tagged: AtomicU64,
    /// Consecutive packets whose sequence numbers are not consecutive.
    pub seq_gaps: AtomicU64,
}

struct Handler {
    to_ws: mpsc::UnboundedSender<String>,
    call_id: String,
    inbound: Arc<Inbound>,
    expect_tag: u8,
    state: watch::Sender<RTCPeerConnectionState>,
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
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (inbound, tag) = (self.inbound.clone(), self.expect_tag);
        tokio::spawn(async move {
            let mut last: Option<u16> = None;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = event {
                    inbound.packets.fetch_add(1, Ordering::Relaxed);
                    if p.payload.first() == Some(&tag) {
                        inbound.tagged.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(prev) = last
                        && p.header.sequence_number != prev.wrapping_add(1)
                    {
                        inbound.seq_gaps.fetch_add(1, Ordering::Relaxed);
                    }
                    last = Some(p.header.sequence_number);
                }
            }
        });
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

async fn build_pc(handler: Arc<dyn PeerConnectionEventHandler>) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let mut me = MediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut me)?;
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
        .await?;
    Ok(Arc::new(pc))
}

/// One participant's media client.
pub struct RtcClient {
    pub inbound: Arc<Inbound>,
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    /// Packets sent so far: sequence numbers and timestamps continue across
    /// `send_audio` calls (SRTP drops repeated sequence numbers as replays).
    sent: AtomicU32,
    driver: tokio::task::JoinHandle<()>,
    /// The connection's state, as the peer connection reports it.
    state: watch::Receiver<RTCPeerConnectionState>,
    /// Frames the server sent this client's socket (only if asked to keep them).
    frames: Option<Arc<Mutex<Vec<Value>>>>,
}

/// Applies one server frame to the connection.
async fn on_frame(
    pc: &Arc<dyn PeerConnection>,
    v: &Value,
    call: &str,
    to_ws: &mpsc::UnboundedSender<String>,
    remote_set: &mut bool,
    pending: &mut Vec<RTCIceCandidateInit>,
) -> anyhow::Result<()> {
    let sdp = || v["sdp"].as_str().map(str::to_owned).context("sdp");
    match v["type"].as_str() {
        Some("rtc.answer") => {
            pc.set_remote_description(RTCSessionDescription::answer(sdp()?)?)
                .await?;
            *remote_set = true;
            for c in pending.drain(..) {
                pc.add_ice_candidate(c).await?;
            }
        }
        Some("rtc.offer") => {
            pc.set_remote_description(RTCSessionDescription::offer(sdp()?)?).await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer.clone()).await?;
            let _ = to_ws.send(json!({"type": "rtc.answer", "callId": call, "sdp": answer.sdp}).to_string());
        }
        Some("rtc.candidate") => {
            let c: RTCIceCandidateInit = serde_json::from_value(v["candidate"].clone())?;
            if *remote_set {
                pc.add_ice_candidate(c).await?;
            } else {
                pending.push(c);
            }
        }
        _ => {}
    }
    Ok(())
}

impl RtcClient {
    /// Opens a socket at `ws_url` (with its token) and [`start`](Self::start)s on it.
    pub async fn join(
        ws_url: &str,
        call_id: &str,
        ssrc: u32,
        expect_tag: u8,
        keep_frames: bool,
    ) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        Self::start(ws, call_id, ssrc, expect_tag, keep_frames).await
    }

    /// Publishes an Opus track in `call_id` over the signaling socket `ws` and
    /// counts the other side's packets tagged `expect_tag`. With `keep_frames`
    /// every frame the server sends is kept for [`frames`](Self::frames)
    /// (tests); load runs leave it off so a long call holds no history.
    pub async fn start<S>(
        ws: WebSocketStream<S>,
        call_id: &str,
        ssrc: u32,
        expect_tag: u8,
        keep_frames: bool,
    ) -> anyhow::Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let (to_ws, mut out) = mpsc::unbounded_channel::<String>();
        let inbound = Arc::new(Inbound::default());
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let handler = Arc::new(Handler {
            to_ws: to_ws.clone(),
            call_id: call_id.to_owned(),
            inbound: inbound.clone(),
            expect_tag,
            state: state_tx,
        });
        let pc = build_pc(handler).await?;
        let audio = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            format!("s{ssrc}"),
            format!("a{ssrc}"),
            format!("a{ssrc}"),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: opus(),
                ..Default::default()
            }],
        )));
        pc.add_track(audio.clone() as Arc<dyn TrackLocal>).await?;

        let frames = keep_frames.then(|| Arc::new(Mutex::new(Vec::new())));
        let (pc2, to_ws2, frames2, call) = (pc.clone(), to_ws.clone(), frames.clone(), call_id.to_owned());
        let driver = tokio::spawn(async move {
            let mut remote_set = false;
            let mut pending = Vec::new();
            loop {
                tokio::select! {
                    Some(text) = out.recv() => {
                        if sink.send(Message::Text(text.into())).await.is_err() { return; }
                    }
                    msg = stream.next() => {
                        let text = match msg {
                            Some(Ok(Message::Text(t))) => t,
                            Some(Ok(_)) => continue,
                            _ => return,
                        };
                        let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                        if let Err(e) = on_frame(&pc2, &v, &call, &to_ws2, &mut remote_set, &mut pending).await {
                            eprintln!("rtc client: {e:#}");
                        }
                        if let Some(frames) = &frames2 {
                            frames.lock().push(v);
                        }
                    }
                }
            }
        });
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        let msg = json!({"type": "rtc.offer", "callId": call_id, "sdp": offer.sdp, "ref": "offer"});
        to_ws.send(msg.to_string())?;
        Ok(Self {
            inbound,
            pc,
            audio,
            ssrc,
            sent: AtomicU32::new(0),
            driver,
            state,
            frames,
        })
    }

    /// Sends `n` Opus packets 20 ms apart, each payload starting with `tag`.
    pub async fn send_audio(&self, n: u32, tag: u8) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..n {
            tick.tick().await;
            let i = self.sent.fetch_add(1, Ordering::Relaxed);
            let pkt = rtc::rtp::packet::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    payload_type: OPUS_PT,
                    sequence_number: 1000u16.wrapping_add(i as u16),
                    timestamp: 77_000u32.wrapping_add(i.wrapping_mul(FRAME_TS)),
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                // A plausible 20 ms Opus frame: TOC byte, then padding-sized data.
                payload: bytes::Bytes::from(vec![tag, 0xff, 0xfe, (i & 0xff) as u8, 0, 0, 0, 0]),
            };
            let _ = self.audio.write_rtp(pkt).await;
        }
    }

    pub fn sent(&self) -> u32 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits until the connection is up (ICE and DTLS); fails if it fails or
    /// closes first. Callers bound it with a timeout.
    pub async fn wait_connected(&self) -> anyhow::Result<()> {
        use RTCPeerConnectionState::{Closed, Connected, Failed};
        let mut state = self.state.clone();
        let reached = *state
            .wait_for(|s| matches!(s, Connected | Failed | Closed))
            .await
            .context("the peer connection is gone")?;
        anyhow::ensure!(reached == Connected, "media connection {reached:?}");
        Ok(())
    }

    /// The frames the server sent this client's socket so far, if it keeps them.
    pub fn frames(&self) -> Option<Vec<Value>> {
        self.frames.as_ref().map(|f| f.lock().clone())
    }

    pub async fn close(self) {
        let _ = self.pc.close().await;
        self.driver.abort();
    }
}
