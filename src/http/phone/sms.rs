//! Texts: `POST /api/phone/sms`, `GET /api/phone/sms/conversations`, `GET /api/phone/sms/conversations/{id}/messages`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Caller, Page};
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::store::{Conversation, FIRST_PAGE_CURSOR};
use crate::telephony::sms::message_view;
use crate::wire::phone::{ConversationView, SmsMessageView};
use crate::wire::views::iso;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(conversations))
        .routes(routes!(messages))
}

fn view(c: &Conversation) -> ConversationView {
    ConversationView {
        id: c.id.clone(),
        org_id: c.org_id.clone(),
        phone_number_id: c.phone_number_id.clone(),
        our_number: c.our_number.clone(),
        their_number: c.their_number.clone(),
        last_message_at: iso(c.last_message_at),
    }
}

/// `POST /api/phone/sms`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"from": "+14155550100", "to": "+14155552671", "body": "Thanks for calling, here is the link."}))]
struct SendSms {
    from: String,
    to: String,
    body: String,
}

/// Sends a text from one of the caller's numbers (Twilio's Messages API, with status callbacks).
#[utoipa::path(post, path = "/phone/sms", tag = "phone",
    security(("bearer" = [])),
    request_body = SendSms,
    responses(
        (status = 201, description = "Accepted by Twilio", body = SmsMessageView),
        (status = 400, description = "A malformed body, an empty or too long text, a bad number", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "`from` is not a number the caller may use", body = crate::error::ErrorBody),
        (status = 429, description = "Too many calls and texts lately (`CALL_RATE_PER_MINUTE`); see Retry-After", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio refused it (`provider_error`); the text is stored as failed", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn send(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<SendSms>,
) -> Result<(StatusCode, Json<SmsMessageView>)> {
    let user = caller.identity.as_ref().map(|i| i.user_id.as_ref());
    let m = s
        .telephony
        .send_sms(&caller.scope, user, &b.from, &b.to, &b.body, now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(message_view(&m))))
}

/// The cursor of the conversation list: `<lastMessageAt ms>_<id>`.
fn cursor(c: &Conversation) -> String {
    format!("{}_{}", c.last_message_at, c.id)
}

/// The text threads the caller may see (a member: those of their numbers), most recent first.
#[utoipa::path(get, path = "/phone/sms/conversations", tag = "phone",
    security(("bearer" = [])),
    params(super::Page),
    responses(
        (status = 200, description = "`{conversations: [ConversationView], nextCursor}`", body = Object),
        (status = 400, description = "A bad `limit` or `before`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ))]
async fn conversations(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>> {
    let limit = page.limit()?;
    let before = match page.before.as_deref() {
        None => (i64::MAX, FIRST_PAGE_CURSOR.to_owned()),
        Some(c) => {
            let (at, id) = c
                .split_once('_')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| Error::new(ErrorCode::InvalidRequest, "`before`: not a cursor this server gave"))?;
            (at, id)
        }
    };
    let list = s
        .telephony
        .store()
        .conversations(&caller.scope, (before.0, &before.1), limit)
        .await?;
    let next = (list.len() as i64 == limit).then(|| list.last().map(cursor)).flatten();
    Ok(Json(json!({
        "conversations": list.iter().map(view).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

/// A thread's texts, newest first, a page at a time.
#[utoipa::path(get, path = "/phone/sms/conversations/{id}/messages", tag = "phone",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The conversation's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c"), super::Page),
    responses(
        (status = 200, description = "`{conversation, messages: [SmsMessageView], nextCursor}`", body = Object),
        (status = 400, description = "A bad `limit`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such thread the caller may see", body = crate::error::ErrorBody),
    ))]
async fn messages(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>> {
    let limit = page.limit()?;
    let store = s.telephony.store();
    let c = store
        .conversation(&caller.scope, &id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such conversation"))?;
    let before = page.before.as_deref().unwrap_or(FIRST_PAGE_CURSOR);
    let list = store.messages(&c.id, before, limit).await?;
    let next = (list.len() as i64 == limit)
        .then(|| list.last().map(|m| m.id.clone()))
        .flatten();
    Ok(Json(json!({
        "conversation": view(&c),
        "messages": list.iter().map(message_view).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}
