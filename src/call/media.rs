//! Calls meeting the embedded SFU: who may negotiate media, lost and restored media, recordings.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::peer_connection::RTCIceCandidateInit;

use super::machine::{Actor, Command};
use super::service::CallService;
use crate::auth::claims::Identity;
use crate::error::{Error, ErrorCode, Result};
use crate::media::sfu::{MediaEvent, PeerInfo, RoomInfo, Sfu};
use crate::model::SessionId;
use crate::model::{Call, CallStatus, Millis, Side};

impl CallService {
    fn sfu(&self) -> Result<&Arc<Sfu>> {
        self.media.sfu().ok_or_else(|| {
            Error::new(
                ErrorCode::MediaUnavailable,
                format!(
                    "rtc.offer/answer/candidate are for the embedded media mode; on this server {}",
                    self.media.negotiation()
                ),
            )
        })
    }

    fn peer_info(who: &Identity, side: Side, session: SessionId) -> PeerInfo {
        PeerInfo {
            side,
            user_id: who.user_id.clone(),
            session,
        }
    }

    /// `rtc.offer`: returns the SFU's answer. Allowed while the call rings;
    /// media flows once it is ACTIVE.
    pub(super) async fn media_offer_here(
        &self,
        who: &Identity,
        session: SessionId,
        call_id: &str,
        sdp: &str,
    ) -> Result<String> {
        let sfu = self.sfu()?.clone();
        let (open, side) = self.participant_call(who, call_id).await?;
        let room = RoomInfo {
            call_id: open.call.id.clone(),
            tenant_id: who.tenant_id.clone(),
            active: open.call.status == CallStatus::Active,
            record: open.call.record,
        };
        let answer = sfu.offer(room, Self::peer_info(who, side, session), sdp).await?;
        // The call may have ended while this offer was being answered, after
        // the SFU closed its room: don't leave a room behind for it.
        if self.open_call(call_id).await.is_err() {
            sfu.close(call_id, None).await;
            return Err(Error::new(ErrorCode::CallEnded, "the call has ended"));
        }
        Ok(answer)
    }

    /// `rtc.answer` to a server offer.
    pub(super) async fn media_answer_here(
        &self,
        who: &Identity,
        session: SessionId,
        call_id: &str,
        sdp: &str,
    ) -> Result<()> {
        let sfu = self.sfu()?.clone();
        let (_, side) = self.participant_call(who, call_id).await?;
        sfu.answer(call_id, &Self::peer_info(who, side, session), sdp).await
    }

    /// `rtc.candidate` from the client.
    pub(super) async fn media_candidate_here(
        &self,
        who: &Identity,
        session: SessionId,
        call_id: &str,
        candidate: &RawValue,
    ) -> Result<()> {
        let sfu = self.sfu()?.clone();
        let init: RTCIceCandidateInit = serde_json::from_str(candidate.get())
            .map_err(|e| Error::new(ErrorCode::InvalidMessage, format!("invalid candidate: {e}")))?;
        let (_, side) = self.participant_call(who, call_id).await?;
        sfu.candidate(call_id, &Self::peer_info(who, side, session), init).await
    }

    /// Whether every participant of `call` is back: both online, no side's media lost.
    pub(super) fn everyone_back(&self, call: &Call) -> bool {
        let online = |p: &crate::model::Party| self.presence.is_online(&call.tenant_id, &p.user_id);
        online(&call.caller) && online(&call.callee) && !self.media.media_lost(&call.id)
    }

    /// Applies the SFU's reports until `stop`: lost media starts the reconnect
    /// grace (from the last packet), restored media lifts it once everyone is
    /// back, finished recordings are noted on the CallLog row.
    pub async fn run_media_events(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<MediaEvent>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = events.recv() => match e { Some(e) => e, None => return },
            };
            match event {
                MediaEvent::Lost { call_id, side, since } => {
                    let cmd = Command::MediaLost {
                        grace_ms: self.settings.reconnect_grace.as_millis() as Millis,
                        since,
                    };
                    tracing::info!(call = %call_id, side = side.as_str(), "media lost; the reconnect grace runs");
                    if let Err(e) = self.transition(&call_id, None, Actor::System, cmd).await {
                        tracing::debug!(error = %e, call = %call_id, "media lost after the call ended");
                        // Already over (its room should be gone): make sure nothing is left.
                        if let (Some(sfu), ErrorCode::CallEnded | ErrorCode::CallNotFound) =
                            (self.media.sfu(), e.code())
                        {
                            sfu.close(&call_id, None).await;
                        }
                    }
                }
                MediaEvent::Restored { call_id, side } => {
                    let Ok(open) = self.open_call(&call_id).await else {
                        continue;
                    };
                    if open.call.grace_deadline.is_some() && self.everyone_back(&open.call) {
                        tracing::info!(call = %call_id, side = side.as_str(), "media back; the grace is lifted");
                        let _ = self
                            .transition(&call_id, None, Actor::System, Command::ParticipantBack)
                            .await;
                    }
                }
                MediaEvent::Recorded {
                    call_id,
                    path,
                    bytes,
                    error,
                } => {
                    if let Err(e) = self
                        .store
                        .set_recording(&call_id, &path, bytes as i64, error.as_deref())
                        .await
                    {
                        e.log_if_internal();
                    }
                }
            }
        }
    }
}
