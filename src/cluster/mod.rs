//! The event bus between the call layer and the sockets, and `create`: the one switch point for local or shared fan-out and presence.
//!
//! Everything the server pushes to clients goes through `Bus::publish` as an
//! `Envelope`: a frame serialized once, addressed to a user, a session or a
//! whole tenant. The in-process bus hands it straight to this node's sockets
//! (`LocalDelivery`). The Redis bus publishes it to the other nodes too;
//! `create` is where it is chosen, with the matching `Presence`, once at
//! start-up (as LiveKit's `CreateRouter` picks a local or Redis router).

mod delivery;
mod fanout;
mod local;
mod outbound;
pub mod redis;

pub use delivery::LocalDelivery;
pub use fanout::{PRESENCE_BATCH_WINDOW, PresenceFanout};
pub use local::LocalBus;
pub use outbound::Outbound;

use std::sync::Arc;

use crate::model::SessionId;
use crate::presence::{LocalPresence, Presence};

/// Who an envelope is for, inside its tenant.
#[derive(Clone, Debug)]
pub enum Target {
    /// Every session of a user, except one (the session that acted).
    User {
        user_id: Arc<str>,
        except: Option<SessionId>,
    },
    /// One session of a user; every session if that one is gone.
    Session { user_id: Arc<str>, session: SessionId },
    /// One session of a user, or nobody (media signaling only its owner can answer).
    SessionOnly { user_id: Arc<str>, session: SessionId },
    /// Every session of the tenant.
    Tenant,
    /// Every session of the tenant whose token makes it an admin (`app_metadata.role` admin, owner or platform_admin).
    Admins,
}

/// A frame (or a batch of them) on its way to clients.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub tenant_id: Arc<str>,
    pub target: Target,
    pub frame: Outbound,
}

/// Fans frames out to sessions, wherever they are connected.
pub trait Bus: Send + Sync + 'static {
    /// Delivers without waiting; returns how many local sessions took it.
    fn publish(&self, envelope: Envelope) -> usize;
}

/// The name this node writes on the calls it owns (it changes when a
/// cluster member rejoins under a new incarnation).
pub trait Member: Send + Sync + 'static {
    fn member(&self) -> Arc<str>;
}

/// The other nodes, as the call layer needs them (cluster mode only).
pub trait Peers: Send + Sync + 'static {
    /// Whether work for `user` can be done now: Redis is reachable, or the
    /// user is connected to this node (then nothing needs another node).
    fn reachable(&self, tenant_id: &str, user_id: &str) -> bool;
    /// This node wrote `call` (created, changed or claimed it): nodes holding a copy take the row or drop it.
    fn call_changed(&self, call: &crate::model::Call);
    /// Whether a socket of the user is connected to this node.
    fn holds(&self, tenant_id: &str, user_id: &str) -> bool;
    /// Sends a request (one line) to `member` and waits for its answer;
    /// `cluster_unavailable` when it cannot be reached.
    fn request<'a>(
        &'a self,
        member: &'a str,
        body: &'a str,
    ) -> futures_util::future::BoxFuture<'a, crate::error::Result<String>>;
}

/// A single node's fixed name.
pub struct FixedMember(pub Arc<str>);

impl Member for FixedMember {
    fn member(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl Peers for redis::RedisNode {
    fn reachable(&self, tenant_id: &str, user_id: &str) -> bool {
        self.available() || self.presence.is_local(tenant_id, user_id)
    }

    fn call_changed(&self, call: &crate::model::Call) {
        self.publish_call_changed(call);
    }

    fn holds(&self, tenant_id: &str, user_id: &str) -> bool {
        self.presence.is_local(tenant_id, user_id)
    }

    fn request<'a>(
        &'a self,
        member: &'a str,
        body: &'a str,
    ) -> futures_util::future::BoxFuture<'a, crate::error::Result<String>> {
        Box::pin(redis::RedisNode::request(self, member, body))
    }
}

impl Member for redis::Link {
    fn member(&self) -> Arc<str> {
        redis::Link::member(self)
    }
}

/// The bus and the presence a node runs with.
pub struct Cluster {
    pub bus: Arc<dyn Bus>,
    pub presence: Arc<dyn Presence>,
    pub member: Arc<dyn Member>,
    /// Cluster mode: the Redis node, and what it reports.
    pub redis: Option<(
        Arc<redis::RedisNode>,
        tokio::sync::mpsc::UnboundedReceiver<redis::ClusterEvent>,
    )>,
}

/// Picks the bus and presence: in-process for one node (`node_id` names it
/// on its calls), Redis when `redis` is set.
pub async fn create<D: LocalDelivery>(
    sockets: Arc<D>,
    node_id: &str,
    redis: Option<redis::RedisSettings>,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Cluster> {
    let Some(settings) = redis else {
        return Ok(Cluster {
            bus: Arc::new(LocalBus::new(sockets)),
            presence: Arc::new(LocalPresence::default()),
            member: Arc::new(FixedMember(node_id.into())),
            redis: None,
        });
    };
    let delivery: Arc<dyn LocalDelivery> = sockets;
    let (node, events) = redis::RedisNode::start(settings, delivery.clone(), stop).await?;
    Ok(Cluster {
        bus: Arc::new(redis::RedisBus::new(node.link.clone(), delivery)),
        presence: node.presence.clone(),
        member: node.link.clone(),
        redis: Some((node, events)),
    })
}
