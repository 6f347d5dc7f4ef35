//! The presence field writer: availability and in-call writes, queued and sent in order, a pipeline per burst.

use std::sync::atomic::Ordering;

use super::link::next_batch;
use super::presence::RedisPresence;
use super::wire;

/// A field write waiting for the writer task.
pub(super) struct FieldWrite {
    pub tenant: String,
    pub user: String,
    pub field: &'static str,
    pub value: &'static str,
}

/// Field writes waiting; more are dropped (the next resync writes them back).
pub const FIELD_QUEUE: usize = 16_384;
/// Field writes sent in one pipeline (in order): a burst costs one round trip, not one each.
pub const FIELD_BATCH: usize = 256;

/// Writes queued availability and in-call fields, in order, a pipeline per
/// burst, and applies the states the script published.
pub(super) async fn field_writer(presence: std::sync::Weak<RedisPresence>, rx: flume::Receiver<FieldWrite>) {
    let mut batch: Vec<FieldWrite> = Vec::with_capacity(FIELD_BATCH);
    while next_batch(&rx, FIELD_BATCH, &mut batch).await {
        let Some(p) = presence.upgrade() else { return };
        let me = p.link.member();
        let invocations: Vec<_> = batch
            .iter()
            .map(|w| p.invocation("f", &w.tenant, &w.user, &me, (w.field, w.value), ""))
            .collect();
        // The script is loaded in the same pipeline: a Redis that restarted
        // (and forgot it) does not fail the batch.
        let mut pipe = redis::pipe();
        pipe.load_script(&p.script).ignore();
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        let mut conn = p.link.cmd();
        match pipe.query_async::<Vec<Option<String>>>(&mut conn).await {
            Ok(replies) => {
                for reply in replies.iter().flatten() {
                    if let Some((h, _)) = wire::decode(reply) {
                        p.apply_message(&h, None);
                    }
                }
            }
            Err(e) => {
                p.link.health.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::debug!(error = %e, writes = batch.len(), "presence field writes failed; the next resync writes them back");
            }
        }
        drop(invocations);
        batch.clear();
    }
}
