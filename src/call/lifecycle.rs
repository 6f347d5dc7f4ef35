//! Calls meeting connections: a user's session opening (what it learns in `welcome`) and their last one closing.

use std::sync::Arc;

use super::machine::{Actor, Command};
use super::notify;
use super::rules::{self, Welcome};
use super::service::CallService;
use crate::auth::claims::Identity;
use crate::clock::now_ms;
use crate::error::{ErrorCode, Result};
use crate::model::{Millis, Side};
use crate::presence::PresenceStatus;
use crate::wire::views::{ActiveCallView, CallView, IncomingView};

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
            match rules::welcome(&call, &who.user_id, now_ms()) {
                Welcome::Ringing => {
                    let token = self.token_for(&call, &who.user_id, &who.display_name(), Side::Callee)?;
                    start
                        .pending
                        .push(notify::incoming(&call, token, self.livekit_url().map(str::to_owned)));
                }
                Welcome::InCall { side, returning } => {
                    start.active.push(self.active_view(&call, who, side)?);
                    // Back only when everyone is: both online, and no side's media lost.
                    if returning && self.everyone_back(&call) {
                        let _ = self
                            .transition(&call.id, None, Actor::System, Command::ParticipantBack)
                            .await;
                    }
                }
                Welcome::Nothing => {}
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
        let grace_ms = self.settings.reconnect_grace.as_millis() as Millis;
        let Some(cmd) = rules::went_offline(&call, &who.user_id, grace_ms) else {
            return Ok(());
        };
        match Box::pin(self.transition(&call.id, None, Actor::System, cmd)).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() != ErrorCode::Internal => Ok(()),
            Err(e) => Err(e),
        }
    }
}
