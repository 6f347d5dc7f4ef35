//! Texts: `POST /api/phone/sms`, `GET /api/phone/sms/conversations`, `GET /api/phone/sms/conversations/{id}/messages`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Page};
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::store::{Conversation, FIRST_PAGE_CURSOR};
use crate::telephony::sms::message_view;
use crate::wire::phone::{ConversationView, SmsMessageView};
use crate::wire::views::iso;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/phone/sms", post(send))
        .route("/api/phone/sms/conversations", get(conversations))
        .route("/api/phone/sms/conversations/{id}/messages", get(messages))
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Send {
    from: String,
    to: String,
    body: String,
}

async fn send(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<Send>,
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
