//! Phone calls and texts (Twilio): the pure parts first — webhook signatures, E.164 numbers, softphone tokens, TwiML, Twilio's call statuses, SMS segments.
//!
//! These pieces have no IO and no clock (a token takes its time from the
//! caller); the routes, the store and the fake Twilio server of issue #11
//! build on them.

pub mod e164;
pub mod signature;
pub mod sms;
pub mod status;
pub mod token;
pub mod twiml;
