//! Token minting: Supabase-style HS256 user tokens, as switchboard verifies them.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// Mints user tokens with one secret.
pub struct Minter {
    key: EncodingKey,
    audience: String,
}

/// Lifetime of minted tokens.
pub const TOKEN_TTL_SECS: u64 = 6 * 3600;

impl Minter {
    pub fn new(secret: &str, audience: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            audience: audience.to_owned(),
        }
    }

    /// A token for `user` of `tenant`; `agent` picks CRM_USER over PORTAL_CUSTOMER.
    pub fn token(&self, tenant: &str, user: &str, agent: bool) -> anyhow::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let claims = json!({
            "sub": user,
            "aud": self.audience,
            "exp": now + TOKEN_TTL_SECS,
            "iat": now,
            "role": "authenticated",
            "app_metadata": {
                "tenant_id": tenant,
                "participant_type": if agent { "CRM_USER" } else { "PORTAL_CUSTOMER" },
            },
            "user_metadata": {"first_name": user, "last_name": "Load"},
        });
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}
