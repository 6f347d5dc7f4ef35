//! The subscriber: one pub/sub connection, its channels, and its watchdog (reconnect, resubscribe, tell the node to resync).
//!
//! The channels wanted are kept here, so a new connection subscribes all of
//! them. Subscribe and unsubscribe requests run in order on one task per
//! connection, and a subscribe is confirmed before its caller goes on. The
//! connection counts as wedged when this node's own heartbeat has not come
//! back through it for `CUT_OFF_AFTER`: it is dropped and made again.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::link::{CUT_OFF_AFTER, Link};
use crate::clock::now_ms;

/// How long a subscribe may wait for Redis's confirmation before its caller goes on without it.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// First wait before reconnecting; it doubles up to `RECONNECT_MAX`.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
pub const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How often the watchdog looks at the connection.
pub const WATCHDOG_TICK: Duration = Duration::from_millis(250);

enum SubCmd {
    Sub(String, Option<oneshot::Sender<bool>>),
    Unsub(String),
}

/// The channels this node wants, and the way to ask for more.
#[derive(Clone)]
pub struct Subscriptions {
    wanted: Arc<Mutex<HashSet<String>>>,
    tx: flume::Sender<SubCmd>,
    link: Arc<Link>,
}

impl Subscriptions {
    /// Subscribes (waiting for Redis to confirm, up to `SUBSCRIBE_TIMEOUT`); false if it did not.
    /// While disconnected it only notes the channel (the next connection subscribes it) and returns false at once.
    pub async fn subscribe(&self, channel: String) -> bool {
        self.wanted.lock().insert(channel.clone());
        if !self.up() {
            return false;
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(SubCmd::Sub(channel, Some(tx))).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(SUBSCRIBE_TIMEOUT, rx).await, Ok(Ok(true)))
    }

    pub fn unsubscribe(&self, channel: String) {
        self.wanted.lock().remove(&channel);
        if self.up() {
            let _ = self.tx.send(SubCmd::Unsub(channel));
        }
    }

    fn up(&self) -> bool {
        self.link.health.subscribed.load(Ordering::Relaxed)
    }
}

/// What the subscriber hands each message to, and tells of reconnects.
pub trait Inbox: Send + Sync + 'static {
    fn message(&self, payload: &str);
    /// A connection is up and subscribed again after the link was lost.
    fn resubscribed(&self);
}

/// Starts the subscriber; `channels` are wanted from the start.
pub fn start(link: Arc<Link>, channels: Vec<String>, inbox: Arc<dyn Inbox>, stop: CancellationToken) -> Subscriptions {
    let (tx, rx) = flume::unbounded();
    let subs = Subscriptions {
        wanted: Arc::new(Mutex::new(channels.into_iter().collect())),
        tx,
        link: link.clone(),
    };
    tokio::spawn(run(link, subs.clone(), rx, inbox, stop));
    subs
}

async fn run(
    link: Arc<Link>,
    subs: Subscriptions,
    rx: flume::Receiver<SubCmd>,
    inbox: Arc<dyn Inbox>,
    stop: CancellationToken,
) {
    let mut backoff = RECONNECT_MIN;
    let mut first = true;
    loop {
        if stop.is_cancelled() {
            return;
        }
        // Requests queued for a lost connection are covered by the next one's subscribe of every wanted channel.
        while rx.try_recv().is_ok() {}
        match connect(&link, &subs).await {
            Ok((sink, mut stream, subscribed)) => {
                backoff = RECONNECT_MIN;
                link.health.connects.fetch_add(1, Ordering::Relaxed);
                link.health.subscribed.store(true, Ordering::Relaxed);
                // The echo clock starts now: a connection gets its own window to hear itself.
                link.health.last_echo_ms.store(now_ms(), Ordering::Relaxed);
                if !first {
                    tracing::info!("Redis subscriber reconnected; resubscribed");
                    inbox.resubscribed();
                }
                first = false;
                // Channels wanted while this connection was being made, and not in its first subscribe.
                let late: Vec<String> = subs.wanted.lock().difference(&subscribed).cloned().collect();
                for ch in late {
                    let _ = subs.tx.send(SubCmd::Sub(ch, None));
                }
                let driver = tokio::spawn(drive(sink, rx.clone()));
                let mut tick = tokio::time::interval(WATCHDOG_TICK);
                let why = loop {
                    tokio::select! {
                        _ = stop.cancelled() => break "stopping",
                        m = stream.next() => match m {
                            Some(m) => {
                                if let Ok(s) = std::str::from_utf8(m.get_payload_bytes()) {
                                    inbox.message(s);
                                }
                            }
                            None => break "the connection closed",
                        },
                        _ = tick.tick() => {
                            let quiet = now_ms() - link.health.last_echo_ms.load(Ordering::Relaxed);
                            if quiet > CUT_OFF_AFTER.as_millis() as i64 {
                                break "this node's own heartbeat did not come back";
                            }
                        }
                    }
                };
                driver.abort();
                link.health.subscribed.store(false, Ordering::Relaxed);
                if stop.is_cancelled() {
                    return;
                }
                tracing::warn!(why, "Redis subscriber lost; reconnecting");
            }
            Err(e) => {
                link.health.subscribed.store(false, Ordering::Relaxed);
                tracing::debug!(error = %e, "cannot connect the Redis subscriber");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        }
    }
}

/// Connects and subscribes every wanted channel.
async fn connect(
    link: &Link,
    subs: &Subscriptions,
) -> redis::RedisResult<(redis::aio::PubSubSink, redis::aio::PubSubStream, HashSet<String>)> {
    let client = link.client()?;
    let pubsub = tokio::time::timeout(super::link::CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))??;
    let (mut sink, stream) = pubsub.split();
    let wanted: HashSet<String> = subs.wanted.lock().clone();
    let list: Vec<&String> = wanted.iter().collect();
    for chunk in list.chunks(1000) {
        tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(chunk))
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out")))??;
    }
    Ok((sink, stream, wanted))
}

/// Channels sent in one SUBSCRIBE or UNSUBSCRIBE.
pub const SUBSCRIBE_BATCH: usize = 512;

/// Runs subscribe and unsubscribe requests in order on one connection:
/// requests waiting together go as one command per run of the same kind
/// (a burst of sockets opening costs one round trip, not one each).
async fn drive(mut sink: redis::aio::PubSubSink, rx: flume::Receiver<SubCmd>) {
    let mut batch: Vec<SubCmd> = Vec::with_capacity(SUBSCRIBE_BATCH);
    while super::link::next_batch(&rx, SUBSCRIBE_BATCH, &mut batch).await {
        let mut i = 0;
        while i < batch.len() {
            let sub = matches!(batch[i], SubCmd::Sub(..));
            let j = batch[i..]
                .iter()
                .position(|c| matches!(c, SubCmd::Sub(..)) != sub)
                .map_or(batch.len(), |k| i + k);
            let channels: Vec<&str> = batch[i..j]
                .iter()
                .map(|c| match c {
                    SubCmd::Sub(ch, _) | SubCmd::Unsub(ch) => ch.as_str(),
                })
                .collect();
            if sub {
                let ok = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(&channels))
                    .await
                    .is_ok_and(|r| r.is_ok());
                for c in batch[i..j].iter_mut() {
                    if let SubCmd::Sub(_, ack) = c
                        && let Some(ack) = ack.take()
                    {
                        let _ = ack.send(ok);
                    }
                }
            } else {
                let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.unsubscribe(&channels)).await;
            }
            i = j;
        }
        batch.clear();
    }
}
