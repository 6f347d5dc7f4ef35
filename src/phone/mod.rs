//! Phone calls and texts (Twilio): the pieces first — webhook signatures, E.164 numbers, softphone tokens, TwiML, Twilio's call statuses, SMS segments, billing arithmetic, the REST client.
//!
//! All but `rest.rs` are pure (no IO, no clock: a token takes its time from
//! the caller); the routes, the store and the roles of issue #11 build on
//! them, and the module moves up the layers with them.

pub mod billing;
pub mod calls;
pub mod e164;
pub mod rest;
pub mod settings;
pub mod signature;
pub mod sms;
pub mod status;
pub mod token;
pub mod twiml;
