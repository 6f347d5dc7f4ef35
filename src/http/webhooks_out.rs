//! Webhook endpoints and their delivery log (issue #12, docs/webhooks.md): `/api/webhooks/endpoints…`, the org's admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::http::phone::{Caller, OrgQuery};
use crate::store::Endpoint;
use crate::wire::views::iso;

/// Most log entries one read returns.
pub const DELIVERIES_MAX: i64 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
        .routes(routes!(deliveries))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"url": "http://127.0.0.1:8787/switchboard-hooks", "events": ["call.ended", "sms.received"], "description": "CRM timeline"}))]
struct NewEndpoint {
    /// `https://` (or `http://`) where the events are POSTed.
    url: String,
    /// Of `call.ringing`, `call.answered`, `call.ended`, `sms.received`, `integration.needs_reconnect`; empty or absent: all.
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

/// An endpoint (its secret only in the answer to its creation).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EndpointView {
    id: String,
    org_id: String,
    url: String,
    events: Vec<String>,
    description: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// `whsec_…`: verify `webhook-signature` with it. Shown once, when the endpoint is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn view(e: Endpoint, with_secret: bool) -> EndpointView {
    EndpointView {
        events: e.events.split(' ').map(str::to_owned).collect(),
        secret: with_secret.then_some(e.secret),
        id: e.id,
        org_id: e.org_id,
        url: e.url,
        description: e.description,
        created_at: iso(e.created_at),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EndpointsView {
    endpoints: Vec<EndpointView>,
}

/// The org's endpoints (the org's admin, or the platform naming `orgId`).
#[utoipa::path(get, path = "/webhooks/endpoints", tag = "webhooks",
    security(("service_key" = []), ("bearer" = [])), params(OrgQuery),
    responses(
        (status = 200, description = "The endpoints, without secrets", body = EndpointsView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<EndpointsView>> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    let list = s.outbox.store().endpoints(&org).await?;
    Ok(Json(EndpointsView {
        endpoints: list.into_iter().map(|e| view(e, false)).collect(),
    }))
}

/// Adds an endpoint; the answer carries its signing secret, the only time it is shown.
#[utoipa::path(post, path = "/webhooks/endpoints", tag = "webhooks",
    security(("service_key" = []), ("bearer" = [])), params(OrgQuery),
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "The endpoint, with its `secret`", body = EndpointView),
        (status = 400, description = "A bad URL or event, or too many endpoints", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>)> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if body.description.as_ref().is_some_and(|d| d.chars().count() > 200) {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "`description` is at most 200 characters",
        ));
    }
    let e = s
        .outbox
        .create_endpoint(&org, body.url.trim(), &body.events, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(view(e, true))))
}

/// Removes an endpoint; its undelivered messages are marked `failed`.
#[utoipa::path(delete, path = "/webhooks/endpoints/{id}", tag = "webhooks",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id", example = "0193a8c2-0000-7000-8000-000000000000"), OrgQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "No such endpoint in the org", body = crate::error::ErrorBody),
    ))]
async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<StatusCode> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if s.outbox.delete_endpoint(&org, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::new(ErrorCode::NotFound, "no such webhook endpoint"))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogQuery {
    /// 1 to 200 (default 50).
    limit: Option<i64>,
    #[param(example = "t1")]
    org_id: Option<String>,
}

/// One attempt.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AttemptView {
    /// `webhook-id` of the message.
    msg_id: String,
    event_type: String,
    /// 1 for the first try.
    attempt: i64,
    #[schema(format = DateTime)]
    at: String,
    /// The receiver's HTTP status; `null` when it could not be reached.
    status_code: Option<i64>,
    /// Why the attempt failed; `null` for a 2xx.
    error: Option<String>,
    duration_ms: i64,
}

/// One message.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MessageView {
    msg_id: String,
    event_type: String,
    /// `pending` | `delivered` | `failed`.
    state: String,
    attempts: i64,
    /// When the next attempt is due (pending messages).
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeliveryLog {
    /// Newest first.
    messages: Vec<MessageView>,
    /// Every attempt, newest first.
    attempts: Vec<AttemptView>,
}

/// The endpoint's messages and every attempt at them (the org's admin).
#[utoipa::path(get, path = "/webhooks/endpoints/{id}/deliveries", tag = "webhooks",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id", example = "0193a8c2-0000-7000-8000-000000000000"), LogQuery),
    responses(
        (status = 200, description = "The delivery log", body = DeliveryLog),
        (status = 400, description = "A bad `limit`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "No such endpoint in the org", body = crate::error::ErrorBody),
    ))]
async fn deliveries(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<DeliveryLog>> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=DELIVERIES_MAX).contains(&limit) {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("`limit` is 1 to {DELIVERIES_MAX}"),
        ));
    }
    let e = s.outbox.endpoint_of(&org, &id).await?;
    let store = s.outbox.store();
    let messages = store.messages_of(&e.id, limit).await?;
    let attempts = store.attempts_of(&e.id, limit).await?;
    Ok(Json(DeliveryLog {
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                next_attempt_at: (m.state == "pending").then(|| iso(m.next_attempt_at)),
                delivered_at: m.delivered_at.map(iso),
                created_at: iso(m.created_at),
                msg_id: m.msg_id,
                event_type: m.event_type,
                state: m.state,
                attempts: m.attempts,
            })
            .collect(),
        attempts: attempts
            .into_iter()
            .map(|(a, event_type, _)| AttemptView {
                msg_id: a.msg_id,
                event_type,
                attempt: a.attempt,
                at: iso(a.at),
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
    }))
}
