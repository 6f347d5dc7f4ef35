//! Forwarding: each track a participant publishes goes to the other participant, without decoding.
//!
//! One task per published track reads its RTP, records audio when the call is
//! recorded, and (once the call is ACTIVE) writes each packet to the
//! subscriber's outgoing track with the header rewritten: the subscriber leg's
//! SSRC and payload type, continuous sequence and timestamp (`rewrite`), no
//! header extensions. Keyframe requests from the subscriber go back to the
//! publisher as PLI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use tokio::sync::Mutex;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::peer::Peer;
use super::rewrite::RtpRewriter;
use super::room::{Room, RoomState};
use crate::call::model::Side;

/// Timestamp step between two sources of one forwarded stream (see `rewrite`).
const AUDIO_FRAME_TS: u32 = 960; // 20 ms at 48 kHz
const VIDEO_FRAME_TS: u32 = 3000; // 1/30 s at 90 kHz

/// A track a participant publishes.
pub struct Published {
    pub side: Side,
    pub kind: RtpCodecKind,
    pub codec: RTCRtpCodec,
    pub in_ssrc: u32,
    pub remote: Arc<dyn TrackRemote>,
    subs: Mutex<Vec<Sub>>,
}

/// One subscriber of a published track.
struct Sub {
    peer: Weak<Peer>,
    out: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    rewriter: RtpRewriter,
    /// Payload type negotiated on the subscriber's leg (read once known).
    pt: Option<u8>,
    connected: Arc<AtomicBool>,
}

fn random_ssrc() -> u32 {
    uuid::Uuid::new_v4().as_u64_pair().0 as u32
}

/// A new remote track: record it, forward it, offer it to the other side.
pub async fn publish(room: Arc<Room>, publisher: Arc<Peer>, remote: Arc<dyn TrackRemote>) {
    let Some(in_ssrc) = remote.ssrcs().await.first().copied() else {
        return;
    };
    let Some(codec) = remote.codec(in_ssrc).await else {
        return;
    };
    let kind = remote.kind().await;
    let publ = Arc::new(Published {
        side: publisher.side,
        kind,
        codec,
        in_ssrc,
        remote,
        subs: Mutex::new(Vec::new()),
    });
    // Register and look up the subscriber under the room's lock, so a peer
    // joining at the same moment subscribes exactly once.
    let subscriber = room.register(&publisher, &publ);
    tokio::spawn(forward(room.state.clone(), publ.clone(), Arc::downgrade(&publisher)));
    if let Some(sub) = subscriber {
        subscribe(&sub, &publ).await;
    }
}

/// Sends `publ` to `sub` (adds an outgoing track and renegotiates).
pub async fn subscribe(sub: &Arc<Peer>, publ: &Arc<Published>) {
    let Some(pc) = sub.pc().cloned() else { return };
    let out_ssrc = random_ssrc();
    let stream = format!("switchboard-{}", side_name(publ.side));
    let out = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream.clone(),
        format!("{stream}-{}", publ.kind),
        format!("{stream}-{}", publ.kind),
        publ.kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(out_ssrc),
                ..Default::default()
            },
            codec: publ.codec.clone(),
            ..Default::default()
        }],
    )));
    let sender = match pc.add_track(out.clone() as Arc<dyn TrackLocal>).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "add_track failed");
            return;
        }
    };
    tokio::spawn(relay_keyframe_requests(out.clone(), publ.remote.clone(), publ.in_ssrc));
    let frame_ts = if publ.kind == RtpCodecKind::Video {
        VIDEO_FRAME_TS
    } else {
        AUDIO_FRAME_TS
    };
    publ.subs.lock().await.push(Sub {
        peer: Arc::downgrade(sub),
        out,
        sender,
        rewriter: RtpRewriter::new(out_ssrc, frame_ts),
        pt: None,
        connected: sub.connected.clone(),
    });
    sub.renegotiate().await;
}

/// Drops `gone`'s subscriptions to `publ` (its connection was replaced or closed).
pub async fn unsubscribe(publ: &Published, gone: &Arc<Peer>) {
    publ.subs
        .lock()
        .await
        .retain(|s| s.peer.upgrade().is_some_and(|p| !Arc::ptr_eq(&p, gone)));
}

/// Asks the publisher of a video track for a keyframe.
pub async fn request_keyframe(publ: &Published) {
    if publ.kind == RtpCodecKind::Video {
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: publ.in_ssrc,
        };
        let _ = publ.remote.write_rtcp(vec![Box::new(pli)]).await;
    }
}

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Caller => "caller",
        Side::Callee => "callee",
    }
}

/// Subscriber's PLI/FIR → PLI to the publisher, until the subscriber's track ends.
async fn relay_keyframe_requests(out: Arc<TrackLocalStaticRTP>, remote: Arc<dyn TrackRemote>, in_ssrc: u32) {
    while let Some(event) = out.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(pkts) = event {
            let wants_keyframe = pkts.iter().any(|p| {
                let a = p.as_any();
                a.is::<PictureLossIndication>() || a.is::<FullIntraRequest>()
            });
            if wants_keyframe {
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: in_ssrc,
                };
                if remote.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The forwarding loop of one published track; ends with the publisher's connection.
async fn forward(state: Arc<RoomState>, publ: Arc<Published>, publisher: Weak<Peer>) {
    while let Some(event) = publ.remote.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = event else {
            continue;
        };
        match publisher.upgrade() {
            Some(p) => p.touch(),
            None => return,
        }
        // Media flows only once the call is ACTIVE.
        if !state.active.load(Ordering::Relaxed) {
            continue;
        }
        if publ.kind == RtpCodecKind::Audio {
            state.record(publ.side, &pkt);
        }
        let mut subs = publ.subs.lock().await;
        for s in subs.iter_mut() {
            if !s.connected.load(Ordering::Relaxed) {
                continue;
            }
            if s.pt.is_none() {
                s.pt = s.sender.get_parameters().await.ok().and_then(|p| {
                    p.rtp_parameters
                        .codecs
                        .iter()
                        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&publ.codec.mime_type))
                        .map(|c| c.payload_type)
                });
            }
            let Some(pt) = s.pt else { continue };
            let o = s
                .rewriter
                .rewrite(pkt.header.ssrc, pkt.header.sequence_number, pkt.header.timestamp);
            let mut p = pkt.clone();
            p.header.ssrc = o.ssrc;
            p.header.sequence_number = o.seq;
            p.header.timestamp = o.ts;
            p.header.payload_type = pt;
            p.header.extension = false;
            p.header.extension_profile = 0;
            p.header.extensions.clear();
            let _ = s.out.write_rtp(p).await;
        }
    }
}
