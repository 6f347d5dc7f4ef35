//! What a node in cluster mode does when the cluster changes: dead members' users and calls, its own eviction, resyncs, calls changed elsewhere.
//!
//! The Redis node (cluster layer) reports; this edge module, which sees
//! the call layer and the sockets, acts. A periodic scan also takes over
//! open calls whose owner no longer beats, so calls left by a node that
//! died with no survivor watching (or while Redis was down) are found when
//! any node runs again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::app::AppState;
use crate::call::MediaRequests;
use crate::cluster::redis::{ClusterEvent, RedisNode};
use crate::cluster::{LocalDelivery, Outbound};
use crate::wire::views::ServerMsg;

/// How often a node looks for open calls whose owner stopped beating.
pub const ORPHAN_SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Serves other nodes' media requests and starts following the cluster's reports.
pub async fn start(state: AppState, node: Arc<RedisNode>, mut events: UnboundedReceiver<ClusterEvent>) {
    node.serve_requests(Arc::new(MediaRequests(state.calls.clone())));
    claim_orphans(&state, &node).await;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ORPHAN_SCAN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tick.tick() => claim_orphans(&state, &node).await,
                e = events.recv() => match e {
                    Some(e) => handle(&state, &node, e).await,
                    None => return,
                },
            }
        }
    });
}

async fn handle(state: &AppState, node: &Arc<RedisNode>, e: ClusterEvent) {
    match e {
        ClusterEvent::UsersLost(lost) => {
            for u in lost {
                state.calls.publish_presence(u.presence);
                if let Err(e) = state.calls.user_went_offline(&u.identity).await {
                    e.log_if_internal();
                }
            }
        }
        ClusterEvent::MemberDead(_) => claim_orphans(state, node).await,
        ClusterEvent::Evicted { .. } => {
            state.calls.forget_all();
            let closed = state.registry.evict_all();
            tracing::warn!(sockets = closed, "closed this node's sockets after its eviction (1012)");
        }
        ClusterEvent::Resynced => {
            for tenant in state.registry.tenants() {
                let agents = state.presence.available_agents(&tenant);
                let frame: Outbound = ServerMsg::PresenceSync { agents: &agents }.to_text().into();
                state.registry.broadcast(&tenant, &frame);
            }
        }
        ClusterEvent::CallChanged { call_id, ended, row } => state.calls.changed_elsewhere(call_id, ended, row),
    }
}

/// Takes over the open calls of every owner that no longer beats.
async fn claim_orphans(state: &AppState, node: &Arc<RedisNode>) {
    if !node.available() {
        return;
    }
    let owners = match state.calls.open_call_owners().await {
        Ok(o) => o,
        Err(e) => {
            e.log_if_internal();
            return;
        }
    };
    let me = node.member();
    let others: Vec<String> = owners.into_iter().filter(|o| **o != *me).collect();
    let Ok(alive) = node.alive(&others).await else {
        return;
    };
    for (owner, alive) in others.iter().zip(alive) {
        if !alive && let Err(e) = state.calls.claim_calls_of(owner).await {
            e.log_if_internal();
        }
    }
}
