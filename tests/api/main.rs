//! Integration tests: the real server on 127.0.0.1:0, driven over HTTP and WebSocket, on SQLite and PostgreSQL.

mod fake_ringcentral;
mod fake_twilio;
mod helpers;
mod rtc_client;

mod binary;
mod calls;
mod cluster;
mod cluster_media;
mod cluster_soak;
mod cluster_support;
mod contacts;
mod directory;
mod edge;
mod events;
mod integrations;
mod integrations_support;
mod integrations_sync;
mod jwks;
mod livekit;
mod media;
mod media_recovery;
mod metrics_daily;
mod openapi;
mod phone_calls;
mod phone_numbers;
mod phone_races;
mod phone_roles;
mod phone_support;
mod rest;
mod restart;
mod security;
mod socket;
mod twilio_rest;
mod webhook_receiver;
mod webhooks_out;
