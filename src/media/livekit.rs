//! LiveKit room tokens, minted with the `livekit-api` crate.
//!
//! Identity = user id, name = display name, grants to join exactly the call's
//! room and publish/subscribe, a short TTL, and metadata naming the
//! participant type and call.

use std::time::Duration;

use livekit_api::access_token::{AccessToken, VideoGrants};
use serde_json::json;

use crate::error::{Error, Result};
use crate::model::{Call, ParticipantType};

/// LiveKit credentials and where browsers reach it.
#[derive(Clone)]
pub struct LiveKitSettings {
    pub api_key: String,
    pub api_secret: String,
    pub ws_url: Option<String>,
    pub token_ttl: Duration,
}

impl std::fmt::Debug for LiveKitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKitSettings")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("ws_url", &self.ws_url)
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// Mints tokens for one LiveKit deployment.
pub struct LiveKitTokens {
    settings: LiveKitSettings,
}

impl LiveKitTokens {
    pub fn new(settings: LiveKitSettings) -> Self {
        Self { settings }
    }

    /// The URL browsers connect to (`livekitUrl`).
    pub fn ws_url(&self) -> Option<&str> {
        self.settings.ws_url.as_deref()
    }

    /// A token for `user_id` to join `call`'s room.
    pub fn token(&self, call: &Call, user_id: &str, name: &str, kind: ParticipantType) -> Result<String> {
        let metadata = json!({ "participantType": kind.as_str(), "callId": call.id }).to_string();
        AccessToken::with_api_key(&self.settings.api_key, &self.settings.api_secret)
            .with_identity(user_id)
            .with_name(name)
            .with_metadata(&metadata)
            .with_ttl(self.settings.token_ttl)
            .with_grants(VideoGrants {
                room_join: true,
                room: call.room_name.clone(),
                can_publish: Some(true),
                can_subscribe: Some(true),
                can_publish_data: Some(true),
                ..VideoGrants::default()
            })
            .to_jwt()
            .map_err(|e| Error::Internal(anyhow::anyhow!("livekit token: {e}")))
    }
}

impl super::backend::MediaBackend for LiveKitTokens {
    fn mode(&self) -> super::MediaMode {
        super::MediaMode::Livekit
    }

    fn token(&self, call: &Call, user_id: &str, name: &str, side: crate::model::Side) -> Result<Option<String>> {
        Ok(Some(LiveKitTokens::token(
            self,
            call,
            user_id,
            name,
            call.party(side).kind,
        )?))
    }

    fn client_url(&self) -> Option<&str> {
        self.ws_url()
    }

    fn cannot_record(&self) -> Option<&str> {
        Some(super::backend::RECORDING_NEEDS_EMBEDDED)
    }

    fn negotiation(&self) -> &'static str {
        "media goes through LiveKit with the call's token"
    }
}
