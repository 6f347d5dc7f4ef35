//! This node's link to Redis: the command connection, the ordered publish queue, the member id and the link's health.
//!
//! Commands go over the `redis` crate's `ConnectionManager` (it reconnects by
//! itself); every command has a short response timeout, so a Redis that is
//! down fails fast instead of holding a socket's task. Publishes are queued
//! (bounded) and sent in order by one task, pipelined: a burst costs one
//! round trip, and frames for a user leave this node in the order they were
//! made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::wire::Keys;
use crate::clock::now_ms;

/// Frames waiting to be published to Redis; when full, new ones are dropped (and counted).
pub const PUBLISH_QUEUE: usize = 65_536;
/// Publishes sent in one pipeline.
pub const PUBLISH_BATCH: usize = 512;
/// How long a Redis command may take before it counts as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1_500);
/// How long connecting to Redis may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A node that has not heard its own heartbeat through Redis for this long is cut off.
pub const CUT_OFF_AFTER: Duration = Duration::from_secs(3);

/// What cluster mode runs on.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` (never logged: it may hold a password).
    pub url: String,
    /// Every key and channel is under it.
    pub prefix: String,
    /// This node's name; each start (and each rejoin) adds a fresh incarnation.
    pub node_id: String,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// A fresh member id: the node's name and a random incarnation.
pub fn new_member(node_id: &str) -> Arc<str> {
    let inc = uuid::Uuid::new_v4().simple().to_string();
    format!("{node_id}.{}", &inc[..12]).into()
}

/// The link's health, as the subscriber and the heartbeat see it.
#[derive(Default)]
pub struct Health {
    /// The subscriber is connected and subscribed.
    pub subscribed: AtomicBool,
    /// Unix ms this node last heard its own heartbeat come back.
    pub last_echo_ms: AtomicI64,
    /// Publishes dropped because the queue was full or Redis refused them.
    pub dropped: AtomicU64,
    /// Times the subscriber (re)connected.
    pub connects: AtomicU64,
}

/// The shared link.
pub struct Link {
    pub keys: Keys,
    pub settings: RedisSettings,
    pub conn: ConnectionManager,
    member: RwLock<Arc<str>>,
    queue: flume::Sender<(String, String)>,
    pub health: Health,
}

impl Link {
    /// Connects the command connection and starts the publisher.
    pub async fn connect(settings: RedisSettings) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_REDIS_URL is not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(CONNECT_TIMEOUT * 2, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach Redis at SWITCHBOARD_REDIS_URL: timed out"))?
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at SWITCHBOARD_REDIS_URL: {e}"))?;
        let (tx, rx) = flume::bounded(PUBLISH_QUEUE);
        let link = Arc::new(Self {
            keys: Keys::new(&settings.prefix),
            member: RwLock::new(new_member(&settings.node_id)),
            settings,
            conn,
            queue: tx,
            health: Health::default(),
        });
        tokio::spawn(publisher(Arc::downgrade(&link), link.conn.clone(), rx));
        Ok(link)
    }

    /// A client for the subscriber's own connections.
    pub fn client(&self) -> redis::RedisResult<redis::Client> {
        redis::Client::open(self.settings.url.as_str())
    }

    /// This incarnation's member id.
    pub fn member(&self) -> Arc<str> {
        self.member.read().clone()
    }

    /// Takes a fresh incarnation (after this node was declared dead); returns it.
    pub fn renew_member(&self) -> Arc<str> {
        let m = new_member(&self.settings.node_id);
        *self.member.write() = m.clone();
        m
    }

    /// Queues a publish; false if the queue is full (the message is dropped).
    pub fn publish(&self, channel: String, message: String) -> bool {
        if self.queue.try_send((channel, message)).is_ok() {
            true
        } else {
            self.health.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Whether Redis is reachable as far as this node can tell: subscribed,
    /// and its own heartbeat came back recently.
    pub fn available(&self) -> bool {
        self.health.subscribed.load(Ordering::Relaxed)
            && now_ms() - self.health.last_echo_ms.load(Ordering::Relaxed) < CUT_OFF_AFTER.as_millis() as i64
    }

    /// A command connection (a cheap clone of the manager).
    pub fn cmd(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// Waits for the next message of `rx`, then takes what else is waiting, up
/// to `max` in all, into `batch` (empty on entry); false once `rx` is closed.
pub async fn next_batch<T>(rx: &flume::Receiver<T>, max: usize, batch: &mut Vec<T>) -> bool {
    let Ok(first) = rx.recv_async().await else {
        return false;
    };
    batch.push(first);
    while batch.len() < max {
        match rx.try_recv() {
            Ok(m) => batch.push(m),
            Err(_) => break,
        }
    }
    true
}

/// Sends queued publishes in order, a pipeline per burst, until the link is gone.
async fn publisher(link: std::sync::Weak<Link>, mut conn: ConnectionManager, rx: flume::Receiver<(String, String)>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while next_batch(&rx, PUBLISH_BATCH, &mut batch).await {
        let mut pipe = redis::pipe();
        for (channel, msg) in &batch {
            pipe.publish(channel, msg).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            let Some(link) = link.upgrade() else { return };
            link.health.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::warn!(error = %e, frames = batch.len(), "cannot publish to Redis; frames for other nodes dropped");
        }
        batch.clear();
    }
}
