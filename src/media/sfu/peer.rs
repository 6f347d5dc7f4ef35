//! One participant's peer connection to the SFU: negotiation, trickled candidates, connection state.
//!
//! Offers are serialized per connection: the server starts in "busy" until
//! the client's first offer is answered, so it never offers while the
//! client's offer is in flight; later server offers (the other side's tracks
//! arrived) wait for the previous answer and coalesce.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use tokio::sync::Mutex;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCIceCandidateInit;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceConnectionState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription,
};

use super::candidates::{self, Rewrite};
use super::forward::Published;
use super::room::Room;
use super::udpmux::MuxRuntime;
use crate::clock::now_ms;
use crate::cluster::{Bus, Envelope, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::model::SessionId;
use crate::model::Side;
use crate::wire::views::ServerMsg;

/// Candidates a client may send before its offer; more are dropped.
pub const MAX_PENDING_CANDIDATES: usize = 64;

#[derive(Default)]
struct Negotiation {
    busy: bool,
    pending: bool,
}

/// Where a peer's signaling frames go.
pub struct Outbox {
    pub bus: Arc<dyn Bus>,
    pub tenant: Arc<str>,
    pub user: Arc<str>,
    pub session: SessionId,
    pub call_id: Arc<str>,
}

impl Outbox {
    fn send(&self, msg: ServerMsg<'_>) {
        self.bus.publish(Envelope {
            tenant_id: self.tenant.clone(),
            target: Target::SessionOnly {
                user_id: self.user.clone(),
                session: self.session,
            },
            frame: msg.to_text().into(),
        });
    }
}

/// A participant's connection.
pub struct Peer {
    pub side: Side,
    pub out: Outbox,
    pc: OnceLock<Arc<dyn PeerConnection>>,
    runtime: Arc<MuxRuntime>,
    public_ip: Option<std::net::IpAddr>,
    pending_candidates: Mutex<Vec<RTCIceCandidateInit>>,
    negotiation: Mutex<Negotiation>,
    first_mid: parking_lot::Mutex<Option<String>>,
    /// DTLS is up: forwarding to this peer may start.
    pub connected: Arc<AtomicBool>,
    /// Remote descriptions applied: forwarding looks a leg's payload type up again after each.
    pub negotiations: Arc<AtomicU64>,
    /// ICE or DTLS failed.
    pub failed: AtomicBool,
    /// Unix ms of the last RTP packet received from this peer (0: none yet).
    pub last_rtp_ms: AtomicI64,
    /// Unix ms this connection took its side's seat (0: not seated).
    pub seated_ms: AtomicI64,
    /// Unix ms ICE and DTLS first came up (0: not yet).
    pub connected_ms: AtomicI64,
    /// Tracks this peer publishes.
    pub published: parking_lot::Mutex<Vec<Arc<Published>>>,
}

fn media_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InvalidMessage, format!("{what}: {e}"))
}

impl Peer {
    pub fn new(side: Side, out: Outbox, runtime: Arc<MuxRuntime>, public_ip: Option<std::net::IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            side,
            out,
            pc: OnceLock::new(),
            runtime,
            public_ip,
            pending_candidates: Mutex::new(Vec::new()),
            negotiation: Mutex::new(Negotiation {
                busy: true,
                pending: false,
            }),
            first_mid: parking_lot::Mutex::new(None),
            connected: Arc::new(AtomicBool::new(false)),
            negotiations: Arc::new(AtomicU64::new(0)),
            failed: AtomicBool::new(false),
            last_rtp_ms: AtomicI64::new(0),
            seated_ms: AtomicI64::new(0),
            connected_ms: AtomicI64::new(0),
            published: parking_lot::Mutex::new(Vec::new()),
        })
    }

    pub fn set_pc(&self, pc: Arc<dyn PeerConnection>) {
        let _ = self.pc.set(pc);
    }

    pub fn pc(&self) -> Option<&Arc<dyn PeerConnection>> {
        self.pc.get()
    }

    fn rewrite(&self) -> Option<Rewrite> {
        let placeholder_ports = self.runtime.placeholder_ports();
        if placeholder_ports.is_empty() {
            return None;
        }
        Some(Rewrite {
            placeholder_ports,
            shared_port: self.runtime.shared_port()?,
            public_ip: self.public_ip,
        })
    }

    fn outgoing_sdp(&self, sdp: &str) -> String {
        match self.rewrite() {
            Some(rw) => candidates::sdp(sdp, &rw),
            None => sdp.to_owned(),
        }
    }

    /// The client's offer: returns the (rewritten) answer SDP.
    pub async fn offer(&self, sdp: &str) -> Result<String> {
        let pc = self.pc().ok_or_else(|| media_error("offer", "no connection"))?.clone();
        {
            // Hold the negotiation: no server offer may start while this one is handled.
            let mut n = self.negotiation.lock().await;
            // A server offer awaiting its answer (have-local-offer): glare; the client answers it first.
            if pc.pending_local_description().await.is_some() {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    "the server is renegotiating this connection; answer its rtc.offer first",
                ));
            }
            n.busy = true;
        }
        let answered = self.apply_offer(&pc, sdp).await;
        // Released on every path, or later server offers would wait forever.
        self.negotiation_done().await;
        answered
    }

    async fn apply_offer(&self, pc: &Arc<dyn PeerConnection>, sdp: &str) -> Result<String> {
        *self.first_mid.lock() = candidates::first_mid(sdp);
        let desc = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| media_error("invalid offer", e))?;
        pc.set_remote_description(desc)
            .await
            .map_err(|e| media_error("offer rejected", e))?;
        self.negotiations.fetch_add(1, Ordering::Relaxed);
        self.flush_candidates(pc).await;
        let answer = pc.create_answer(None).await.map_err(|e| media_error("answer", e))?;
        pc.set_local_description(answer.clone())
            .await
            .map_err(|e| media_error("answer", e))?;
        Ok(self.outgoing_sdp(&answer.sdp))
    }

    /// The client's answer to a server offer.
    pub async fn answer(&self, sdp: &str) -> Result<()> {
        let pc = self.pc().ok_or_else(|| media_error("answer", "no connection"))?.clone();
        let desc = RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| media_error("invalid answer", e))?;
        pc.set_remote_description(desc)
            .await
            .map_err(|e| media_error("answer rejected", e))?;
        self.negotiations.fetch_add(1, Ordering::Relaxed);
        self.flush_candidates(&pc).await;
        self.negotiation_done().await;
        Ok(())
    }

    /// A candidate trickled by the client (buffered until its offer arrived).
    pub async fn candidate(&self, init: RTCIceCandidateInit) -> Result<()> {
        if init.candidate.is_empty() {
            return Ok(()); // end of candidates
        }
        let pc = self
            .pc()
            .ok_or_else(|| media_error("candidate", "no connection"))?
            .clone();
        if pc.remote_description().await.is_none() {
            let mut pending = self.pending_candidates.lock().await;
            if pending.len() < MAX_PENDING_CANDIDATES {
                pending.push(init);
            }
            return Ok(());
        }
        pc.add_ice_candidate(init)
            .await
            .map_err(|e| media_error("candidate rejected", e))
    }

    async fn flush_candidates(&self, pc: &Arc<dyn PeerConnection>) {
        let pending: Vec<_> = self.pending_candidates.lock().await.drain(..).collect();
        for c in pending {
            if let Err(e) = pc.add_ice_candidate(c).await {
                tracing::debug!(error = %e, "buffered candidate rejected");
            }
        }
    }

    /// Offers again (the other side's tracks arrived), once the previous round is done.
    pub async fn renegotiate(&self) {
        {
            let mut n = self.negotiation.lock().await;
            if n.busy {
                n.pending = true;
                return;
            }
            n.busy = true;
        }
        self.send_offer().await;
    }

    async fn send_offer(&self) {
        let Some(pc) = self.pc().cloned() else { return };
        let offered = async {
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer.clone()).await?;
            webrtc::error::Result::Ok(offer)
        }
        .await;
        match offered {
            Ok(offer) => {
                let sdp = self.outgoing_sdp(&offer.sdp);
                self.out.send(ServerMsg::RtcOffer {
                    call_id: &self.out.call_id,
                    sdp: &sdp,
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "server offer failed");
                self.negotiation.lock().await.busy = false;
            }
        }
    }

    async fn negotiation_done(&self) {
        let again = {
            let mut n = self.negotiation.lock().await;
            if n.pending {
                n.pending = false;
                true
            } else {
                n.busy = false;
                false
            }
        };
        if again {
            self.send_offer().await;
        }
    }

    fn send_candidate(&self, mut init: RTCIceCandidateInit) {
        // webrtc 0.21 leaves sdpMid empty; browsers want the bundled m-line's mid.
        init.sdp_mid = self.first_mid.lock().clone().or(init.sdp_mid);
        init.sdp_mline_index = Some(0);
        if let Some(rw) = self.rewrite() {
            init.candidate = candidates::candidate(&init.candidate, &rw);
        }
        if let Ok(raw) = serde_json::value::to_raw_value(&init) {
            self.out.send(ServerMsg::RtcCandidate {
                call_id: &self.out.call_id,
                candidate: &raw,
            });
        }
    }

    pub fn touch(&self) {
        self.last_rtp_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Closes the connection (idempotent).
    pub async fn close(&self) {
        self.connected.store(false, Ordering::Relaxed);
        if let Some(pc) = self.pc()
            && let Err(e) = pc.close().await
        {
            tracing::debug!(error = %e, "peer connection close");
        }
    }
}

/// Connection events, delivered on the connection's own task: hold only weak
/// references, and hand real work to other tasks.
pub struct Handler {
    pub peer: Weak<Peer>,
    pub room: Weak<Room>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Some(peer) = self.peer.upgrade() else { return };
        if let Ok(init) = event.candidate.to_json() {
            peer.send_candidate(init);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Failed
            && let Some(peer) = self.peer.upgrade()
        {
            peer.failed.store(true, Ordering::Relaxed);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let Some(peer) = self.peer.upgrade() else { return };
        peer.connected
            .store(state == RTCPeerConnectionState::Connected, Ordering::Relaxed);
        match state {
            RTCPeerConnectionState::Connected => {
                let _ = peer
                    .connected_ms
                    .compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
                // A subscriber that just came up wants a keyframe of what it receives.
                if let Some(room) = self.room.upgrade() {
                    tokio::spawn(async move { room.request_keyframes_for(peer.side).await });
                }
            }
            RTCPeerConnectionState::Failed => {
                peer.failed.store(true, Ordering::Relaxed);
                // A failed connection does not stop by itself.
                tokio::spawn(async move { peer.close().await });
            }
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (Some(peer), Some(room)) = (self.peer.upgrade(), self.room.upgrade()) else {
            return;
        };
        tokio::spawn(super::forward::publish(room, peer, track));
    }
}
