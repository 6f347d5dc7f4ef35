//! Tests of `identify`: a fake remote track that opens with or without its codec.

use std::sync::atomic::{AtomicUsize, Ordering};

use rtc::media_stream::{
    MediaStreamId, MediaStreamTrack, MediaStreamTrackId, MediaStreamTrackState, MediaTrackCapabilities,
    MediaTrackConstraints, MediaTrackSettings,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RtpStreamId, SSRC};
use tokio::sync::mpsc;
use webrtc::media_stream::Track;

use super::*;

/// A remote track as webrtc hands it over: its codings, and the events a test feeds it.
struct FakeTrack {
    track: parking_lot::Mutex<MediaStreamTrack>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<TrackRemoteEvent>>,
}

fn fake(ssrc: SSRC, codec: RTCRtpCodec) -> (FakeTrack, mpsc::UnboundedSender<TrackRemoteEvent>) {
    let coding = RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec,
        ..Default::default()
    };
    let track = MediaStreamTrack::new("s".into(), "t".into(), "l".into(), RtpCodecKind::Audio, vec![coding]);
    let (tx, rx) = mpsc::unbounded_channel();
    let fake = FakeTrack {
        track: parking_lot::Mutex::new(track),
        events: tokio::sync::Mutex::new(rx),
    };
    (fake, tx)
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: 48_000,
        channels: 2,
        ..Default::default()
    }
}

fn negotiated(pt: u8, codec: RTCRtpCodec) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: codec,
        payload_type: pt,
    }
}

fn packet(ssrc: SSRC, pt: u8) -> TrackRemoteEvent {
    TrackRemoteEvent::OnRtpPacket(rtc::rtp::packet::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            payload_type: pt,
            ssrc,
            ..Default::default()
        },
        payload: bytes::Bytes::from_static(&[0xfc]),
    })
}

#[async_trait::async_trait]
impl Track for FakeTrack {
    async fn stream_id(&self) -> MediaStreamId {
        self.track.lock().stream_id().to_owned()
    }
    async fn track_id(&self) -> MediaStreamTrackId {
        self.track.lock().track_id().to_owned()
    }
    async fn label(&self) -> String {
        self.track.lock().label().to_owned()
    }
    async fn kind(&self) -> RtpCodecKind {
        self.track.lock().kind()
    }
    async fn rid(&self, ssrc: SSRC) -> Option<RtpStreamId> {
        self.track.lock().rid(ssrc).cloned()
    }
    async fn codec(&self, ssrc: SSRC) -> Option<RTCRtpCodec> {
        self.track.lock().codec(ssrc).cloned()
    }
    async fn ssrcs(&self) -> Vec<SSRC> {
        self.track.lock().ssrcs().collect()
    }
    async fn enabled(&self) -> bool {
        self.track.lock().enabled()
    }
    async fn set_enabled(&self, enabled: bool) {
        self.track.lock().set_enabled(enabled)
    }
    async fn muted(&self) -> bool {
        self.track.lock().muted()
    }
    async fn set_muted(&self, muted: bool) {
        self.track.lock().set_muted(muted)
    }
    async fn ready_state(&self) -> MediaStreamTrackState {
        self.track.lock().ready_state()
    }
    async fn stop(&self) {
        self.track.lock().stop()
    }
    async fn get_capabilities(&self) -> MediaTrackCapabilities {
        self.track.lock().get_capabilities().clone()
    }
    async fn get_constraints(&self) -> MediaTrackConstraints {
        self.track.lock().get_constraints().clone()
    }
    async fn get_settings(&self) -> MediaTrackSettings {
        self.track.lock().get_settings().clone()
    }
    async fn apply_constraints(&self, constraints: Option<MediaTrackConstraints>) {
        self.track.lock().apply_constraints(constraints)
    }
    async fn codings(&self) -> Vec<RTCRtpEncodingParameters> {
        self.track.lock().codings().to_vec()
    }
    async fn add_coding(&self, coding: RTCRtpEncodingParameters) {
        self.track.lock().add_coding(coding)
    }
}

#[async_trait::async_trait]
impl TrackRemote for FakeTrack {
    async fn write_rtcp(&self, _: Vec<Box<dyn rtc::rtcp::Packet>>) -> webrtc::error::Result<()> {
        Ok(())
    }
    async fn poll(&self) -> Option<TrackRemoteEvent> {
        self.events.lock().await.recv().await
    }
}

#[test]
fn a_codec_is_found_by_the_legs_payload_type_never_an_unset_one() {
    let codecs = [
        negotiated(111, opus()),
        negotiated(
            96,
            RTCRtpCodec {
                mime_type: "video/VP8".into(),
                ..Default::default()
            },
        ),
        negotiated(100, RTCRtpCodec::default()),
    ];
    assert_eq!(codec_of(&codecs, 111).map(|c| c.mime_type), Some("audio/opus".into()));
    assert_eq!(codec_of(&codecs, 96).map(|c| c.mime_type), Some("video/VP8".into()));
    assert_eq!(codec_of(&codecs, 100), None, "a codec without a MIME type is not known");
    assert_eq!(codec_of(&codecs, 0), None);
    assert_eq!(codec_of(&[], 111), None);
}

#[tokio::test]
async fn a_track_that_names_its_codec_is_identified_without_a_packet() {
    let (track, _events) = fake(7, opus());
    let asked = AtomicUsize::new(0);
    let codecs = || async {
        asked.fetch_add(1, Ordering::Relaxed);
        Vec::new()
    };
    assert_eq!(identify(&track, Side::Caller, codecs).await, Some((7, opus())));
    assert_eq!(asked.load(Ordering::Relaxed), 0, "no receiver lookup needed");
}

#[tokio::test]
async fn a_track_opened_without_its_codec_is_identified_from_its_first_negotiated_packet() {
    // The coding has the SSRC but an unset codec, as webrtc 0.21 leaves it in the race.
    let (track, events) = fake(7, RTCRtpCodec::default());
    events.send(packet(7, 0)).unwrap(); // a payload type the leg did not negotiate
    events.send(packet(7, 111)).unwrap();
    let codecs = || async { vec![negotiated(111, opus())] };
    assert_eq!(identify(&track, Side::Callee, codecs).await, Some((7, opus())));
}

#[tokio::test]
async fn a_rebound_stream_asks_for_the_legs_codecs_again() {
    let (track, events) = fake(7, RTCRtpCodec::default());
    let asked = AtomicUsize::new(0);
    // The first answer knows no codecs yet; after the stream is bound again it does.
    let codecs = || {
        let n = asked.fetch_add(1, Ordering::Relaxed);
        async move {
            if n == 0 {
                Vec::new()
            } else {
                vec![negotiated(111, opus())]
            }
        }
    };
    events.send(packet(7, 111)).unwrap();
    events.send(TrackRemoteEvent::OnOpen(Default::default())).unwrap();
    events.send(packet(9, 111)).unwrap();
    assert_eq!(identify(&track, Side::Callee, codecs).await, Some((9, opus())));
    assert_eq!(asked.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_track_that_ends_unidentified_is_none() {
    let (track, events) = fake(7, RTCRtpCodec::default());
    events.send(packet(7, 5)).unwrap();
    drop(events);
    let codecs = || async { vec![negotiated(111, opus())] };
    assert_eq!(identify(&track, Side::Caller, codecs).await, None);
}
