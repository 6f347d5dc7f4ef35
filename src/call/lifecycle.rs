//! Calls meeting connections and time: sockets opening and closing, relaying, the sweeper, restarts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::machine::{Actor, Command};
use super::notify;
use super::service::CallService;
use crate::auth::claims::Identity;
use crate::clock::now_ms;
use crate::cluster::{Envelope, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{CallStatus, EndReason, Millis, Side};
use crate::presence::PresenceStatus;
use crate::wire::views::{ActiveCallView, CallView, IncomingView, ServerMsg};

/// Calls handled per sweep and kind; the rest wait for the next sweep.
pub const SWEEP_BATCH: i64 = 500;

/// What a new session learns in `welcome`.
#[derive(Debug, Default)]
pub struct SessionStart {
    /// Calls ringing for this user, still inside their ring window.
    pub pending: Vec<IncomingView>,
    /// This user's open call as the caller (ringing) or either side (active).
    pub active: Vec<ActiveCallView>,
}

impl CallService {
    /// A session was registered: reports the user's open call and, if the
    /// user had dropped out of an active call, lifts the grace when both
    /// participants are back. Broadcasts the agent's presence change since
    /// `before` (registration and in-call state coalesced into one).
    pub async fn session_opened(self: &Arc<Self>, who: &Identity, before: PresenceStatus) -> Result<SessionStart> {
        // Boxed: inlined, the store's futures make every session's task large.
        let open = Box::pin(self.store.open_call_of(&who.tenant_id, &who.user_id)).await;
        let open = match open {
            Ok(o) => o,
            Err(e) => {
                self.publish_presence(self.presence.change_since(who, before));
                return Err(e);
            }
        };
        let mut start = SessionStart::default();
        if let Some(call) = open {
            self.presence.set_in_call(&who.tenant_id, &who.user_id, true);
            let side = call.side_of(&who.user_id);
            match (call.status, side) {
                (CallStatus::Ringing, Some(Side::Callee)) if call.ring_deadline.is_some_and(|d| d > now_ms()) => {
                    let token = self.token_for(&call, &who.user_id, &who.display_name(), Side::Callee)?;
                    start
                        .pending
                        .push(notify::incoming(&call, token, self.livekit_url().map(str::to_owned)));
                }
                (CallStatus::Ringing, Some(Side::Caller)) => {
                    start.active.push(self.active_view(&call, who, Side::Caller)?);
                }
                (CallStatus::Active, Some(side)) => {
                    start.active.push(self.active_view(&call, who, side)?);
                    // Back only when everyone is: both online, and no side's media lost.
                    if call.grace_deadline.is_some() && self.everyone_back(&call) {
                        let _ = self
                            .transition(&call.id, None, Actor::System, Command::ParticipantBack)
                            .await;
                    }
                }
                _ => {}
            }
            self.open.loaded(&call);
        }
        self.publish_presence(self.presence.change_since(who, before));
        Ok(start)
    }

    fn active_view(&self, call: &crate::model::Call, who: &Identity, side: Side) -> Result<ActiveCallView> {
        let token = self.token_for(call, &who.user_id, &who.display_name(), side)?;
        Ok(ActiveCallView {
            call: CallView::from(call),
            livekit_url: token.as_ref().and(self.livekit_url()).map(str::to_owned),
            token,
        })
    }

    /// The user's last session closed: a ringing caller cancels, an active
    /// participant enters the reconnect grace.
    pub async fn user_went_offline(self: &Arc<Self>, who: &Identity) -> Result<()> {
        let Some(call) = Box::pin(self.store.open_call_of(&who.tenant_id, &who.user_id)).await? else {
            return Ok(());
        };
        let cmd = match (call.status, call.side_of(&who.user_id)) {
            (CallStatus::Ringing, Some(Side::Caller)) => Command::CallerVanished,
            (CallStatus::Active, Some(_)) => Command::ParticipantLost {
                grace_ms: self.settings.reconnect_grace.as_millis() as Millis,
                reason: EndReason::ConnectionLost,
            },
            _ => return Ok(()),
        };
        match Box::pin(self.transition(&call.id, None, Actor::System, cmd)).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() != ErrorCode::Internal => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Relays opaque `rtc.signal` data to the other participant of an open call.
    pub async fn relay(&self, who: &Identity, call_id: &str, data: &RawValue) -> Result<()> {
        let open = self.open_call(call_id).await?;
        let route = &open.route;
        if *route.tenant_id != *who.tenant_id {
            return Err(Error::new(ErrorCode::CallNotFound, "no such open call"));
        }
        let side = route
            .side_of(&who.user_id)
            .ok_or_else(|| Error::new(ErrorCode::CallNotFound, "no such open call"))?;
        let (peer, session) = route.peer_of(side);
        let frame = ServerMsg::RtcSignal {
            call_id,
            from: &who.user_id,
            data,
        }
        .to_text();
        let target = match session {
            Some(session) => Target::Session {
                user_id: peer.clone(),
                session,
            },
            None => Target::User {
                user_id: peer.clone(),
                except: None,
            },
        };
        self.bus.publish(Envelope {
            tenant_id: route.tenant_id.clone(),
            target,
            frame: frame.into(),
        });
        self.metrics.relayed.inc();
        Ok(())
    }

    /// One sweep: expires calls whose ring or grace deadline passed.
    /// Returns how many calls it ended.
    pub async fn sweep_once(self: &Arc<Self>) -> Result<usize> {
        let now = now_ms();
        let mut ended = 0;
        for call in self.store.ring_due(now, SWEEP_BATCH).await? {
            if self
                .transition(&call.id, None, Actor::System, Command::RingTimeout)
                .await
                .is_ok()
            {
                ended += 1;
            }
        }
        for call in self.store.grace_due(now, SWEEP_BATCH).await? {
            if self
                .transition(&call.id, None, Actor::System, Command::GraceExpired)
                .await
                .is_ok()
            {
                ended += 1;
            }
        }
        self.limiter_shrink();
        Ok(ended)
    }

    /// Runs the sweeper every `interval` until `stop`.
    pub async fn run_sweeper(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.sweep_once().await {
                        tracing::warn!(error = %e, "sweep failed");
                    }
                }
            }
        }
    }

    /// After a restart of this node: every active call it created gets the
    /// reconnect grace with reason `server_restart`; ringing calls keep their
    /// deadlines (the sweeper ends them). Returns how many calls it touched.
    pub async fn recover_after_restart(self: &Arc<Self>) -> Result<usize> {
        let calls = self.store.open_calls_of_node(&self.settings.node_id).await?;
        let mut touched = 0;
        for call in calls {
            match call.status {
                CallStatus::Active if call.grace_deadline.is_none() => {
                    let cmd = Command::ParticipantLost {
                        grace_ms: self.settings.reconnect_grace.as_millis() as Millis,
                        reason: EndReason::ServerRestart,
                    };
                    if self.transition(&call.id, None, Actor::System, cmd).await.is_ok() {
                        touched += 1;
                    }
                }
                CallStatus::Active => {
                    if let Some(deadline) = call.grace_deadline {
                        self.timers.schedule(self, &call.id, deadline, Command::GraceExpired);
                        touched += 1;
                    }
                }
                CallStatus::Ringing => {
                    if let Some(deadline) = call.ring_deadline {
                        self.timers.schedule(self, &call.id, deadline, Command::RingTimeout);
                        touched += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(touched)
    }

    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// `(ringing, active)` calls in the store now.
    pub async fn open_counts(&self) -> Result<(i64, i64)> {
        self.store.open_call_counts().await
    }
}
