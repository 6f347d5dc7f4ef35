//! Media: which way audio and video flow, and the credentials clients need for it.
//!
//! `livekit`: an external LiveKit carries media; switchboard mints room tokens.
//! `p2p`: the browsers connect directly; switchboard relays `rtc.signal`.
//! `embedded`: switchboard itself forwards media (the SFU, see `sfu`).
//! `backend`: the one trait the call layer drives, whichever mode runs.

pub mod backend;
pub mod livekit;
pub mod recording;
pub mod sfu;
pub mod turn;

use clap::ValueEnum;
use serde::Serialize;

/// How a call's media flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    Livekit,
    Embedded,
    P2p,
}

impl MediaMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Livekit => "livekit",
            Self::Embedded => "embedded",
            Self::P2p => "p2p",
        }
    }
}
