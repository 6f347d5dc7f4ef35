//! Node liveness: heartbeats, the reaping of dead members by a survivor, and a member that learns it was declared dead.
//!
//! Each member sets `alive:<member>` (expiring after `NODE_DEAD_AFTER`) and
//! publishes a heartbeat every `HEARTBEAT_INTERVAL`; hearing its own
//! heartbeat is how it knows the subscriber works. A member whose key
//! expired is dead: the first survivor to mark it `reaped` (one atomic
//! script, which refuses while the member's key exists) removes its sessions
//! from every user, and tells the node. A member that comes back (a paused
//! process) finds itself reaped: its heartbeat script refuses, and it
//! rejoins under a new incarnation.

use std::sync::Arc;
use std::time::Duration;

use super::RedisNode;
use super::wire::{self, Header};
use crate::clock::now_ms;

/// How often a member beats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// A member that has not beaten for this long is dead.
pub const NODE_DEAD_AFTER: Duration = Duration::from_secs(3);
/// How long a reaped member stays barred from beating again under the same id.
pub const REAPED_TTL: Duration = Duration::from_secs(600);
/// Presence TTLs are refreshed every this many beats.
pub const REFRESH_EVERY_BEATS: u64 = 10;

/// KEYS: alive, reaped, members, cluster channel. ARGV: member, ttl ms, heartbeat message.
const BEAT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', KEYS[4], ARGV[3])
return 1
";

/// KEYS: the member's alive and reaped keys. ARGV: the reaper, ttl ms. 1: this node reaps it.
const CLAIM_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
";

/// The heartbeat loop: beats, reaps, refreshes, until the node stops.
pub async fn run(node: Arc<RedisNode>) {
    let beat = redis::Script::new(BEAT_SCRIPT);
    let claim = redis::Script::new(CLAIM_SCRIPT);
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = node.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        beats += 1;
        match beat_once(&node, &beat).await {
            Ok(true) => {}
            Ok(false) => node.evicted().await,
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
        if let Err(e) = reap_dead(&node, &claim).await {
            tracing::debug!(error = %e, "reaping failed");
        }
        if beats % REFRESH_EVERY_BEATS == 0 {
            if let Err(e) = node.presence.refresh().await {
                tracing::debug!(error = %e, "presence refresh failed");
            }
            node.presence.prune();
        }
    }
}

/// One heartbeat; false if this member was reaped.
async fn beat_once(node: &RedisNode, beat: &redis::Script) -> redis::RedisResult<bool> {
    let link = &node.link;
    let me = link.member();
    let msg = wire::encode(
        &Header {
            k: "hb".into(),
            o: Some((&*me).into()),
            ..Header::default()
        },
        &[],
    );
    let mut conn = link.cmd();
    let ok: i64 = beat
        .key(link.keys.alive(&me))
        .key(link.keys.reaped(&me))
        .key(link.keys.members())
        .key(link.keys.cluster_channel())
        .arg(&*me)
        .arg(NODE_DEAD_AFTER.as_millis() as i64)
        .arg(msg)
        .invoke_async(&mut conn)
        .await?;
    Ok(ok == 1)
}

/// Reaps every member whose heartbeat expired, when this node wins the claim.
async fn reap_dead(node: &RedisNode, claim: &redis::Script) -> redis::RedisResult<()> {
    let link = &node.link;
    let me = link.member();
    let mut conn = link.cmd();
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(link.keys.members())
        .query_async(&mut conn)
        .await?;
    for m in members.into_iter().filter(|m| **m != *me) {
        let won: i64 = claim
            .key(link.keys.alive(&m))
            .key(link.keys.reaped(&m))
            .arg(&*me)
            .arg(REAPED_TTL.as_millis() as i64)
            .invoke_async(&mut conn)
            .await?;
        if won != 1 {
            // Alive, or another survivor is reaping it.
            let alive: bool = redis::cmd("EXISTS")
                .arg(link.keys.alive(&m))
                .query_async(&mut conn)
                .await?;
            if !alive {
                // Reaped by another node that may have died mid-way: forget it from the set.
                let _: () = redis::cmd("SREM")
                    .arg(link.keys.members())
                    .arg(&m)
                    .query_async(&mut conn)
                    .await?;
            }
            continue;
        }
        let t0 = now_ms();
        let users: Vec<String> = redis::cmd("SMEMBERS")
            .arg(link.keys.member_users(&m))
            .query_async(&mut conn)
            .await?;
        let users: Vec<(String, String)> = users
            .iter()
            .filter_map(|u| wire::parse_user_member(u))
            .map(|(t, u)| (t.to_owned(), u.to_owned()))
            .collect();
        let lost = node.presence.reap(&m, users).await;
        let mut pipe = redis::pipe();
        pipe.del(link.keys.member_users(&m)).ignore();
        pipe.srem(link.keys.members(), &m).ignore();
        pipe.publish(
            link.keys.cluster_channel(),
            wire::encode(
                &Header {
                    k: "dead".into(),
                    o: Some((&*me).into()),
                    m: Some(m.as_str().into()),
                    ..Header::default()
                },
                &[],
            ),
        )
        .ignore();
        pipe.query_async::<()>(&mut conn).await?;
        tracing::warn!(member = %m, users_offline = lost.len(), took_ms = now_ms() - t0, "a node died; its sessions were removed");
        node.emit(super::ClusterEvent::UsersLost(lost));
        node.emit(super::ClusterEvent::MemberDead(m.into()));
    }
    Ok(())
}
