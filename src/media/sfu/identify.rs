//! What a published track carries (its SSRC and codec), also when webrtc opens it without its codec.
//!
//! The track names both when it opens, except when its connection applied a
//! remote description between the track's first packet and its creation:
//! webrtc 0.21 then copies a coding whose codec is not set yet, never fills
//! it in, and never fires `on_track` again. Then both come from the packets:
//! the SSRC from the header, the codec from the payload type among the
//! receiver's negotiated codecs.

use std::future::Future;
use std::sync::Arc;

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::peer::Peer;
use crate::model::Side;

/// The codec `pt` names among a leg's negotiated codecs (never one without a MIME type).
pub fn codec_of(codecs: &[RTCRtpCodecParameters], pt: u8) -> Option<RTCRtpCodec> {
    codecs
        .iter()
        .find(|c| c.payload_type == pt && !c.rtp_codec.mime_type.is_empty())
        .map(|c| c.rtp_codec.clone())
}

/// The negotiated codecs of the publisher's receiver whose track is `remote`.
pub async fn receiver_codecs(publisher: &Peer, remote: &Arc<dyn TrackRemote>) -> Vec<RTCRtpCodecParameters> {
    let Some(pc) = publisher.pc() else { return Vec::new() };
    // The address alone (a `dyn` pointer's vtable part may differ between codegen units).
    let target = Arc::as_ptr(remote) as *const () as usize;
    for t in pc.get_transceivers().await {
        let Ok(Some(receiver)) = t.receiver().await else {
            continue;
        };
        if Arc::as_ptr(receiver.track()) as *const () as usize == target {
            return receiver
                .get_parameters()
                .await
                .map(|p| p.rtp_parameters.codecs)
                .unwrap_or_default();
        }
    }
    Vec::new()
}

/// The SSRC and codec `remote` carries: the track's own, else from its
/// packets with `codecs` (the leg's negotiated codecs, asked again each
/// time the stream is bound anew). None once the track ends unidentified.
pub async fn identify<F, Fut>(remote: &dyn TrackRemote, side: Side, codecs: F) -> Option<(u32, RTCRtpCodec)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<RTCRtpCodecParameters>>,
{
    if let Some(ssrc) = remote.ssrcs().await.first().copied()
        && let Some(codec) = remote.codec(ssrc).await
    {
        return Some((ssrc, codec));
    }
    tracing::debug!(
        side = side.as_str(),
        "remote track opened without its codec; resolving it from its packets"
    );
    let mut known = codecs().await;
    while let Some(event) = remote.poll().await {
        match event {
            // The stream was bound again (after a renegotiation): the leg's codecs may have changed.
            TrackRemoteEvent::OnOpen(_) => known = codecs().await,
            TrackRemoteEvent::OnRtpPacket(pkt) => {
                if let Some(codec) = codec_of(&known, pkt.header.payload_type) {
                    return Some((pkt.header.ssrc, codec));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[path = "identify_tests.rs"]
mod tests;
