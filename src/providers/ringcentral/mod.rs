//! RingCentral: the OAuth authorization-code flow and the account call log (`/restapi/v1.0/account/~/call-log`).

pub mod client;
pub mod records;

pub use client::{RingCentral, RingCentralSettings};
