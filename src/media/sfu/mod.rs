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
mod keyframe;
mod peer;
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
use self::room::Room;
use self::udpmux::{MuxRuntime, UdpMux};
use crate::call::model::Side;
use crate::cluster::Bus;
use crate::error::{Error, ErrorCode, Result};
use crate::presence::SessionId;

pub use self::udpmux::stun_local_ufrag;

/// A peer whose media stopped for this long during a call ends it (`media_failed`).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(15);
/// Default UDP port of the SFU (all connections share it).
pub const RTC_PORT: u16 = 7882;

const SIDES: [Side; 2] = [Side::Caller, Side::Callee];

fn side_index(side: Side) -> usize {
    match side {
        Side::Caller => 0,
        Side::Callee => 1,
    }
}

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
    /// A participant's connection failed or its media stopped: end the call.
    Failed { call_id: String },
    /// The call's recordings are closed: where, and how many bytes.
    Recorded { call_id: String, path: String, bytes: u64 },
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
        let (events, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(Self {
                settings,
                bus,
                mux,
                rooms: DashMap::new(),
                events,
            }),
            rx,
        ))
    }

    /// The shared UDP address clients' media goes to.
    pub fn udp_addr(&self) -> SocketAddr {
        self.mux.local_addr().unwrap_or(self.settings.bind)
    }

    /// Rooms (calls with media) open now.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// Peer connections open now.
    pub fn connections(&self) -> usize {
        self.mux.connections()
    }

    fn room(&self, info: &RoomInfo) -> Arc<Room> {
        if let Some(r) = self.rooms.get(&info.call_id) {
            return r.clone();
        }
        self.rooms
            .entry(info.call_id.clone())
            .or_insert_with(|| {
                let dir = info.record.then(|| self.settings.recording_dir.join(&info.call_id));
                let room = Room::new(info.call_id.as_str().into(), info.active, dir);
                tokio::spawn(room.clone().watch(self.settings.media_timeout, self.events.clone()));
                room
            })
            .clone()
    }

    /// A client's offer: (re)connects that participant; returns the answer SDP.
    pub async fn offer(&self, info: RoomInfo, who: PeerInfo, sdp: &str) -> Result<String> {
        let room = self.room(&info);
        let existing = room
            .peer(who.side)
            .filter(|p| p.out.session == who.session && p.pc().is_some());
        let peer = match existing {
            Some(p) => p,
            None => self.connect(&room, &info, &who).await?,
        };
        peer.offer(sdp).await
    }

    /// A new connection for `who`, replacing any earlier one of that side.
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
        let (old, existing) = room.seat(&peer);
        if let Some(old) = old {
            room.unseat(&old).await;
        }
        for publ in existing {
            forward::subscribe(&peer, &publ).await;
        }
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

    /// The call became ACTIVE: media starts flowing (no-op without a room).
    pub async fn activate(&self, call_id: &str) {
        let room = self.rooms.get(call_id).map(|r| r.clone());
        if let Some(room) = room {
            room.activate().await;
        }
    }

    /// The call ended: everything of its media is released; recordings are reported.
    pub async fn close(&self, call_id: &str) {
        let Some((_, room)) = self.rooms.remove(call_id) else {
            return;
        };
        let recorded = room.close().await;
        if let (Some(bytes), Some(dir)) = (recorded, room.state.recording_dir.as_ref()) {
            let path = dir
                .strip_prefix(&self.settings.recording_dir)
                .unwrap_or(dir)
                .to_string_lossy()
                .into_owned();
            let _ = self.events.send(MediaEvent::Recorded {
                call_id: call_id.to_owned(),
                path,
                bytes,
            });
        }
    }

    /// Where a call's recordings live.
    pub fn recording_dir(&self) -> &PathBuf {
        &self.settings.recording_dir
    }
}
