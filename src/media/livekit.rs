//! LiveKit room tokens, minted with the `livekit-api` crate.
//!
//! Identity = user id, name = display name, grants to join exactly the call's
//! room and publish/subscribe, a short TTL, and metadata naming the
//! participant type and call.

use livekit_api::access_token::{AccessToken, VideoGrants};
use serde_json::json;

use crate::call::model::{Call, ParticipantType};
use crate::config::LiveKitSettings;
use crate::error::{Error, Result};

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
