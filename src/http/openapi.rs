//! The OpenAPI document of the REST API, served at `GET /api/openapi.json`.
//!
//! The document is not written by hand: every route is registered through
//! `utoipa_axum`'s `routes!`, which takes the path, method, parameters,
//! bodies and responses from the handler's `#[utoipa::path]`, so a route and
//! its documentation cannot drift apart. This file adds what no handler
//! says: the title, the two kinds of bearer token, and the tags.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::Modify;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "switchboard",
        description = "A self-hosted calling server for CRMs: signaling, presence, call log, media. \
                       The signaling socket's frames are described in docs/protocol.md.",
        license(name = "MIT OR Apache-2.0"),
    ),
    modifiers(&Security),
    tags(
        (name = "calls", description = "Starting calls, acting on them, the call history"),
        (name = "recordings", description = "Recorded calls (embedded media mode)"),
        (name = "socket", description = "The signaling WebSocket"),
        (name = "admin", description = "Provisioning, with a service_role key"),
        (name = "phone", description = "Phone numbers, phone calls and texts through Twilio (docs/phone.md)"),
        (name = "phone webhooks", description = "Twilio's callbacks, checked against X-Twilio-Signature"),
        (name = "billing", description = "Usage, plans and invoices"),
        (name = "webhooks", description = "Signed webhooks out (Standard Webhooks), their outbox and delivery log (docs/webhooks.md)"),
        (name = "contacts", description = "The CRM's contacts and their activity timeline (docs/contacts.md)"),
        (name = "metrics", description = "Daily call metrics per member in the org's time zone (docs/metrics.md)"),
        (name = "integrations", description = "RingCentral call-log sync into the CallLog (docs/integrations.md)"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "dev", description = "Development mode only"),
    )
)]
pub struct ApiDoc;

/// The security schemes the routes refer to.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some("JWT".into());
            http.description = Some(what.into());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "bearer",
            bearer("A Supabase access token of a participant (CRM_USER or PORTAL_CUSTOMER)"),
        );
        components.add_security_scheme("service_key", bearer("The Supabase project's service_role key"));
    }
}

/// The document, serialized once at start.
#[derive(Clone)]
pub struct Document(pub Arc<str>);

pub async fn serve(State(doc): State<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.to_string())
}
