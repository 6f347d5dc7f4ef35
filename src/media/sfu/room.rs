//! A call's media room: the two participants' connections, whether media may flow, the recording, the watchdog.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::MediaEvent;
use super::forward::{self, Published};
use super::peer::Peer;
use super::record::Recording;
use crate::call::model::Side;
use crate::clock::now_ms;

/// How often the watchdog looks at the room's connections.
pub const WATCHDOG_INTERVAL: Duration = Duration::from_secs(1);

/// What the forwarding tasks share with the room (no connections: no cycles).
pub struct RoomState {
    /// The call is ACTIVE: media may flow (and is recorded).
    pub active: AtomicBool,
    /// Where the call's audio goes, when it is recorded.
    pub recording: Option<Arc<Recording>>,
}

impl RoomState {
    /// Hands an audio packet of `side` to the recording, if the call is recorded.
    pub fn record(&self, side: Side, pkt: &rtc::rtp::packet::Packet) {
        if let Some(rec) = &self.recording {
            rec.write(side, pkt);
        }
    }
}

/// One call's media.
pub struct Room {
    pub call_id: Arc<str>,
    pub state: Arc<RoomState>,
    peers: parking_lot::Mutex<[Option<Arc<Peer>>; 2]>,
    /// Stops the watchdog; cancelled when the room closes.
    stop: CancellationToken,
}

impl Room {
    pub fn new(call_id: Arc<str>, active: bool, recording: Option<Arc<Recording>>) -> Arc<Self> {
        Arc::new(Self {
            call_id,
            state: Arc::new(RoomState {
                active: AtomicBool::new(active),
                recording,
            }),
            peers: parking_lot::Mutex::new([None, None]),
            stop: CancellationToken::new(),
        })
    }

    pub fn peer(&self, side: Side) -> Option<Arc<Peer>> {
        self.peers.lock()[side.index()].clone()
    }

    /// Puts `peer` on its side; returns the connection it replaces, and what
    /// the other side already publishes (for `peer` to subscribe to).
    pub fn seat(&self, peer: &Arc<Peer>) -> (Option<Arc<Peer>>, Vec<Arc<Published>>) {
        let mut peers = self.peers.lock();
        let old = peers[peer.side.index()].replace(peer.clone());
        let other = peers[peer.side.other().index()].clone();
        let existing = other.map(|o| o.published.lock().clone()).unwrap_or_default();
        (old, existing)
    }

    /// Records a new publication of `publisher`; returns the peer that should
    /// receive it. Nothing for a publisher no longer seated (replaced meanwhile).
    pub fn register(&self, publisher: &Arc<Peer>, publ: &Arc<Published>) -> Option<Arc<Peer>> {
        let peers = self.peers.lock();
        let seated = peers[publisher.side.index()]
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, publisher));
        if !seated {
            return None;
        }
        publisher.published.lock().push(publ.clone());
        peers[publisher.side.other().index()].clone()
    }

    /// Forgets a replaced connection: closes it, withdraws what it published
    /// from the other participant's connection (renegotiating it), and drops
    /// its subscriptions.
    pub async fn unseat(&self, old: &Arc<Peer>) {
        old.close().await;
        let published: Vec<_> = std::mem::take(&mut *old.published.lock());
        let mut renegotiate: Vec<Arc<Peer>> = Vec::new();
        for p in &published {
            for sub in forward::withdraw(p).await {
                if !renegotiate.iter().any(|r| Arc::ptr_eq(r, &sub)) {
                    renegotiate.push(sub);
                }
            }
        }
        for sub in renegotiate {
            sub.renegotiate().await;
        }
        if let Some(other) = self.peer(old.side.other()) {
            let publs: Vec<_> = other.published.lock().clone();
            for p in publs {
                forward::unsubscribe(&p, old).await;
            }
        }
    }

    /// Takes `peer` out of its seat if it still holds it, and closes it.
    pub async fn remove(&self, peer: &Arc<Peer>) {
        {
            let mut peers = self.peers.lock();
            let slot = &mut peers[peer.side.index()];
            if slot.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer)) {
                *slot = None;
            }
        }
        peer.close().await;
    }

    /// Asks the other side for keyframes (its video reaches `side`).
    pub async fn request_keyframes_for(&self, side: Side) {
        if let Some(publisher) = self.peer(side.other()) {
            let publs: Vec<_> = publisher.published.lock().clone();
            for p in publs {
                forward::request_keyframe(&p).await;
            }
        }
    }

    /// The call is ACTIVE: media flows from now on. The first time, both
    /// sides are asked for a keyframe; later calls change nothing.
    pub async fn activate(&self) {
        if self.stop.is_cancelled() || self.state.active.swap(true, Ordering::Relaxed) {
            return;
        }
        for side in Side::BOTH {
            self.request_keyframes_for(side).await;
        }
    }

    pub fn is_active(&self) -> bool {
        self.state.active.load(Ordering::Relaxed)
    }

    /// Closes both connections and the recording; returns the recorded bytes.
    pub async fn close(&self) -> Option<u64> {
        self.stop.cancel();
        self.state.active.store(false, Ordering::Relaxed);
        let peers: Vec<Arc<Peer>> = self.peers.lock().iter_mut().filter_map(Option::take).collect();
        for p in &peers {
            p.close().await;
            p.published.lock().clear();
        }
        match &self.state.recording {
            Some(rec) => rec.finish().await,
            None => None,
        }
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
            let active = self.is_active();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn activation_is_idempotent_and_a_closed_room_stays_inactive() {
        let room = Room::new("c".into(), false, None);
        assert!(!room.is_active());
        room.activate().await;
        assert!(room.is_active());
        room.activate().await;
        assert!(room.is_active());
        assert_eq!(room.close().await, None);
        assert!(!room.is_active());
        room.activate().await;
        assert!(!room.is_active(), "a closed room never forwards again");
    }
}
