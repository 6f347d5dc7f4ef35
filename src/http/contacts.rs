//! Contacts and their timeline (issue #12, docs/contacts.md): `PUT /api/contacts/{id}`, bulk upsert, `GET` one, its activities, notes.
//!
//! The CRM pushes contacts with an org admin's token or a service key
//! (naming `orgId`); every member of the org reads them. A member's
//! timeline holds only what they may see (their calls, their numbers' calls
//! and texts) and every note. Another org's contact is `404`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::clock::now_ms;
use crate::contacts::{
    CONTACT_TYPES, Item, MAX_BULK_CONTACTS, MAX_CONTACT_ID_LEN, MAX_CONTACT_NAME_LEN, MAX_CONTACT_NUMBERS,
    MAX_NOTE_LEN, TIMELINE_PAGE_DEFAULT, TIMELINE_PAGE_MAX, cursor_after, merge, parse_cursor,
};
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::http::phone::{Caller, OrgQuery};
use crate::model::{ParticipantType, Scope};
use crate::store::{Contact, Note};
use crate::wire::phone::SmsMessageView;
use crate::wire::views::{CallView, iso};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_contact, get_contact, delete_contact))
        .routes(routes!(bulk))
        .routes(routes!(activities, add_note))
}

fn bad(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorCode::InvalidRequest, msg)
}

fn no_contact() -> Error {
    Error::new(ErrorCode::NotFound, "no such contact")
}

/// A contact as the CRM sends it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "Pat Customer", "type": "customer", "phoneNumbers": ["+16505550100", "(650) 555-0101"], "region": "US", "portalUserId": "carol"}))]
struct ContactBody {
    /// Only in a bulk upsert (a `PUT` takes it from the path).
    #[serde(default)]
    id: Option<String>,
    name: String,
    /// `prospect` | `customer` | `lead`.
    #[serde(rename = "type")]
    kind: String,
    /// In E.164, or national in `region`'s format; at most 20.
    #[serde(default)]
    phone_numbers: Vec<String>,
    /// ISO 3166 alpha-2 (`US`) for numbers written without `+`.
    #[serde(default)]
    region: Option<String>,
    /// The portal user id (Supabase `sub`) if the contact has a portal login.
    #[serde(default)]
    portal_user_id: Option<String>,
}

/// A contact.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ContactView {
    id: String,
    org_id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    /// E.164.
    phone_numbers: Vec<String>,
    portal_user_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

fn view(c: Contact, numbers: Vec<String>) -> ContactView {
    ContactView {
        id: c.id,
        org_id: c.org_id,
        name: c.name,
        kind: c.kind,
        phone_numbers: numbers,
        portal_user_id: c.portal_user_id,
        created_at: iso(c.created_at),
        updated_at: iso(c.updated_at),
    }
}

/// The contact and its numbers in E.164, or `400` naming what is wrong.
fn checked(org: &str, id: &str, b: &ContactBody, now: i64) -> Result<(Contact, Vec<String>)> {
    if id.is_empty() || id.len() > MAX_CONTACT_ID_LEN {
        return Err(bad(format!("a contact id is 1 to {MAX_CONTACT_ID_LEN} characters")));
    }
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > MAX_CONTACT_NAME_LEN {
        return Err(bad(format!("`name` is 1 to {MAX_CONTACT_NAME_LEN} characters ({id})")));
    }
    if !CONTACT_TYPES.contains(&b.kind.as_str()) {
        return Err(bad(format!("`type` is one of prospect, customer, lead ({id})")));
    }
    if b.phone_numbers.len() > MAX_CONTACT_NUMBERS {
        return Err(bad(format!(
            "at most {MAX_CONTACT_NUMBERS} phone numbers a contact ({id})"
        )));
    }
    let mut numbers = Vec::with_capacity(b.phone_numbers.len());
    for n in &b.phone_numbers {
        let e164 = crate::phone::e164::normalize(n, b.region.as_deref())
            .map_err(|e| bad(format!("phone number `{n}` of {id}: {e}")))?;
        if !numbers.contains(&e164) {
            numbers.push(e164);
        }
    }
    if let Some(p) = &b.portal_user_id
        && (p.is_empty() || p.len() > crate::auth::claims::MAX_CLAIM_ID_LEN)
    {
        return Err(bad(format!("`portalUserId` is empty or too long ({id})")));
    }
    Ok((
        Contact {
            org_id: org.to_owned(),
            id: id.to_owned(),
            name: name.to_owned(),
            kind: b.kind.clone(),
            portal_user_id: b.portal_user_id.clone(),
            created_at: now,
            updated_at: now,
        },
        numbers,
    ))
}

/// Creates or replaces a contact (the org's admin, or the platform naming `orgId`).
#[utoipa::path(put, path = "/contacts/{id}", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The CRM's id of the contact", example = "crm-1001"), OrgQuery),
    request_body = ContactBody,
    responses(
        (status = 200, description = "The contact now", body = ContactView),
        (status = 400, description = "A bad name, type, number or id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn put_contact(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<ContactView>> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(bad("the body's `id` differs from the path's"));
    }
    let (contact, numbers) = checked(&org, &id, &body, now_ms())?;
    let store = &s.store;
    store.upsert_contact(&contact, &numbers).await?;
    let stored = store.contact(&org, &id).await?.ok_or_else(no_contact)?;
    let numbers = store.contact_numbers(&org, &id).await?;
    Ok(Json(view(stored, numbers)))
}

/// One contact (every member of its org).
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The CRM's id of the contact", example = "crm-1001"), OrgQuery),
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A portal customer", body = crate::error::ErrorBody),
        (status = 404, description = "No such contact in the org", body = crate::error::ErrorBody),
    ))]
async fn get_contact(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<Json<ContactView>> {
    let org = reader_org(&caller, q.org_id.as_deref())?;
    let c = s.store.contact(&org, &id).await?.ok_or_else(no_contact)?;
    let numbers = s.store.contact_numbers(&org, &id).await?;
    Ok(Json(view(c, numbers)))
}

/// Deletes a contact with its notes (the org's admin, or the platform naming `orgId`). Its calls and texts stay in their histories; they just match no contact.
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The CRM's id of the contact", example = "crm-1001"), OrgQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "No such contact in the org", body = crate::error::ErrorBody),
    ))]
async fn delete_contact(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> Result<StatusCode> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if s.store.delete_contact(&org, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_contact())
    }
}

/// The org a reader of contacts reads in; portal customers read none.
fn reader_org(caller: &Caller, named: Option<&str>) -> Result<String> {
    if caller
        .identity
        .as_ref()
        .is_some_and(|i| i.kind != ParticipantType::CrmUser)
    {
        return Err(Error::new(ErrorCode::Forbidden, "contacts are for the CRM's users"));
    }
    Ok(caller.org_or(named)?.to_owned())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"contacts": [{"id": "crm-1002", "name": "Lee Lead", "type": "lead", "phoneNumbers": ["+16505550142"]}]}))]
struct BulkBody {
    contacts: Vec<ContactBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct BulkView {
    upserted: usize,
}

/// Creates or replaces up to 500 contacts (the org's admin, or the platform). All are checked before any is written.
#[utoipa::path(post, path = "/contacts/bulk", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])), params(OrgQuery),
    request_body = BulkBody,
    responses(
        (status = 200, description = "How many were written", body = BulkView),
        (status = 400, description = "A bad contact (named), a missing or repeated id, or more than 500", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn bulk(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkView>> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    caller.must_administer(&org)?;
    if body.contacts.len() > MAX_BULK_CONTACTS {
        return Err(bad(format!("at most {MAX_BULK_CONTACTS} contacts a request")));
    }
    let now = now_ms();
    let mut checked_all = Vec::with_capacity(body.contacts.len());
    let mut ids = std::collections::HashSet::new();
    for (i, c) in body.contacts.iter().enumerate() {
        let id =
            c.id.as_deref()
                .ok_or_else(|| bad(format!("contact #{i} has no `id`")))?;
        if !ids.insert(id) {
            return Err(bad(format!("contact `{id}` appears twice")));
        }
        checked_all.push(checked(&org, id, c, now)?);
    }
    for (contact, numbers) in &checked_all {
        s.store.upsert_contact(contact, numbers).await?;
    }
    Ok(Json(BulkView {
        upserted: checked_all.len(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimelineQuery {
    /// `nextCursor` of the previous page.
    before: Option<String>,
    /// 1 to 200 (default 50).
    limit: Option<i64>,
    #[param(example = "t1")]
    org_id: Option<String>,
}

/// One timeline entry.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ActivityView {
    /// `call` | `voicemail` | `sms` | `note`.
    kind: &'static str,
    id: String,
    #[schema(format = DateTime)]
    at: String,
    /// The CRM user involved (the agent on the call, the sender of a text, the note's author), if known.
    member_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<CallView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<SmsMessageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<NoteView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct NoteView {
    body: String,
    author_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TimelineView {
    activities: Vec<ActivityView>,
    /// `before` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

fn activity(item: Item) -> ActivityView {
    let (kind, id, at) = (item.kind(), item.id().to_owned(), iso(item.at()));
    match item {
        Item::Call(c) => {
            let member = [&c.caller, &c.callee]
                .into_iter()
                .find(|p| p.kind == ParticipantType::CrmUser)
                .map(|p| p.user_id.clone());
            ActivityView {
                kind,
                id,
                at,
                member_id: member,
                call: Some(CallView::from(&c)),
                sms: None,
                note: None,
            }
        }
        Item::Text(t) => ActivityView {
            kind,
            id,
            at,
            member_id: t.user_id.clone(),
            call: None,
            sms: Some(crate::telephony::sms::message_view(&t)),
            note: None,
        },
        Item::Note(n) => ActivityView {
            kind,
            id,
            at,
            member_id: Some(n.author_id.clone()),
            call: None,
            sms: None,
            note: Some(NoteView {
                body: n.body,
                author_id: n.author_id,
            }),
        },
    }
}

/// The contact's calls, voicemails, texts and notes, newest first, with the member involved (every member: what they may see).
#[utoipa::path(get, path = "/contacts/{id}/activities", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The CRM's id of the contact", example = "crm-1001"), TimelineQuery),
    responses(
        (status = 200, description = "A page of the timeline", body = TimelineView),
        (status = 400, description = "A bad `limit` or `before`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A portal customer", body = crate::error::ErrorBody),
        (status = 404, description = "No such contact in the org", body = crate::error::ErrorBody),
    ))]
async fn activities(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Json<TimelineView>> {
    let org = reader_org(&caller, q.org_id.as_deref())?;
    let limit = q.limit.unwrap_or(TIMELINE_PAGE_DEFAULT);
    if !(1..=TIMELINE_PAGE_MAX).contains(&limit) {
        return Err(bad(format!("`limit` is 1 to {TIMELINE_PAGE_MAX}")));
    }
    let before = parse_cursor(q.before.as_deref()).map_err(bad)?;
    let contact = s.store.contact(&org, &id).await?.ok_or_else(no_contact)?;
    let member = match &caller.scope {
        Scope::Member { user_id, .. } => Some(user_id.as_str()),
        _ => None,
    };
    let calls = s.store.contact_calls(&contact, member, &before, limit).await?;
    let texts = s.store.contact_texts(&contact, member, &before, limit).await?;
    let notes = s.store.contact_notes(&contact, &before, limit).await?;
    let page = merge(calls, texts, notes, limit as usize);
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(cursor_after))
        .flatten();
    Ok(Json(TimelineView {
        activities: page.into_iter().map(activity).collect(),
        next_cursor: next,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"body": "Called back about the renewal; wants a quote by Friday.", "authorId": "agent-9"}))]
struct NoteBody {
    body: String,
    /// Who wrote it: required with a service key (the CRM posting for one of its users); a person may name only themselves.
    #[serde(default)]
    author_id: Option<String>,
}

/// Adds a manual note to the contact's timeline (any member of the org, or the platform naming `authorId`).
#[utoipa::path(post, path = "/contacts/{id}/activities", tag = "contacts",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The CRM's id of the contact", example = "crm-1001"), OrgQuery),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The note, as a timeline entry", body = ActivityView),
        (status = 400, description = "An empty or too long note, or a service key without `authorId`", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A portal customer, or a person naming someone else", body = crate::error::ErrorBody),
        (status = 404, description = "No such contact in the org", body = crate::error::ErrorBody),
    ))]
async fn add_note(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OrgQuery>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<ActivityView>)> {
    let org = reader_org(&caller, q.org_id.as_deref())?;
    let author = match (&caller.identity, body.author_id) {
        (Some(me), None) => me.user_id.to_string(),
        (Some(me), Some(named)) if *me.user_id == *named => named,
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "a person writes notes only as themselves",
            ));
        }
        (None, Some(named)) if !named.is_empty() && named.len() <= crate::auth::claims::MAX_CLAIM_ID_LEN => named,
        (None, _) => return Err(bad("a service key names the note's `authorId`")),
    };
    let text = body.body.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_LEN {
        return Err(bad(format!("a note is 1 to {MAX_NOTE_LEN} characters")));
    }
    s.store.contact(&org, &id).await?.ok_or_else(no_contact)?;
    let note = Note {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org,
        contact_id: id,
        author_id: author,
        body: text.to_owned(),
        created_at: now_ms(),
    };
    s.store.insert_note(&note).await?;
    Ok((StatusCode::CREATED, Json(activity(Item::Note(note)))))
}
