//! The wire format: client frames in (`protocol`), server frames and REST views out (`views`).

pub mod phone;
pub mod protocol;
pub mod views;
