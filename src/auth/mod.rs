//! Authentication: Supabase-style HS256 tokens → the identity of a participant or a service key.

pub mod claims;
pub mod extract;
pub mod verifier;

pub use claims::{Claims, Identity, Principal};
pub use extract::{AuthUser, ServiceAuth, bearer_token};
pub use verifier::Verifier;
