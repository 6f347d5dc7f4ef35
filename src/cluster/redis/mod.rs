//! Cluster mode on Redis: the node (link, subscriber, presence, liveness) and what it tells the layers above.
//!
//! Redis carries fan-out and presence; PostgreSQL stays the authority for
//! calls. `start` connects, subscribes and begins beating; the node's
//! `ClusterEvent`s (users lost with a dead node, dead members whose calls
//! need a new owner, this node's own eviction, a resync after Redis came
//! back) are consumed by the application, which owns the call layer.

mod bus;
mod fields;
mod link;
mod liveness;
mod presence;
mod replica;
mod rpc;
mod subscriber;
pub mod wire;

pub use bus::RedisBus;
pub use link::{COMMAND_TIMEOUT, CUT_OFF_AFTER, Link, PUBLISH_QUEUE, RedisSettings};
pub use liveness::{HEARTBEAT_INTERVAL, NODE_DEAD_AFTER, REAPED_TTL};
pub use presence::{LostUser, RedisPresence, SESSION_TTL_MS};
pub use rpc::{RPC_TIMEOUT, RpcHandler};
pub use subscriber::SUBSCRIBE_TIMEOUT;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::LocalDelivery;
use crate::clock::now_ms;
use crate::model::Call;

/// What the node tells the application.
#[derive(Debug)]
pub enum ClusterEvent {
    /// Users offline everywhere because the member holding them died (this node reaped it).
    UsersLost(Vec<LostUser>),
    /// A member died: open calls it owned need a new owner.
    MemberDead(Arc<str>),
    /// This node was declared dead while away (paused, cut off): it has a new
    /// member id, its sessions were reaped, so its sockets must close.
    Evicted { old: Arc<str>, new: Arc<str> },
    /// Redis came back and presence was written back and reloaded: push the tenants' agents again.
    Resynced,
    /// Another node changed this call (`ended`: to a final status): refresh or
    /// drop any copy held here. `row` is the call as written (absent if it
    /// did not decode: then the copy is only marked stale).
    CallChanged {
        call_id: String,
        ended: bool,
        row: Option<Box<Call>>,
    },
}

/// A node in cluster mode.
pub struct RedisNode {
    pub link: Arc<Link>,
    pub presence: Arc<RedisPresence>,
    subs: subscriber::Subscriptions,
    sockets: Arc<dyn LocalDelivery>,
    events: mpsc::UnboundedSender<ClusterEvent>,
    pub(crate) rpc: rpc::Rpc,
    stop: CancellationToken,
}

/// The node as the subscriber's inbox (a weak link: the node owns the subscriber).
struct NodeInbox(std::sync::Weak<RedisNode>);

impl subscriber::Inbox for NodeInbox {
    fn message(&self, payload: &str) {
        if let Some(n) = self.0.upgrade() {
            n.message(payload);
        }
    }

    fn resubscribed(&self) {
        if let Some(n) = self.0.upgrade() {
            tokio::spawn(async move { n.resync().await });
        }
    }
}

impl RedisNode {
    /// Connects to Redis and starts the subscriber and the heartbeat.
    pub async fn start(
        settings: RedisSettings,
        sockets: Arc<dyn LocalDelivery>,
        stop: CancellationToken,
    ) -> anyhow::Result<(Arc<Self>, mpsc::UnboundedReceiver<ClusterEvent>)> {
        let link = Link::connect(settings).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let me = link.member();
        let node = Arc::new_cyclic(|weak: &std::sync::Weak<RedisNode>| {
            let inbox = Arc::new(NodeInbox(weak.clone()));
            let subs = subscriber::start(
                link.clone(),
                vec![link.keys.cluster_channel(), link.keys.node_channel(&me)],
                inbox,
                stop.clone(),
            );
            RedisNode {
                presence: RedisPresence::new(link.clone(), subs.clone()),
                link: link.clone(),
                subs,
                sockets,
                events: tx,
                rpc: rpc::Rpc::default(),
                stop: stop.clone(),
            }
        });
        // Up when the subscriber has heard this node's first heartbeat (or after a bounded wait).
        tokio::spawn(liveness::run(node.clone()));
        let deadline = tokio::time::Instant::now() + CUT_OFF_AFTER;
        while !node.link.available() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if !node.link.available() {
            anyhow::bail!("Redis at SWITCHBOARD_REDIS_URL answers commands but its pub/sub does not deliver");
        }
        tracing::info!(member = %node.link.member(), prefix = node.link.keys.prefix(), "cluster mode: joined");
        Ok((node, rx))
    }

    pub(super) fn emit(&self, e: ClusterEvent) {
        let _ = self.events.send(e);
    }

    /// This node's member id (node id and incarnation).
    pub fn member(&self) -> Arc<str> {
        self.link.member()
    }

    /// Whether cross-node work can be done now.
    pub fn available(&self) -> bool {
        self.link.available()
    }

    /// Publishes dropped so far (queue full or Redis refused).
    pub fn dropped(&self) -> u64 {
        self.link.health.dropped.load(Ordering::Relaxed)
    }

    /// Times the subscriber connected.
    pub fn connects(&self) -> u64 {
        self.link.health.connects.load(Ordering::Relaxed)
    }

    /// Which of `members` still beat.
    pub async fn alive(&self, members: &[String]) -> redis::RedisResult<Vec<bool>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for m in members {
            pipe.exists(self.link.keys.alive(m));
        }
        let mut conn = self.link.cmd();
        pipe.query_async(&mut conn).await
    }

    fn message(&self, payload: &str) {
        let Some((h, rest)) = wire::decode(payload) else {
            return;
        };
        let me = self.link.member();
        match &*h.k {
            "hb" if h.o.as_deref() == Some(&*me) => {
                self.link.health.last_echo_ms.store(now_ms(), Ordering::Relaxed);
            }
            "t" | "a" | "u" if h.o.as_deref() != Some(&*me) => {
                bus::deliver(&*self.sockets, &h, rest);
            }
            "p" => {
                self.presence.apply_message(&h, None);
            }
            "dead" => {
                if let Some(m) = h.m
                    && h.o.as_deref() != Some(&*me)
                    && *m != *me
                {
                    self.emit(ClusterEvent::MemberDead(m.into()));
                }
            }
            "rq" | "rs" => self.rpc.message(self, &h, rest),
            "c" => {
                if let Some(call) = h.call
                    && h.o.as_deref() != Some(&*me)
                {
                    let row = wire::frames(rest)
                        .next()
                        .and_then(|line| serde_json::from_str::<Call>(line).ok())
                        .filter(|row| row.id == *call)
                        .map(Box::new);
                    self.emit(ClusterEvent::CallChanged {
                        call_id: call.into_owned(),
                        ended: h.fin,
                        row,
                    });
                }
            }
            _ => {}
        }
    }

    /// Tells the other nodes that this node wrote `call`, with the row as
    /// written: a node holding a copy takes it instead of reading the store.
    pub fn publish_call_changed(&self, call: &Call) {
        let me = self.link.member();
        let header = wire::Header {
            k: "c".into(),
            o: Some((&*me).into()),
            call: Some(call.id.as_str().into()),
            fin: call.status.is_final(),
            ..wire::Header::default()
        };
        let row = serde_json::to_string(call).unwrap_or_default();
        self.link
            .publish(self.link.keys.cluster_channel(), wire::encode(&header, &[row.as_str()]));
    }

    /// After a reconnect: write this node's presence back, reload everyone's, tell the application.
    async fn resync(self: Arc<Self>) {
        match self.presence.resync().await {
            Ok(changed) => {
                tracing::info!(changed = changed.len(), "presence resynced with Redis");
                self.emit(ClusterEvent::Resynced);
            }
            Err(e) => tracing::warn!(error = %e, "presence resync failed; retried on the next reconnect"),
        }
    }

    /// This member was reaped while away: forget its sessions, take a new id, tell the application.
    async fn evicted(&self) {
        let old = self.link.member();
        self.presence.forget_mine();
        let new = self.link.renew_member();
        self.subs.unsubscribe(self.link.keys.node_channel(&old));
        self.subs.subscribe(self.link.keys.node_channel(&new)).await;
        tracing::warn!(%old, %new, "this node was declared dead while away; rejoined under a new incarnation");
        self.emit(ClusterEvent::Evicted { old, new });
    }
}
