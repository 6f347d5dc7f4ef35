//! Relaying `rtc.signal`: opaque data to the other participant of an open call, routed from the open-call state.

use serde_json::value::RawValue;

use super::service::CallService;
use crate::auth::claims::Identity;
use crate::cluster::{Envelope, Target};
use crate::error::Result;
use crate::wire::views::ServerMsg;

impl CallService {
    /// Relays opaque `rtc.signal` data to the other participant of an open call.
    pub async fn relay(&self, who: &Identity, call_id: &str, data: &RawValue) -> Result<()> {
        let (open, side) = self.participant_call(who, call_id).await?;
        let route = &open.route;
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
}
