//! Media signaling in cluster mode: `rtc.*` for a call whose room lives on another node goes to that node and its answer comes back.
//!
//! A call's room lives on its owner (the row's `node_id`): the node that
//! created the call, or the survivor that took it over. A participant
//! connected elsewhere has their offers, answers and candidates carried to
//! the owner through Redis; the owner's SFU answers, and its own frames
//! (server offers, candidates) reach the participant's session through the
//! bus. The candidates name the owner's address, so media flows to the
//! owner directly.

use std::borrow::Cow;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::service::CallService;
use crate::auth::claims::Identity;
use crate::cluster::Peers;
use crate::cluster::redis::RpcHandler;
use crate::error::{Error, ErrorCode, Result};
use crate::model::{ParticipantType, SessionId};

/// One `rtc.*` request carried to the room's node.
#[derive(Serialize, Deserialize, Debug)]
struct MediaRequest<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    call: Cow<'a, str>,
    #[serde(borrow)]
    tenant: Cow<'a, str>,
    #[serde(borrow)]
    user: Cow<'a, str>,
    session: SessionId,
    /// SDP has escapes (`\r\n`) in JSON, so it is owned once parsed.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    sdp: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    candidate: Option<&'a RawValue>,
}

impl<'a> MediaRequest<'a> {
    /// `op` by `who` on `session` for `call`, with its SDP or its candidate.
    fn new(
        op: &'static str,
        who: &'a Identity,
        session: SessionId,
        call: &'a str,
        sdp: Option<&'a str>,
        candidate: Option<&'a RawValue>,
    ) -> Self {
        Self {
            op: op.into(),
            call: call.into(),
            tenant: (&*who.tenant_id).into(),
            user: (&*who.user_id).into(),
            session,
            sdp: sdp.map(Into::into),
            candidate,
        }
    }
}

/// The answer to `offer`.
#[derive(Serialize, Deserialize)]
struct MediaReply {
    #[serde(default)]
    sdp: String,
}

impl CallService {
    /// The other member holding the call's room, if it is not this node.
    async fn media_node(&self, who: &Identity, call_id: &str) -> Result<Option<(&Arc<dyn Peers>, String)>> {
        let Some(peers) = &self.peers else { return Ok(None) };
        let (open, _) = self.participant_call(who, call_id).await?;
        let owner = &open.call.node_id;
        Ok((**owner != *self.member.member()).then(|| (peers, owner.clone())))
    }

    /// Sends a request to the room's node; if it does not answer and the call
    /// has a new owner meanwhile, asks that one (or handles it here).
    async fn ask_media_node(
        &self,
        peers: &Arc<dyn Peers>,
        node: String,
        req: &MediaRequest<'_>,
    ) -> Result<Option<String>> {
        let body = serde_json::to_string(req).map_err(|e| Error::Internal(e.into()))?;
        match peers.request(&node, &body).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.code() == ErrorCode::ClusterUnavailable => {
                let Some(call) = self.store.get_call(&req.call).await? else {
                    return Err(Error::new(ErrorCode::CallNotFound, "no such open call"));
                };
                self.open.loaded(&call);
                if call.node_id == node {
                    return Err(e);
                }
                if *call.node_id == *self.member.member() {
                    return Ok(None);
                }
                peers.request(&call.node_id, &body).await.map(Some)
            }
            Err(e) => Err(e),
        }
    }

    /// `rtc.offer`: returns the SFU's answer, from whichever node holds the room.
    pub async fn media_offer(&self, who: &Identity, session: SessionId, call_id: &str, sdp: &str) -> Result<String> {
        if let Some((peers, node)) = self.media_node(who, call_id).await? {
            let req = MediaRequest::new("offer", who, session, call_id, Some(sdp), None);
            if let Some(reply) = self.ask_media_node(peers, node, &req).await? {
                let r: MediaReply = serde_json::from_str(&reply).map_err(|e| Error::Internal(e.into()))?;
                return Ok(r.sdp);
            }
        }
        self.media_offer_here(who, session, call_id, sdp).await
    }

    /// `rtc.answer` to a server offer, on the room's node.
    pub async fn media_answer(&self, who: &Identity, session: SessionId, call_id: &str, sdp: &str) -> Result<()> {
        if let Some((peers, node)) = self.media_node(who, call_id).await? {
            let req = MediaRequest::new("answer", who, session, call_id, Some(sdp), None);
            if self.ask_media_node(peers, node, &req).await?.is_some() {
                return Ok(());
            }
        }
        self.media_answer_here(who, session, call_id, sdp).await
    }

    /// `rtc.candidate` from the client, to the room's node.
    pub async fn media_candidate(
        &self,
        who: &Identity,
        session: SessionId,
        call_id: &str,
        candidate: &RawValue,
    ) -> Result<()> {
        if let Some((peers, node)) = self.media_node(who, call_id).await? {
            let req = MediaRequest::new("candidate", who, session, call_id, None, Some(candidate));
            if self.ask_media_node(peers, node, &req).await?.is_some() {
                return Ok(());
            }
        }
        self.media_candidate_here(who, session, call_id, candidate).await
    }

    /// Serves a request another node carried here.
    async fn serve_media_request(&self, body: &str) -> Result<String> {
        let req: MediaRequest<'_> = serde_json::from_str(body)
            .map_err(|e| Error::new(ErrorCode::InvalidMessage, format!("bad media request: {e}")))?;
        let who = Identity {
            user_id: (*req.user).into(),
            tenant_id: (*req.tenant).into(),
            kind: ParticipantType::CrmUser,
            first_name: None,
            last_name: None,
            email: None,
            role: None,
        };
        let missing = || Error::new(ErrorCode::InvalidMessage, "bad media request");
        match &*req.op {
            "offer" => {
                let sdp = self
                    .media_offer_here(&who, req.session, &req.call, &req.sdp.ok_or_else(missing)?)
                    .await?;
                serde_json::to_string(&MediaReply { sdp }).map_err(|e| Error::Internal(e.into()))
            }
            "answer" => {
                self.media_answer_here(&who, req.session, &req.call, &req.sdp.ok_or_else(missing)?)
                    .await?;
                Ok("{}".into())
            }
            "candidate" => {
                self.media_candidate_here(&who, req.session, &req.call, req.candidate.ok_or_else(missing)?)
                    .await?;
                Ok("{}".into())
            }
            _ => Err(missing()),
        }
    }
}

/// Serves other nodes' media requests with this node's SFU.
pub struct MediaRequests(pub Arc<CallService>);

impl RpcHandler for MediaRequests {
    fn handle(&self, body: String) -> BoxFuture<'static, Result<String>> {
        let calls = self.0.clone();
        Box::pin(async move { calls.serve_media_request(&body).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_trip_with_its_sdp_and_candidate() {
        let cand =
            RawValue::from_string(r#"{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0"}"#.into())
                .unwrap();
        let req = MediaRequest {
            op: "offer".into(),
            call: "c1".into(),
            tenant: "t:1".into(),
            user: "u\"1".into(),
            session: 42,
            sdp: Some("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n".into()),
            candidate: Some(&cand),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert!(!line.contains('\n'), "one line on the wire");
        let back: MediaRequest<'_> = serde_json::from_str(&line).unwrap();
        assert_eq!(back.sdp.as_deref(), Some("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n"));
        assert_eq!((&*back.user, &*back.tenant, back.session), ("u\"1", "t:1", 42));
        assert_eq!(back.candidate.unwrap().get(), cand.get());
    }
}
