//! A call's media room: the two participants' connections, whether media may flow, the recording, the watchdog.
//!
//! The watchdog follows each side's media while the call is ACTIVE: a side
//! whose connection failed, or from which nothing arrived for the media
//! timeout, is reported `Lost` with the time of its last packet; media
//! arriving again on that side's current connection is reported `Restored`.
//! A connection must come up within twice the media timeout of its offer,
//! and deliver media within the timeout of coming up: one that replaced
//! another (a reload, a second tab) and never does cannot hide the loss of
//! the one it replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::MediaEvent;
use super::forward::{self, Published};
use super::peer::Peer;
use super::record::Recording;
use crate::clock::now_ms;
use crate::model::Side;

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
    /// Hands an audio packet of `side`, arriving now, to the recording, if the call is recorded.
    pub fn record(&self, side: Side, pkt: &rtc::rtp::packet::Packet) {
        if let Some(rec) = &self.recording {
            rec.write(side, pkt, now_ms());
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
    /// Unix ms the call became ACTIVE here (0: not yet).
    activated_ms: AtomicI64,
    /// Per side, the last packet of connections that were replaced (Unix ms).
    earlier_media_ms: [AtomicI64; 2],
    /// Per side, media is lost (reported, not restored yet).
    lost: [AtomicBool; 2],
}

/// What the watchdog reports about one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideHealth {
    Healthy,
    /// Media stopped; the last packet was at this Unix ms.
    Lost {
        since: i64,
    },
}

/// What the watchdog sees of one side's current connection (all Unix ms; 0: never).
#[derive(Clone, Copy, Debug, Default)]
pub struct SideView {
    pub failed: bool,
    pub last_rtp: i64,
    pub seated: i64,
    /// When ICE and DTLS came up (0: not yet).
    pub connected: i64,
    /// Last packet of the side's earlier connections.
    pub earlier_media: i64,
    pub activated: i64,
}

/// Pure: whether a side's media is healthy at `now`, given the media timeout.
pub fn side_health(v: SideView, now: i64, timeout_ms: i64) -> SideHealth {
    // Connected: media is expected within the timeout of the later of the
    // last packet, the connection coming up and the call becoming active.
    // Not connected yet: the connection is expected up within twice the
    // timeout of being seated (or of the call becoming active).
    let healthy = !v.failed
        && if v.connected > 0 {
            now - v.last_rtp.max(v.connected).max(v.activated) <= timeout_ms
        } else {
            now - v.seated.max(v.activated) <= 2 * timeout_ms
        };
    if healthy {
        return SideHealth::Healthy;
    }
    let last = v.last_rtp.max(v.earlier_media);
    let since = if last > 0 { last } else { v.seated.max(v.activated) };
    SideHealth::Lost { since: since.min(now) }
}

impl Room {
    pub fn new(call_id: Arc<str>, active: bool, recording: Option<Arc<Recording>>) -> Arc<Self> {
        if active && let Some(rec) = &recording {
            rec.start(now_ms());
        }
        Arc::new(Self {
            call_id,
            state: Arc::new(RoomState {
                active: AtomicBool::new(active),
                recording,
            }),
            peers: parking_lot::Mutex::new([None, None]),
            stop: CancellationToken::new(),
            activated_ms: AtomicI64::new(if active { now_ms() } else { 0 }),
            earlier_media_ms: [AtomicI64::new(0), AtomicI64::new(0)],
            lost: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// Whether either side's media is lost now.
    pub fn media_lost(&self) -> bool {
        self.lost.iter().any(|l| l.load(Ordering::Relaxed))
    }

    pub fn peer(&self, side: Side) -> Option<Arc<Peer>> {
        self.peers.lock()[side.index()].clone()
    }

    /// Puts `peer` on its side; returns the connection it replaces, and what
    /// the other side already publishes (for `peer` to subscribe to).
    pub fn seat(&self, peer: &Arc<Peer>) -> (Option<Arc<Peer>>, Vec<Arc<Published>>) {
        peer.seated_ms.store(now_ms(), Ordering::Relaxed);
        let mut peers = self.peers.lock();
        let old = peers[peer.side.index()].replace(peer.clone());
        if let Some(old) = &old {
            self.earlier_media_ms[peer.side.index()]
                .fetch_max(old.last_rtp_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        }
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
        self.activated_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(rec) = &self.state.recording {
            rec.start(now_ms());
        }
        for side in Side::BOTH {
            self.request_keyframes_for(side).await;
        }
    }

    pub fn is_active(&self) -> bool {
        self.state.active.load(Ordering::Relaxed)
    }

    /// Closes both connections and the recording (filled to `end_ms`, the
    /// call's end, Unix ms); returns what was recorded.
    pub async fn close(&self, end_ms: i64) -> Option<super::record::Finished> {
        self.stop.cancel();
        self.state.active.store(false, Ordering::Relaxed);
        let peers: Vec<Arc<Peer>> = self.peers.lock().iter_mut().filter_map(Option::take).collect();
        for p in &peers {
            p.close().await;
            p.published.lock().clear();
        }
        match &self.state.recording {
            Some(rec) => rec.finish(end_ms).await,
            None => None,
        }
    }

    /// Watches each side's media until the room closes (see the module docs).
    pub async fn watch(self: Arc<Self>, timeout: Duration, events: tokio::sync::mpsc::UnboundedSender<MediaEvent>) {
        let mut tick = tokio::time::interval(WATCHDOG_INTERVAL);
        // Per side: when the loss was reported (Unix ms).
        let mut reported: [Option<i64>; 2] = [None, None];
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !self.is_active() {
                continue;
            }
            let now = now_ms();
            for side in Side::BOTH {
                let Some(peer) = self.peer(side) else { continue };
                let view = SideView {
                    failed: peer.failed.load(Ordering::Relaxed),
                    last_rtp: peer.last_rtp_ms.load(Ordering::Relaxed),
                    seated: peer.seated_ms.load(Ordering::Relaxed),
                    connected: peer.connected_ms.load(Ordering::Relaxed),
                    earlier_media: self.earlier_media_ms[side.index()].load(Ordering::Relaxed),
                    activated: self.activated_ms.load(Ordering::Relaxed),
                };
                let i = side.index();
                match (reported[i], side_health(view, now, timeout.as_millis() as i64)) {
                    (None, SideHealth::Lost { since }) => {
                        tracing::info!(call = %self.call_id, side = side.as_str(), since, "media lost");
                        reported[i] = Some(now);
                        self.lost[i].store(true, Ordering::Relaxed);
                        let _ = events.send(MediaEvent::Lost {
                            call_id: self.call_id.to_string(),
                            side,
                            since,
                        });
                    }
                    (Some(at), _) if !view.failed && view.last_rtp > at => {
                        tracing::info!(call = %self.call_id, side = side.as_str(), "media restored");
                        reported[i] = None;
                        self.lost[i].store(false, Ordering::Relaxed);
                        let _ = events.send(MediaEvent::Restored {
                            call_id: self.call_id.to_string(),
                            side,
                        });
                    }
                    _ => {}
                }
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
        assert_eq!(room.close(crate::clock::now_ms()).await, None);
        assert!(!room.is_active());
        room.activate().await;
        assert!(!room.is_active(), "a closed room never forwards again");
    }

    const T: i64 = 1_000_000;

    fn view(last_rtp: i64, seated: i64) -> SideView {
        SideView {
            failed: false,
            last_rtp,
            seated,
            connected: seated.max(T),
            earlier_media: 0,
            activated: T,
        }
    }

    #[test]
    fn media_flowing_is_healthy_and_silence_is_lost_since_the_last_packet() {
        assert_eq!(side_health(view(T + 9_000, T), T + 10_000, 5_000), SideHealth::Healthy);
        assert_eq!(side_health(view(T + 9_000, T), T + 14_000, 5_000), SideHealth::Healthy);
        assert_eq!(
            side_health(view(T + 9_000, T), T + 14_001, 5_000),
            SideHealth::Lost { since: T + 9_000 }
        );
    }

    #[test]
    fn a_connection_gets_the_timeout_from_coming_up_or_the_call_starting() {
        // Connected during ringing, no packet yet: the clock starts when the call is active.
        let mut v = SideView {
            connected: T - 50_000,
            ..view(0, T - 60_000)
        };
        assert_eq!(side_health(v, T + 4_000, 5_000), SideHealth::Healthy);
        assert_eq!(side_health(v, T + 6_000, 5_000), SideHealth::Lost { since: T });
        // Connected later (after a reload): the clock starts then.
        v.connected = T + 20_000;
        assert_eq!(side_health(v, T + 24_000, 5_000), SideHealth::Healthy);
        assert_eq!(side_health(v, T + 26_000, 5_000), SideHealth::Lost { since: T });
    }

    #[test]
    fn a_connection_that_never_comes_up_is_lost_after_twice_the_timeout() {
        let v = SideView {
            connected: 0,
            ..view(0, T + 1_000)
        };
        assert_eq!(
            side_health(v, T + 10_000, 5_000),
            SideHealth::Healthy,
            "ICE may take a while"
        );
        assert_eq!(side_health(v, T + 11_001, 5_000), SideHealth::Lost { since: T + 1_000 });
    }

    #[test]
    fn a_replacement_without_media_does_not_hide_the_loss_of_the_one_it_replaced() {
        // The first tab's media stopped at T+3s; a second tab was seated at T+5s and never came up.
        let v = SideView {
            earlier_media: T + 3_000,
            connected: 0,
            ..view(0, T + 5_000)
        };
        assert_eq!(
            side_health(v, T + 14_000, 5_000),
            SideHealth::Healthy,
            "still within its time"
        );
        assert_eq!(
            side_health(v, T + 15_001, 5_000),
            SideHealth::Lost { since: T + 3_000 },
            "lost since the first tab's last packet"
        );
        // Or it came up and sent nothing.
        let v = SideView {
            earlier_media: T + 3_000,
            connected: T + 6_000,
            ..view(0, T + 5_000)
        };
        assert_eq!(side_health(v, T + 11_001, 5_000), SideHealth::Lost { since: T + 3_000 });
    }

    #[test]
    fn a_failed_connection_is_lost_at_once() {
        let v = SideView {
            failed: true,
            ..view(T + 9_900, T)
        };
        assert_eq!(side_health(v, T + 10_000, 5_000), SideHealth::Lost { since: T + 9_900 });
    }
}
