//! Authentication: Supabase access tokens (ES256/RS256 by the project's JWKS, or the legacy HS256 secret) → a participant or a service key.

pub mod claims;
pub mod jwks;
pub mod keys;
pub mod verifier;

pub use claims::{Claims, Identity, Principal};
pub use verifier::{AuthSettings, Verified, Verifier};
