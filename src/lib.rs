//! switchboard: a self-hosted in-app calling server (signaling, presence, call log, media).
//!
//! Layers, top to bottom: `http` and `signal` (edges) → `call` (pure state
//! machine + driver) → `presence`, `media`, `store` → `cluster` (event bus).
//! `app` wires them; `main.rs` only parses flags and runs it.

pub mod app;
pub mod auth;
pub mod call;
pub mod call_metrics;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod contacts;
pub mod dashboard;
pub mod directory;
pub mod error;
pub mod http;
pub mod integrations;
pub mod layers;
pub mod media;
pub mod membership;
pub mod metrics;
pub mod model;
pub mod net;
pub mod outbox;
pub mod phone;
pub mod presence;
pub mod providers;
pub mod ratelimit;
pub mod signal;
pub mod store;
pub mod telephony;
pub mod webhook;
pub mod webhook_feed;
pub mod wire;

pub use app::{AppState, Application};
pub use config::{Config, Settings};
pub use error::{Error, ErrorCode};
