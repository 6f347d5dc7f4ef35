//! Provider tokens sealed at rest: AES-256-GCM under `SWITCHBOARD_ENCRYPTION_KEY`, stored as `v1.<base64(nonce ‖ ciphertext)>`.
//!
//! The key is 32 bytes, given in standard base64 (`openssl rand -base64 32`).
//! Each seal draws a fresh 96-bit nonce from the OS. A second key, for
//! signing OAuth `state` values, is derived from it with HMAC-SHA256, so
//! one secret serves both and neither use can stand in for the other.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The version tag of the sealed format.
const PREFIX: &str = "v1.";
/// AES-GCM's nonce length.
const NONCE_LEN: usize = 12;
/// What the OAuth-state key is derived with.
const STATE_KEY_LABEL: &[u8] = b"switchboard oauth state v1";

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Not in the `v1.` format at all.
    Malformed,
    /// Sealed under another key, or altered.
    WrongKey,
}

/// Seals and opens tokens; its `Debug` shows no key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    state_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    /// From the key's base64 text; an error says what is wrong with it.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "SWITCHBOARD_ENCRYPTION_KEY must be base64 (openssl rand -base64 32)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "SWITCHBOARD_ENCRYPTION_KEY must decode to exactly 32 bytes".to_owned())?;
        Ok(Self::new(&key))
    }

    pub fn new(key: &[u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(STATE_KEY_LABEL);
        Self {
            cipher: Aes256Gcm::new(key.into()),
            state_key: mac.finalize().into_bytes().into(),
        }
    }

    /// The key that signs OAuth `state` values.
    pub fn state_key(&self) -> &[u8] {
        &self.state_key
    }

    /// `plain`, sealed under a fresh nonce.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// The text `seal` was given.
    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; 32])
    }

    #[test]
    fn sealed_text_opens_only_under_its_key_and_hides_the_plaintext() {
        let s = sealer(7);
        let sealed = s.seal("refresh-token-secret");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("refresh-token-secret"));
        assert_eq!(s.open(&sealed).unwrap(), "refresh-token-secret");
        assert_eq!(sealer(8).open(&sealed), Err(SealError::WrongKey));
        // Fresh nonces: the same text seals differently each time.
        assert_ne!(s.seal("x"), s.seal("x"));
    }

    #[test]
    fn altered_or_malformed_values_are_refused() {
        let s = sealer(1);
        let sealed = s.seal("abc");
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            s.open(&format!("v1.{}", STANDARD.encode(&bytes))),
            Err(SealError::WrongKey)
        );
        assert_eq!(s.open("abc"), Err(SealError::Malformed));
        assert_eq!(s.open("v1.!!"), Err(SealError::Malformed));
        assert_eq!(s.open("v1.AAAA"), Err(SealError::Malformed));
        assert_eq!(s.open(""), Err(SealError::Malformed));
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert!(Sealer::from_base64("not base64!").unwrap_err().contains("base64"));
        assert!(
            Sealer::from_base64(&STANDARD.encode([0u8; 16]))
                .unwrap_err()
                .contains("32 bytes")
        );
        let s = Sealer::from_base64(&STANDARD.encode([9u8; 32])).unwrap();
        assert_eq!(format!("{s:?}"), "Sealer(<redacted>)");
        assert_ne!(
            s.state_key(),
            &[9u8; 32][..],
            "the state key is derived, not the key itself"
        );
    }
}
