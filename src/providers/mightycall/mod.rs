//! MightyCall: connected with the org's own API key and user key, and its call list synced as far as MightyCall documents it.

pub mod client;
pub mod records;

pub use client::{MightyCall, MightyCallSettings};
