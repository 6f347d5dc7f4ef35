//! A call's media room: the two participants' connections, whether media may flow, recorders, the watchdog.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::forward::{self, Published};
use super::peer::Peer;
use super::{MediaEvent, SIDES, side_index};
use crate::call::model::Side;
use crate::clock::now_ms;
use crate::media::recording::OggRecorder;

/// How often the watchdog looks at the room's connections.
pub const WATCHDOG_INTERVAL: Duration = Duration::from_secs(1);

/// What the forwarding tasks share with the room (no connections: no cycles).
pub struct RoomState {
    /// The call is ACTIVE: media may flow (and is recorded).
    pub active: AtomicBool,
    /// One recorder per side when the call is recorded.
    recorders: Option<parking_lot::Mutex<[Option<OggRecorder>; 2]>>,
    /// Where this call's recordings go.
    pub recording_dir: Option<PathBuf>,
}

impl RoomState {
    /// Writes an audio packet of `side` to its recording, if the call is recorded.
    pub fn record(&self, side: Side, pkt: &rtc::rtp::packet::Packet) {
        let (Some(recorders), Some(dir)) = (&self.recorders, &self.recording_dir) else {
            return;
        };
        let mut r = recorders.lock();
        let slot = &mut r[side_index(side)];
        if slot.is_none() {
            let path = dir.join(format!("{}.ogg", forward::side_name(side)));
            match OggRecorder::create(&path) {
                Ok(rec) => *slot = Some(rec),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot start recording");
                    return;
                }
            }
        }
        if let Some(rec) = slot.as_mut() {
            rec.write(pkt);
        }
    }

    /// Closes the recordings; returns their total size in bytes (None: nothing recorded).
    fn finish_recordings(&self) -> Option<u64> {
        let recorders = self.recorders.as_ref()?;
        let mut total = None;
        for rec in recorders.lock().iter_mut().filter_map(Option::take) {
            match rec.finish() {
                Ok(n) => *total.get_or_insert(0) += n,
                Err(e) => tracing::warn!(error = %e, "closing a recording failed"),
            }
        }
        total
    }
}

/// One call's media.
pub struct Room {
    pub call_id: Arc<str>,
    pub state: Arc<RoomState>,
    peers: parking_lot::Mutex<[Option<Arc<Peer>>; 2]>,
    /// Stops the watchdog.
    stop: CancellationToken,
}

impl Room {
    pub fn new(call_id: Arc<str>, active: bool, recording_dir: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            call_id,
            state: Arc::new(RoomState {
                active: AtomicBool::new(active),
                recorders: recording_dir.as_ref().map(|_| parking_lot::Mutex::new([None, None])),
                recording_dir,
            }),
            peers: parking_lot::Mutex::new([None, None]),
            stop: CancellationToken::new(),
        })
    }

    pub fn peer(&self, side: Side) -> Option<Arc<Peer>> {
        self.peers.lock()[side_index(side)].clone()
    }

    /// Puts `peer` on its side; returns the connection it replaces, and what
    /// the other side already publishes (for `peer` to subscribe to).
    pub fn seat(&self, peer: &Arc<Peer>) -> (Option<Arc<Peer>>, Vec<Arc<Published>>) {
        let mut peers = self.peers.lock();
        let old = peers[side_index(peer.side)].replace(peer.clone());
        let other = peers[1 - side_index(peer.side)].clone();
        let existing = other.map(|o| o.published.lock().clone()).unwrap_or_default();
        (old, existing)
    }

    /// Records a new publication of `publisher`; returns the peer that should receive it.
    pub fn register(&self, publisher: &Arc<Peer>, publ: &Arc<Published>) -> Option<Arc<Peer>> {
        let peers = self.peers.lock();
        publisher.published.lock().push(publ.clone());
        peers[1 - side_index(publisher.side)].clone()
    }

    /// Forgets a replaced connection: its subscriptions and publications.
    pub async fn unseat(&self, old: &Arc<Peer>) {
        old.close().await;
        if let Some(other) = self.peer(other_side(old.side)) {
            let publs: Vec<_> = other.published.lock().clone();
            for p in publs {
                forward::unsubscribe(&p, old).await;
            }
        }
    }

    /// Asks the other side for keyframes (its video reaches `side`).
    pub async fn request_keyframes_for(&self, side: Side) {
        if let Some(publisher) = self.peer(other_side(side)) {
            let publs: Vec<_> = publisher.published.lock().clone();
            for p in publs {
                forward::request_keyframe(&p).await;
            }
        }
    }

    /// The call became ACTIVE: media flows from now on.
    pub async fn activate(&self) {
        self.state.active.store(true, Ordering::Relaxed);
        for side in SIDES {
            self.request_keyframes_for(side).await;
        }
    }

    /// Closes both connections and the recordings; returns the recorded bytes.
    pub async fn close(&self) -> Option<u64> {
        self.stop.cancel();
        self.state.active.store(false, Ordering::Relaxed);
        let peers: Vec<Arc<Peer>> = self.peers.lock().iter_mut().filter_map(Option::take).collect();
        for p in &peers {
            p.close().await;
            p.published.lock().clear();
        }
        self.state.finish_recordings()
    }

    /// Watches the connections until the room closes: a failed ICE/DTLS
    /// connection, or media stopped for `timeout` during the call, is reported once.
    pub async fn watch(self: Arc<Self>, timeout: Duration, events: tokio::sync::mpsc::UnboundedSender<MediaEvent>) {
        let mut tick = tokio::time::interval(WATCHDOG_INTERVAL);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let active = self.state.active.load(Ordering::Relaxed);
            let now = now_ms();
            let peers: Vec<Arc<Peer>> = self.peers.lock().iter().flatten().cloned().collect();
            let broken = peers.iter().find_map(|p| {
                if p.failed.load(Ordering::Relaxed) {
                    return Some("ICE or DTLS failed");
                }
                let last = p.last_rtp_ms.load(Ordering::Relaxed);
                (active && last > 0 && now - last > timeout.as_millis() as i64).then_some("media stopped")
            });
            if let Some(why) = broken {
                tracing::info!(call = %self.call_id, why, "media failed");
                let _ = events.send(MediaEvent::Failed {
                    call_id: self.call_id.to_string(),
                });
                return;
            }
        }
    }
}

pub fn other_side(side: Side) -> Side {
    match side {
        Side::Caller => Side::Callee,
        Side::Callee => Side::Caller,
    }
}
