//! Building a peer connection: codecs (Opus, VP8, H264; no RTX), interceptors, ICE settings, the muxed socket.

use std::net::SocketAddr;
use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, Registry, SettingEngineBuilder,
    register_default_interceptors,
};

use super::keyframe::{KeyframeRequests, SLOT};
use super::udpmux::MuxRuntime;

fn codec(mime: &str, rate: u32, channels: u16, fmtp: &str, feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: mime.to_owned(),
        clock_rate: rate,
        channels,
        sdp_fmtp_line: fmtp.to_owned(),
        rtcp_feedback: feedback,
    }
}

/// The codecs the SFU forwards. No RTX: each track keeps one SSRC, so
/// forwarding stays one stream in, one stream out.
pub fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut me = MediaEngine::default();
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    let video_fb = vec![fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")];
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec(MIME_TYPE_OPUS, 48_000, 2, "minptime=10;useinbandfec=1", vec![]),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec(MIME_TYPE_VP8, 90_000, 0, "", video_fb.clone()),
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec(
                MIME_TYPE_H264,
                90_000,
                0,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                video_fb,
            ),
            payload_type: 102,
        },
        RtpCodecKind::Video,
    )?;
    Ok(me)
}

/// A random hex string of `len` characters (ICE credentials).
pub fn random_hex(len: usize) -> String {
    let mut s = String::with_capacity(len + 32);
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

/// A peer connection whose UDP traffic goes through `runtime`'s shared port.
pub async fn build(
    bind: SocketAddr,
    runtime: Arc<MuxRuntime>,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    let mut me = media_engine()?;
    // Default interceptors after the codecs: NACK, reports and TWCC feedback
    // for them, so the browser's bandwidth estimation works.
    let registry = register_default_interceptors(Registry::new(), &mut me)?
        .with(rtc::interceptor::Slot::from(SLOT), KeyframeRequests::default());
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        // A pinned ufrag routes this connection's STUN traffic on the shared port.
        .with_ice_credentials(runtime.ufrag.clone(), random_hex(32))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_runtime(runtime as Arc<dyn webrtc::runtime::Runtime>)
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(bind.ip(), 0)])
        .build()
        .await?;
    Ok(Arc::new(pc))
}
