//! The embedded SFU: each participant of a call holds one WebRTC connection to
//! switchboard, which forwards the other participant's audio and video to it.
//!
//! Built on the `webrtc` crate (0.21, over the sans-IO `rtc` core). Every
//! connection's ICE traffic shares one UDP port (`udpmux`). Rooms are keyed
//! by call id and live from the first `rtc.offer` of a call until it ends.
//! The SFU reports to the call layer through `MediaEvent`s (it sits below it)
//! and reaches clients through the bus.

mod candidates;
mod engine;
mod forward;
mod identify;
mod keyframe;
mod peer;
mod record;
pub mod rewrite;
mod room;
mod udpmux;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::peer_connection::RTCIceCandidateInit;

use self::peer::{Handler, Outbox, Peer};
use self::record::RecordingWriter;
use self::room::Room;
use self::udpmux::{MuxRuntime, UdpMux};
use crate::cluster::Bus;
use crate::error::{Error, ErrorCode, Result};
use crate::media::recording;
use crate::model::SessionId;
use crate::model::Side;

pub use self::udpmux::stun_local_ufrag;

/// A side from which no media arrived for this long during a call is reported lost
/// (the call then has the reconnect grace, counted from its last packet, to get it back).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(15);
/// Default UDP port of the SFU (all connections share it).
pub const RTC_PORT: u16 = 7882;

/// How the SFU runs.
#[derive(Clone, Debug)]
pub struct SfuSettings {
    /// The shared UDP socket's address (port 0: any free port).
    pub bind: SocketAddr,
    /// Announced in candidates instead of the local address (servers behind 1:1 NAT).
    pub public_ip: Option<IpAddr>,
    pub media_timeout: Duration,
    /// Root of call recordings (`<dir>/<call id>/{caller,callee}.ogg`).
    pub recording_dir: PathBuf,
}

/// What the SFU tells the call layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A side's connection failed or its media stopped; `since` is its last packet (Unix ms).
    Lost { call_id: String, side: Side, since: i64 },
    /// Media arrives again from a side reported lost.
    Restored { call_id: String, side: Side },
    /// The call's recordings are closed: where (relative to the recording
    /// root: the call id), how many bytes, and what cut them short.
    Recorded {
        call_id: String,
        path: String,
        bytes: u64,
        error: Option<String>,
    },
}

/// What the SFU needs to know of a call.
#[derive(Clone, Debug)]
pub struct RoomInfo {
    pub call_id: String,
    pub tenant_id: Arc<str>,
    pub active: bool,
    pub record: bool,
}

/// Which participant (and which of their sessions) a signaling message is from.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub side: Side,
    pub user_id: Arc<str>,
    pub session: SessionId,
}

/// The SFU.
pub struct Sfu {
    settings: SfuSettings,
    bus: Arc<dyn Bus>,
    mux: Arc<UdpMux>,
    rooms: DashMap<String, Arc<Room>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    recordings: RecordingWriter,
}

fn no_room() -> Error {
    Error::new(
        ErrorCode::MediaUnavailable,
        "no media session for this call from this device; send rtc.offer first",
    )
}

impl Sfu {
    /// Binds the shared UDP port; events for the call layer come out of the receiver.
    pub async fn start(
        settings: SfuSettings,
        bus: Arc<dyn Bus>,
        stop: CancellationToken,
    ) -> std::io::Result<(Arc<Self>, mpsc::UnboundedReceiver<MediaEvent>)> {
        let mux = UdpMux::bind(settings.bind, stop).await?;
        let recordings = RecordingWriter::start()?;
        let (events, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(Self {
                settings,
                bus,
                mux,
                rooms: DashMap::new(),
                events,
                recordings,
            }),
            rx,
        ))
    }

    /// The shared UDP address clients' media goes to.
    pub fn udp_addr(&self) -> SocketAddr {
        self.mux.local_addr().unwrap_or(self.settings.bind)
    }

    /// Rooms (calls with media) open now.
    /// Whether this node holds the call's room.
    pub fn has_room(&self, call_id: &str) -> bool {
        self.rooms.contains_key(call_id)
    }

    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// Peer connections open now.
    pub fn connections(&self) -> usize {
        self.mux.connections()
    }

    /// The call's room, created on first use. The caller's view of the call
    /// may be older than the room: a call it reports ACTIVE activates the room
    /// (its `activate` may have run before the room existed).
    async fn room(&self, info: &RoomInfo) -> Arc<Room> {
        let existing = self.rooms.get(&info.call_id).map(|r| r.clone());
        let room = match existing {
            Some(room) => room,
            None => self
                .rooms
                .entry(info.call_id.clone())
                .or_insert_with(|| {
                    let room = Room::new(info.call_id.as_str().into(), info.active, self.recording(info));
                    tokio::spawn(room.clone().watch(self.settings.media_timeout, self.events.clone()));
                    room
                })
                .clone(),
        };
        if info.active {
            room.activate().await;
        }
        room
    }

    /// Where a new room records, if its call is recorded.
    fn recording(&self, info: &RoomInfo) -> Option<Arc<record::Recording>> {
        if !info.record {
            return None;
        }
        let Some(dir) = recording::call_dir(&self.settings.recording_dir, &info.call_id) else {
            tracing::warn!(call = %info.call_id, "call id unfit for a directory name; not recorded");
            return None;
        };
        Some(self.recordings.recording(info.call_id.as_str().into(), dir))
    }

    /// `room` is still the call's room (it has not been closed).
    fn is_open(&self, room: &Arc<Room>) -> bool {
        self.rooms
            .get(&*room.call_id)
            .is_some_and(|r| Arc::ptr_eq(r.value(), room))
    }

    /// Whether a side of the call's media is lost now (no room: no).
    pub fn media_lost(&self, call_id: &str) -> bool {
        self.rooms.get(call_id).is_some_and(|r| r.media_lost())
    }

    /// A client's offer: (re)connects that participant; returns the answer SDP.
    ///
    /// An offer from the session that holds the side's connection renegotiates
    /// it. An offer from another session (a second tab, a reload) builds a new
    /// connection and answers the offer on it first: only an offer that was
    /// accepted replaces the working connection; a refused one leaves it as it was.
    pub async fn offer(&self, info: RoomInfo, who: PeerInfo, sdp: &str) -> Result<String> {
        let room = self.room(&info).await;
        if let Some(p) = room.peer(who.side).filter(|p| p.out.session == who.session) {
            return p.offer(sdp).await;
        }
        let peer = self.connect(&room, &info, &who).await?;
        let answer = match peer.offer(sdp).await {
            Ok(a) => a,
            Err(e) => {
                peer.close().await;
                return Err(e);
            }
        };
        // The call ended while connecting: its room is closed, and nothing
        // would close this connection.
        if !self.is_open(&room) {
            peer.close().await;
            return Err(Error::new(ErrorCode::CallEnded, "the call has ended"));
        }
        let (old, existing) = room.seat(&peer);
        if let Some(old) = old {
            room.unseat(&old).await;
        }
        // The other side's tracks: added now, sent in a server offer after this answer.
        for publ in existing {
            forward::subscribe(&peer, &publ).await;
        }
        Ok(answer)
    }

    /// A new, not yet seated connection for `who`.
    async fn connect(&self, room: &Arc<Room>, info: &RoomInfo, who: &PeerInfo) -> Result<Arc<Peer>> {
        let runtime = Arc::new(MuxRuntime::new(self.mux.clone(), engine::random_hex(8)));
        let peer = Peer::new(
            who.side,
            Outbox {
                bus: self.bus.clone(),
                tenant: info.tenant_id.clone(),
                user: who.user_id.clone(),
                session: who.session,
                call_id: info.call_id.as_str().into(),
            },
            runtime.clone(),
            self.settings.public_ip,
        );
        let handler = Arc::new(Handler {
            peer: Arc::downgrade(&peer),
            room: Arc::downgrade(room),
        });
        let pc = engine::build(self.settings.bind, runtime, handler)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("peer connection: {e}")))?;
        peer.set_pc(pc);
        Ok(peer)
    }

    fn peer(&self, call_id: &str, who: &PeerInfo) -> Result<Arc<Peer>> {
        let room = self.rooms.get(call_id).map(|r| r.clone()).ok_or_else(no_room)?;
        room.peer(who.side)
            .filter(|p| p.out.session == who.session)
            .ok_or_else(no_room)
    }

    /// The client's answer to a server offer.
    pub async fn answer(&self, call_id: &str, who: &PeerInfo, sdp: &str) -> Result<()> {
        self.peer(call_id, who)?.answer(sdp).await
    }

    /// A candidate trickled by the client.
    pub async fn candidate(&self, call_id: &str, who: &PeerInfo, init: RTCIceCandidateInit) -> Result<()> {
        self.peer(call_id, who)?.candidate(init).await
    }

    /// The call became ACTIVE: media starts flowing (idempotent; no-op without a room).
    pub async fn activate(&self, call_id: &str) {
        let room = self.rooms.get(call_id).map(|r| r.clone());
        if let Some(room) = room {
            room.activate().await;
        }
    }

    /// The call ended (at `ended_at`, Unix ms; None: now): everything of its
    /// media is released; recordings, filled to the end, are reported.
    pub async fn close(&self, call_id: &str, ended_at: Option<i64>) {
        let end_ms = ended_at.unwrap_or_else(crate::clock::now_ms);
        let Some((_, room)) = self.rooms.remove(call_id) else {
            return;
        };
        if let Some(done) = room.close(end_ms).await {
            let _ = self.events.send(MediaEvent::Recorded {
                call_id: call_id.to_owned(),
                path: call_id.to_owned(),
                bytes: done.bytes,
                error: done.error,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Envelope;

    struct NoBus;

    impl Bus for NoBus {
        fn publish(&self, _: Envelope) -> usize {
            0
        }
    }

    async fn sfu(recording_dir: PathBuf) -> (Arc<Sfu>, mpsc::UnboundedReceiver<MediaEvent>) {
        let settings = SfuSettings {
            bind: "127.0.0.1:0".parse().unwrap(),
            public_ip: None,
            media_timeout: MEDIA_TIMEOUT,
            recording_dir,
        };
        Sfu::start(settings, Arc::new(NoBus), CancellationToken::new())
            .await
            .unwrap()
    }

    fn info(call_id: &str, active: bool, record: bool) -> RoomInfo {
        RoomInfo {
            call_id: call_id.into(),
            tenant_id: "t".into(),
            active,
            record,
        }
    }

    #[tokio::test]
    async fn a_room_created_from_a_stale_ringing_view_is_activated_by_a_later_active_one() {
        let (sfu, _events) = sfu(std::env::temp_dir()).await;
        // `activate` ran before the room existed: a no-op.
        sfu.activate("c1").await;
        let room = sfu.room(&info("c1", false, false)).await;
        assert!(!room.is_active());
        let again = sfu.room(&info("c1", true, false)).await;
        assert!(Arc::ptr_eq(&room, &again), "one room per call");
        assert!(room.is_active(), "the call is ACTIVE: media must flow");
        // A stale RINGING view never deactivates it.
        sfu.room(&info("c1", false, false)).await;
        assert!(room.is_active());
    }

    #[tokio::test]
    async fn a_closed_room_is_no_longer_the_calls() {
        let (sfu, _events) = sfu(std::env::temp_dir()).await;
        let room = sfu.room(&info("c1", true, false)).await;
        assert!(sfu.is_open(&room));
        sfu.close("c1", None).await;
        assert!(!sfu.is_open(&room));
        assert_eq!(sfu.rooms(), 0);
        let other = sfu.room(&info("c1", true, false)).await;
        assert!(sfu.is_open(&other));
        assert!(!sfu.is_open(&room), "a new room of the same call is another room");
    }

    #[tokio::test]
    async fn a_recording_is_reported_under_the_call_id() {
        let root = tempfile::tempdir().unwrap();
        let (sfu, mut events) = sfu(root.path().to_owned()).await;
        let room = sfu.room(&info("c1", true, true)).await;
        let pkt = rtc::rtp::packet::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type: 111,
                sequence_number: 1,
                timestamp: 960,
                ssrc: 1,
                ..Default::default()
            },
            payload: bytes::Bytes::from_static(&[0xfc, 0xff, 0xfe]),
        };
        room.state.record(Side::Callee, &pkt);
        sfu.close("c1", None).await;
        let path = recording::track_path(&root.path().join("c1"), Side::Callee);
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            events.try_recv().unwrap(),
            MediaEvent::Recorded {
                call_id: "c1".into(),
                path: "c1".into(),
                bytes: size,
                error: None,
            }
        );
    }
}
