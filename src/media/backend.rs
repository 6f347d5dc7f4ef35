//! `MediaBackend`: how a call's media flows (embedded SFU, LiveKit, p2p), behind one trait the call layer drives.
//!
//! The call layer never asks which mode it runs in: it asks the backend for a
//! participant's media token, whether calls can be recorded, and tells it
//! when a call becomes ACTIVE or ends. `EmbeddedMedia` runs the SFU,
//! `LiveKitTokens` mints room tokens, `P2pMedia` leaves media to the browsers
//! (they exchange `rtc.signal` through switchboard).

use std::sync::Arc;

use super::MediaMode;
use super::sfu::Sfu;
use crate::error::Result;
use crate::model::{Call, CallStatus, Side};

/// Why a mode without the SFU cannot record.
pub const RECORDING_NEEDS_EMBEDDED: &str = "recording needs the embedded media mode";

/// A way for a call's media to flow.
pub trait MediaBackend: Send + Sync + 'static {
    fn mode(&self) -> MediaMode;

    /// `user_id`'s media credential for `call` (a LiveKit token), if this backend has one.
    fn token(&self, _call: &Call, _user_id: &str, _name: &str, _side: Side) -> Result<Option<String>> {
        Ok(None)
    }

    /// Where clients use that token.
    fn client_url(&self) -> Option<&str> {
        None
    }

    /// Why calls cannot be recorded here (None: they can).
    fn cannot_record(&self) -> Option<&str>;

    /// The call's status changed from `prev` to `call.status` (media flows
    /// once ACTIVE and is released at the end). Never waits.
    fn follow(&self, _call: &Call, _prev: CallStatus) {}

    /// Whether a side of the call has lost its media now.
    fn media_lost(&self, _call_id: &str) -> bool {
        false
    }

    /// The embedded SFU, for `rtc.offer` / `rtc.answer` / `rtc.candidate`.
    fn sfu(&self) -> Option<&Arc<Sfu>> {
        None
    }

    /// How media is negotiated instead, for a client that sends `rtc.offer` here.
    fn negotiation(&self) -> &'static str;
}

/// Media straight between the browsers.
pub struct P2pMedia;

impl MediaBackend for P2pMedia {
    fn mode(&self) -> MediaMode {
        MediaMode::P2p
    }

    fn cannot_record(&self) -> Option<&str> {
        Some(RECORDING_NEEDS_EMBEDDED)
    }

    fn negotiation(&self) -> &'static str {
        "browsers connect to each other with rtc.signal"
    }
}

/// Media through the embedded SFU.
pub struct EmbeddedMedia {
    pub sfu: Arc<Sfu>,
    /// Why calls cannot be recorded on this server (the recording directory
    /// is not writable), if they cannot.
    pub cannot_record: Option<String>,
}

impl MediaBackend for EmbeddedMedia {
    fn mode(&self) -> MediaMode {
        MediaMode::Embedded
    }

    fn cannot_record(&self) -> Option<&str> {
        self.cannot_record.as_deref()
    }

    fn follow(&self, call: &Call, prev: CallStatus) {
        let sfu = self.sfu.clone();
        let id = call.id.clone();
        if call.status.is_final() {
            let ended_at = call.ended_at;
            tokio::spawn(async move { sfu.close(&id, ended_at).await });
        } else if call.status == CallStatus::Active && prev == CallStatus::Ringing {
            tokio::spawn(async move { sfu.activate(&id).await });
        }
    }

    fn media_lost(&self, call_id: &str) -> bool {
        self.sfu.media_lost(call_id)
    }

    fn sfu(&self) -> Option<&Arc<Sfu>> {
        Some(&self.sfu)
    }

    fn negotiation(&self) -> &'static str {
        "rtc.offer is answered by the server"
    }
}
