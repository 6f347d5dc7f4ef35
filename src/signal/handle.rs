//! Turns one client frame into the call layer's action and the reply frame (`ack`, `pong` or `error`).
//!
//! Every request gets a reply carrying its `ref` (`rtc.offer`'s is the
//! `rtc.answer`), except `rtc.signal`, `rtc.answer` and `rtc.candidate`, which
//! are acknowledged only when they carry a `ref` (high-rate signaling should
//! not double the traffic). Errors are always answered.

use serde_json::value::RawValue;

use super::session::Session;
use crate::app::AppState;
use crate::auth::claims::Identity;
use crate::call::StartOutcome;
use crate::call::machine::Command;
use crate::error::{Error, ErrorCode};
use crate::http::extract::participant_until;
use crate::model::SessionId;
use crate::wire::protocol::{self, Request};
use crate::wire::views::{CallView, ServerMsg};

/// What a session knows of its token.
#[derive(Debug, Clone, Copy)]
pub struct SessionAuth {
    /// Unix seconds; `auth.refresh` moves it.
    pub expires_at: i64,
}

/// Handles one text frame; returns the reply to send, if any.
///
/// Control requests run inside the session's span; the high-rate ones
/// (`rtc.signal`, `rtc.candidate`, `ping`) do not (an error of theirs is
/// logged inside a span made for it).
pub async fn request(s: &Session, text: &str, auth: &mut SessionAuth) -> Option<String> {
    let (state, who, session) = (&s.state, &s.who, s.id);
    let frame = match protocol::parse(text) {
        Ok(f) => f,
        Err(e) => return Some(error_frame(state, e.reference, e.code, &e.message, None)),
    };
    let reference = frame.reference;
    // The high-rate frames take a small future of their own; everything else
    // (call handling, SDP, token checks: large futures) is boxed, so the
    // future made for every relayed frame stays a few hundred bytes.
    let result = match frame.request {
        Request::RtcSignal { call_id, data } => state
            .calls
            .relay(who, &call_id, data)
            .await
            .map(|()| reference.map(|_| ack(reference))),
        Request::Ping => Ok(Some(ServerMsg::Pong { reference }.to_text())),
        request => {
            let dispatched = dispatch(state, who, session, request, reference, auth);
            Box::pin(tracing::Instrument::instrument(dispatched, s.span())).await
        }
    };
    match result {
        Ok(reply) => reply,
        Err(e) => {
            if e.code().status().is_server_error() {
                let _enter = s.span().entered();
                e.log_if_internal();
            }
            let message = e.public_message();
            Some(error_frame(state, reference, e.code(), &message, e.retry_after_secs()))
        }
    }
}

pub fn error_frame(
    state: &AppState,
    reference: Option<&RawValue>,
    code: ErrorCode,
    message: &str,
    retry_after_secs: Option<u32>,
) -> String {
    state.metrics.error(code.as_str());
    ServerMsg::Error {
        code: code.as_str(),
        message,
        reference,
        retry_after_secs,
    }
    .to_text()
}

fn ack(reference: Option<&RawValue>) -> String {
    ServerMsg::Ack {
        reference,
        call: None,
        token: None,
        livekit_url: None,
        glare: None,
    }
    .to_text()
}

fn ack_call(
    state: &AppState,
    reference: Option<&RawValue>,
    call: &CallView,
    token: Option<&str>,
    glare: Option<bool>,
) -> String {
    ServerMsg::Ack {
        reference,
        call: Some(call),
        token,
        livekit_url: token.and(state.calls.livekit_url()),
        glare,
    }
    .to_text()
}

async fn dispatch(
    state: &AppState,
    who: &std::sync::Arc<Identity>,
    session: SessionId,
    request: Request<'_>,
    reference: Option<&RawValue>,
    auth: &mut SessionAuth,
) -> Result<Option<String>, Error> {
    let calls = &state.calls;
    let reply = match request {
        Request::Ping => ServerMsg::Pong { reference }.to_text(),
        Request::AuthRefresh { access_token } => {
            // Boxed: the token check (a JWKS fetch, maybe) is a large future, and
            // every frame's request future would otherwise carry its size.
            let (fresh, expires_at) = Box::pin(participant_until(state, Some(&access_token))).await?;
            if fresh.user_id != who.user_id || fresh.tenant_id != who.tenant_id || fresh.kind != who.kind {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "auth.refresh must carry a token of the same user, tenant and participant type",
                ));
            }
            auth.expires_at = expires_at;
            ServerMsg::AuthRefreshed {
                reference,
                expires_at: crate::wire::views::iso(expires_at.saturating_mul(1000)),
            }
            .to_text()
        }
        Request::CallStart {
            callee_id,
            caller_name,
            record,
        } => {
            let name = caller_name.map(|n| n.into_owned());
            match calls.start(who, &callee_id, name, record, Some(session)).await? {
                StartOutcome::Ringing { call, caller_token } => {
                    ack_call(state, reference, &CallView::from(&call), caller_token.as_deref(), None)
                }
                StartOutcome::Busy { call } => ack_call(state, reference, &CallView::from(&call), None, None),
                StartOutcome::Glare { call, token } => {
                    ack_call(state, reference, &CallView::from(&call), token.as_deref(), Some(true))
                }
            }
        }
        Request::CallAccept { call_id } => {
            let (call, token) = calls.accept(who, Some(session), &call_id).await?;
            ack_call(state, reference, &CallView::from(&call), token.as_deref(), None)
        }
        Request::CallDecline { call_id } => {
            let call = calls.act(who, Some(session), &call_id, Command::Decline).await?;
            ack_call(state, reference, &CallView::from(&call), None, None)
        }
        Request::CallCancel { call_id } => {
            let call = calls.act(who, Some(session), &call_id, Command::Cancel).await?;
            ack_call(state, reference, &CallView::from(&call), None, None)
        }
        Request::CallEnd { call_id } => {
            let call = calls.act(who, Some(session), &call_id, Command::End).await?;
            ack_call(state, reference, &CallView::from(&call), None, None)
        }
        Request::StatusSet { status } => {
            let change = state.presence.set_availability(who, status);
            calls.publish_presence(change);
            ack(reference)
        }
        Request::RtcSignal { call_id, data } => {
            calls.relay(who, &call_id, data).await?;
            match reference {
                Some(_) => ack(reference),
                None => return Ok(None),
            }
        }
        Request::RtcOffer { call_id, sdp } => {
            let answer = calls.media_offer(who, session, &call_id, &sdp).await?;
            ServerMsg::RtcAnswer {
                call_id: &call_id,
                sdp: &answer,
                reference,
            }
            .to_text()
        }
        Request::RtcAnswer { call_id, sdp } => {
            calls.media_answer(who, session, &call_id, &sdp).await?;
            match reference {
                Some(_) => ack(reference),
                None => return Ok(None),
            }
        }
        Request::RtcCandidate { call_id, candidate } => {
            calls.media_candidate(who, session, &call_id, candidate).await?;
            match reference {
                Some(_) => ack(reference),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    /// The request future is allocated for every frame (relay included): keep it small.
    #[test]
    fn the_per_frame_request_future_stays_small() {
        fn size_of_request() -> usize {
            // Never polled: only its size matters.
            let f = |s: &'static super::Session, a: &'static mut super::SessionAuth| super::request(s, "", a);
            std::mem::size_of_val(&f) + size_of_fut(f)
        }
        fn size_of_fut<F, R>(_: F) -> usize
        where
            F: Fn(&'static super::Session, &'static mut super::SessionAuth) -> R,
        {
            std::mem::size_of::<R>()
        }
        let n = size_of_request();
        println!("request future: {n} bytes");
        assert!(n < 1024, "the request future grew to {n} bytes");
    }
}
