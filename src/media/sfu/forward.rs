//! Forwarding: each track a participant publishes goes to the other participant, without decoding.
//!
//! One task per published track reads its RTP, records audio when the call is
//! recorded, and (once the call is ACTIVE) writes each packet to the
//! subscriber's outgoing track with the header rewritten: the subscriber leg's
//! SSRC and payload type, continuous sequence and timestamp (`rewrite`), no
//! header extensions. Keyframe requests from the subscriber of a video track
//! go back to the publisher as PLI. When the publisher's connection is
//! replaced, its tracks are withdrawn from the subscriber's connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::header::Header;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::identify;
use super::peer::Peer;
use super::rewrite::RtpRewriter;
use super::room::{Room, RoomState};
use crate::model::Side;

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
    subs: Mutex<Subscribers>,
}

#[derive(Default)]
struct Subscribers {
    list: Vec<Sub>,
    /// The publisher's connection was replaced: no new subscriber.
    withdrawn: bool,
}

/// One subscriber of a published track.
struct Sub {
    peer: Weak<Peer>,
    out: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    rewriter: RtpRewriter,
    /// The payload type on the subscriber's leg as last looked up.
    pt: PtCache,
    /// Remote descriptions the subscriber's connection applied (see `Peer`).
    negotiations: Arc<AtomicU64>,
    connected: Arc<AtomicBool>,
    /// The keyframe-request relay (video only).
    relay: Option<AbortHandle>,
}

impl Drop for Sub {
    fn drop(&mut self) {
        if let Some(relay) = &self.relay {
            relay.abort();
        }
    }
}

/// A payload-type lookup and the negotiation round it was made in. A codec
/// missing on the leg is cached too; either is looked up again only after
/// the subscriber's connection applies a new remote description.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PtCache(Option<(u64, Option<u8>)>);

impl PtCache {
    /// The cached result, if it is from negotiation round `round`.
    fn get(self, round: u64) -> Option<Option<u8>> {
        self.0.filter(|(r, _)| *r == round).map(|(_, pt)| pt)
    }
}

/// The payload type `mime` has among a leg's codecs.
fn negotiated_pt(codecs: &[RTCRtpCodecParameters], mime: &str) -> Option<u8> {
    codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

/// Forwarded packets carry no header extensions (their ids are the publisher leg's).
fn strip_extensions(h: &mut Header) {
    h.extension = false;
    h.extension_profile = 0;
    h.extensions.clear();
}

fn random_ssrc() -> u32 {
    uuid::Uuid::new_v4().as_u64_pair().0 as u32
}

/// Asks the publisher of `in_ssrc` for a keyframe; false if its connection is gone.
async fn send_pli(remote: &dyn TrackRemote, in_ssrc: u32) -> bool {
    let pli = PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc: in_ssrc,
    };
    remote.write_rtcp(vec![Box::new(pli)]).await.is_ok()
}

/// A new remote track: record it, forward it, offer it to the other side.
pub async fn publish(room: Arc<Room>, publisher: Arc<Peer>, remote: Arc<dyn TrackRemote>) {
    let codecs = || identify::receiver_codecs(&publisher, &remote);
    let Some((in_ssrc, codec)) = identify::identify(remote.as_ref(), publisher.side, codecs).await else {
        tracing::warn!(call = %room.call_id, side = publisher.side.as_str(), "a remote track ended before its codec was known; not forwarded");
        return;
    };
    let kind = remote.kind().await;
    let publ = Arc::new(Published {
        side: publisher.side,
        kind,
        codec,
        in_ssrc,
        remote,
        subs: Mutex::new(Subscribers::default()),
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
    let stream = format!("switchboard-{}", publ.side.as_str());
    // Unique per subscription: the connection keys a track's feedback by its id.
    let track = format!("{stream}-{}-{out_ssrc:08x}", publ.kind);
    let out = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream,
        track.clone(),
        track,
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
    let (frame_ts, relay) = if publ.kind == RtpCodecKind::Video {
        let relay = tokio::spawn(relay_keyframe_requests(out.clone(), publ.remote.clone(), publ.in_ssrc));
        (VIDEO_FRAME_TS, Some(relay.abort_handle()))
    } else {
        (AUDIO_FRAME_TS, None)
    };
    {
        let mut subs = publ.subs.lock().await;
        if subs.withdrawn {
            // The publisher was replaced while the track was being added.
            drop(subs);
            if let Some(relay) = relay {
                relay.abort();
            }
            if let Err(e) = pc.remove_track(&sender).await {
                tracing::debug!(error = %e, "remove_track of a withdrawn track");
            }
            return;
        }
        subs.list.push(Sub {
            peer: Arc::downgrade(sub),
            out,
            sender,
            rewriter: RtpRewriter::new(out_ssrc, frame_ts),
            pt: PtCache::default(),
            negotiations: sub.negotiations.clone(),
            connected: sub.connected.clone(),
            relay,
        });
    }
    sub.renegotiate().await;
}

/// Drops `gone`'s subscriptions to `publ` (its connection was replaced or closed).
pub async fn unsubscribe(publ: &Published, gone: &Arc<Peer>) {
    publ.subs
        .lock()
        .await
        .list
        .retain(|s| s.peer.upgrade().is_some_and(|p| !Arc::ptr_eq(&p, gone)));
}

/// The publisher of `publ` is gone: removes the track from every
/// subscriber's connection and stops its relay. Returns the subscribers,
/// which need a new offer.
pub async fn withdraw(publ: &Published) -> Vec<Arc<Peer>> {
    let subs = {
        let mut s = publ.subs.lock().await;
        s.withdrawn = true;
        std::mem::take(&mut s.list)
    };
    let mut peers = Vec::new();
    for sub in subs {
        let Some(peer) = sub.peer.upgrade() else { continue };
        if let Some(pc) = peer.pc()
            && let Err(e) = pc.remove_track(&sub.sender).await
        {
            tracing::debug!(error = %e, "remove_track");
        }
        peers.push(peer);
    }
    peers
}

/// Asks the publisher of a video track for a keyframe.
pub async fn request_keyframe(publ: &Published) {
    if publ.kind == RtpCodecKind::Video {
        send_pli(publ.remote.as_ref(), publ.in_ssrc).await;
    }
}

/// Subscriber's keyframe request → PLI to the publisher, until the
/// subscriber's track ends. The `keyframe` interceptor passes only PLI and
/// FIR up to here, so every event is one.
async fn relay_keyframe_requests(out: Arc<TrackLocalStaticRTP>, remote: Arc<dyn TrackRemote>, in_ssrc: u32) {
    while let Some(event) = out.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(_) = event
            && !send_pli(remote.as_ref(), in_ssrc).await
        {
            return;
        }
    }
}

/// The forwarding loop of one published track; ends with the publisher's connection.
async fn forward(state: Arc<RoomState>, publ: Arc<Published>, publisher: Weak<Peer>) {
    while let Some(event) = publ.remote.poll().await {
        let TrackRemoteEvent::OnRtpPacket(mut pkt) = event else {
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
        // Once here, so neither the recording nor each subscriber's copy carries them.
        strip_extensions(&mut pkt.header);
        if publ.kind == RtpCodecKind::Audio {
            state.record(publ.side, &pkt);
        }
        let mut subs = publ.subs.lock().await;
        for s in subs.list.iter_mut() {
            if !s.connected.load(Ordering::Relaxed) {
                continue;
            }
            let round = s.negotiations.load(Ordering::Relaxed);
            let pt = match s.pt.get(round) {
                Some(pt) => pt,
                None => {
                    let pt = s
                        .sender
                        .get_parameters()
                        .await
                        .ok()
                        .and_then(|p| negotiated_pt(&p.rtp_parameters.codecs, &publ.codec.mime_type));
                    s.pt = PtCache(Some((round, pt)));
                    pt
                }
            };
            let Some(pt) = pt else { continue };
            let o = s
                .rewriter
                .rewrite(pkt.header.ssrc, pkt.header.sequence_number, pkt.header.timestamp);
            let mut p = pkt.clone();
            p.header.ssrc = o.ssrc;
            p.header.sequence_number = o.seq;
            p.header.timestamp = o.ts;
            p.header.payload_type = pt;
            let _ = s.out.write_rtp(p).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(mime: &str, pt: u8) -> RTCRtpCodecParameters {
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.into(),
                ..Default::default()
            },
            payload_type: pt,
        }
    }

    #[test]
    fn the_payload_type_is_the_legs_and_a_missing_codec_is_none() {
        let codecs = [codec("video/VP8", 96), codec("video/H264", 102)];
        assert_eq!(negotiated_pt(&codecs, "video/h264"), Some(102));
        assert_eq!(negotiated_pt(&codecs, "video/VP8"), Some(96));
        assert_eq!(negotiated_pt(&codecs, "audio/opus"), None);
        assert_eq!(negotiated_pt(&[], "audio/opus"), None);
    }

    #[test]
    fn a_lookup_holds_until_the_next_negotiation_missing_codec_included() {
        assert_eq!(PtCache::default().get(0), None, "nothing looked up yet");
        let found = PtCache(Some((3, Some(111))));
        assert_eq!(found.get(3), Some(Some(111)));
        assert_eq!(found.get(4), None, "renegotiated: look again");
        let missing = PtCache(Some((3, None)));
        assert_eq!(missing.get(3), Some(None), "not negotiated: no lookup per packet");
        assert_eq!(missing.get(4), None);
    }

    #[test]
    fn stripping_removes_every_extension() {
        let mut h = Header::default();
        h.set_extension(1, bytes::Bytes::from_static(&[1, 2])).unwrap();
        assert!(h.extension);
        strip_extensions(&mut h);
        assert!(!h.extension);
        assert_eq!(h.extension_profile, 0);
        assert!(h.extensions.is_empty());
    }
}
