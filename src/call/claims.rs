//! Cluster mode in the call layer: taking over a dead member's open calls, forgetting after an eviction, following calls other nodes changed.
//!
//! The row is the authority. A claim is a conditional update on the row's
//! version and owner, so one survivor wins each call and a paused
//! ex-owner's later writes (at the old version) fail and re-read.

use std::sync::Arc;

use super::machine::{Actor, FIRST_VERSION};
use super::rules::{self, AfterRestart};
use super::service::CallService;
use crate::error::Result;
use crate::model::{Call, CallStatus, Millis};

impl CallService {
    /// The members owning open calls now.
    pub async fn open_call_owners(&self) -> Result<Vec<String>> {
        self.store.open_call_owners().await
    }

    /// Takes over every open call of the dead member `dead`; returns how many this node won.
    pub async fn claim_calls_of(self: &Arc<Self>, dead: &str) -> Result<usize> {
        let me = self.member.member();
        if *dead == *me {
            return Ok(0);
        }
        let grace_ms = self.settings.reconnect_grace.as_millis() as Millis;
        let mut won = 0;
        for call in self.store.open_calls_of_node(dead).await? {
            let Some(call) = self.store.claim_call(&call, &me).await? else {
                continue;
            };
            won += 1;
            // Nodes holding a copy learn the new owner (where the room will be built).
            if let Some(peers) = &self.peers {
                peers.call_changed(&call);
            }
            let online = |u: &str| self.presence.is_online(&call.tenant_id, u);
            let (a, b) = (online(&call.caller.user_id), online(&call.callee.user_id));
            self.open.loaded(&call);
            match rules::after_claim(&call, a, b, grace_ms) {
                AfterRestart::Run(cmd) => {
                    let _ = self.transition(&call.id, None, Actor::System, cmd).await;
                }
                AfterRestart::Arm { deadline, cmd } => self.schedule(&call.id, deadline, cmd),
                AfterRestart::Nothing => {}
            }
        }
        if won > 0 {
            tracing::warn!(from = dead, calls = won, "took over a dead node's open calls");
        }
        Ok(won)
    }

    /// This node was declared dead while away: its calls belong to others now.
    /// Drops every cached call and timer (a timer that fired late would only be fenced).
    pub fn forget_all(&self) {
        self.open.clear();
    }

    /// Another node changed `call_id`. With the row (`row`), a copy held
    /// here takes it (or goes, if the call ended), and a call of a user
    /// connected here is taken from its first row, so an answer or an end on
    /// this node needs no read. Without it, the copy is not used again
    /// before the store is read. If this node holds the call's room, the
    /// media backend follows (activates, closes).
    pub fn changed_elsewhere(self: &Arc<Self>, call_id: String, ended: bool, row: Option<Box<Call>>) {
        let has_room = self.media.sfu().is_some_and(|s| s.has_room(&call_id));
        if let Some(call) = row {
            // Only a call's first row is adopted: a later one can arrive
            // after its ending (written by another node) and would bring it back.
            let adopt = call.version == FIRST_VERSION
                && self.peers.as_ref().is_some_and(|p| {
                    p.holds(&call.tenant_id, &call.caller.user_id) || p.holds(&call.tenant_id, &call.callee.user_id)
                });
            let prev = self.open.followed(&call, adopt);
            if has_room && prev != Some(call.status) {
                self.media.follow(&call, prev.unwrap_or(CallStatus::Ringing));
            }
            return;
        }
        let prev = self.open.mark_stale(&call_id);
        if ended {
            self.open.forget(&call_id);
        }
        if !has_room {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(Some(call)) = me.store.get_call(&call_id).await else {
                return;
            };
            let prev = prev.unwrap_or(CallStatus::Ringing);
            me.open.loaded(&call);
            if call.status != prev {
                me.media.follow(&call, prev);
            }
        });
    }
}
