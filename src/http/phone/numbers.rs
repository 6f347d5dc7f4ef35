//! Numbers and assignments: `/api/phone/numbers…` (list, search, provision, read, relabel or move, release), `/api/orgs/{orgId}/phone-numbers`, the assignments routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Caller;
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath};
use crate::model::Scope;
use crate::store::{MAX_ASSIGNED_NUMBERS, PhoneNumber};
use crate::telephony::{e164, provider_error};
use crate::wire::phone::{AssignmentView, AssignmentsView, PhoneNumberView};
use crate::wire::views::iso;

/// Most numbers one search returns.
pub const NUMBER_SEARCH_MAX: u32 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/phone/numbers", get(visible))
        .route("/api/phone/numbers/search", post(search))
        .route("/api/phone/numbers/provision", post(provision))
        .route("/api/phone/numbers/{id}", get(one).patch(update).delete(release))
        .route("/api/orgs/{org_id}/phone-numbers", get(list).post(add))
        .route(
            "/api/orgs/{org_id}/users/{user_id}/phone-assignments",
            get(assignments).post(assign),
        )
        .route("/api/user/phone-assignments", get(my_assignments))
}

pub fn view(n: &PhoneNumber) -> PhoneNumberView {
    PhoneNumberView {
        id: n.id.clone(),
        org_id: n.org_id.clone(),
        e164: n.e164.clone(),
        provider: n.provider.clone(),
        provider_sid: n.provider_sid.clone(),
        label: n.label.clone(),
        voice: n.voice,
        sms: n.sms,
        created_at: iso(n.created_at),
    }
}

fn no_number() -> Error {
    Error::new(ErrorCode::NotFound, "no such phone number")
}

async fn list(State(s): State<AppState>, caller: Caller, ApiPath(org): ApiPath<String>) -> Result<Json<Value>> {
    let scope = caller.scope_in(&org)?;
    let numbers = s.telephony.store().numbers(&scope).await?;
    Ok(Json(
        json!({ "phoneNumbers": numbers.iter().map(view).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/phone/numbers`: every number the caller may see (a member: theirs; an admin: their org's; the platform: all).
async fn visible(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>> {
    let numbers = s.telephony.store().numbers(&caller.scope).await?;
    Ok(Json(
        json!({ "phoneNumbers": numbers.iter().map(view).collect::<Vec<_>>() }),
    ))
}

async fn one(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Json<PhoneNumberView>> {
    let n = s
        .telephony
        .store()
        .number(&caller.scope, &id)
        .await?
        .ok_or_else(no_number)?;
    Ok(Json(view(&n)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddNumber {
    /// Any spelling `phonenumber` reads as one number (`+1 415 555 0100`).
    number: String,
    label: Option<String>,
    /// The account's `PN…` sid of a number registered without `provision`.
    provider_sid: Option<String>,
    voice: Option<bool>,
    sms: Option<bool>,
}

/// Longest label.
pub const MAX_LABEL_CHARS: usize = 100;

fn label(l: Option<String>) -> Result<Option<String>> {
    match l.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > MAX_LABEL_CHARS => Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("`label` is longer than {MAX_LABEL_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

/// `POST /api/orgs/{orgId}/phone-numbers`: registers a number the Twilio account already holds.
async fn add(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<AddNumber>,
) -> Result<(StatusCode, Json<PhoneNumberView>)> {
    caller.must_be_platform()?;
    let n = register(&s, org, body, false).await?;
    Ok((StatusCode::CREATED, Json(view(&n))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Provision {
    org_id: String,
    number: String,
    label: Option<String>,
}

/// `POST /api/phone/numbers/provision`: buys a number from Twilio (IncomingPhoneNumbers) with our webhooks set, for an org.
async fn provision(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Provision>,
) -> Result<(StatusCode, Json<PhoneNumberView>)> {
    caller.must_be_platform()?;
    let add = AddNumber {
        number: body.number,
        label: body.label,
        provider_sid: None,
        voice: None,
        sms: None,
    };
    let n = register(&s, body.org_id, add, true).await?;
    Ok((StatusCode::CREATED, Json(view(&n))))
}

async fn register(s: &AppState, org: String, body: AddNumber, buy: bool) -> Result<PhoneNumber> {
    if org.is_empty() || org.len() > crate::auth::claims::MAX_CLAIM_ID_LEN {
        return Err(Error::new(ErrorCode::InvalidRequest, "`orgId` is empty or too long"));
    }
    let e164 = e164(&body.number)?;
    let mut n = PhoneNumber {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org,
        e164,
        provider: "twilio".into(),
        provider_sid: body.provider_sid,
        label: label(body.label)?,
        voice: body.voice.unwrap_or(true),
        sms: body.sms.unwrap_or(true),
        created_at: now_ms(),
        released_at: None,
    };
    if s.telephony.store().number_by_e164(&n.e164).await?.is_some() {
        return Err(Error::new(ErrorCode::Conflict, "that number is already held"));
    }
    if buy {
        let t = s.telephony.twilio()?;
        let base = "/api/phone/webhooks/twilio";
        let bought = t
            .rest
            .provision_number(
                &n.e164,
                &t.settings.url(&format!("{base}/voice")),
                &t.settings.url(&format!("{base}/sms")),
                &t.settings.url(&format!("{base}/status")),
            )
            .await
            .map_err(provider_error)?;
        n.provider_sid = Some(bought.sid);
        n.voice = bought.capabilities.voice;
        n.sms = bought.capabilities.sms;
    }
    s.telephony.store().insert_number(&n).await?;
    Ok(n)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Update {
    /// A new label (`null` or empty clears it).
    #[serde(default, deserialize_with = "present")]
    label: Option<Option<String>>,
    /// Move the number to another org (platform only; its assignments are dropped).
    org_id: Option<String>,
}

/// A field given (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /api/phone/numbers/{id}`: label (the number's org admin) and org (the platform).
async fn update(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Update>,
) -> Result<Json<PhoneNumberView>> {
    let store = s.telephony.store();
    let n = store.number(&caller.scope, &id).await?.ok_or_else(no_number)?;
    caller.must_administer(&n.org_id)?;
    let org = match &body.org_id {
        Some(o) if *o != n.org_id => {
            caller.must_be_platform()?;
            if o.is_empty() || o.len() > crate::auth::claims::MAX_CLAIM_ID_LEN {
                return Err(Error::new(ErrorCode::InvalidRequest, "`orgId` is empty or too long"));
            }
            o.clone()
        }
        _ => n.org_id.clone(),
    };
    let l = match body.label {
        Some(l) => label(l)?,
        None => n.label.clone(),
    };
    store.update_number(&n, l.as_deref(), &org).await?;
    let n = store.number(&Scope::Platform, &id).await?.ok_or_else(no_number)?;
    Ok(Json(view(&n)))
}

/// `DELETE /api/phone/numbers/{id}`: releases the number (at Twilio too, when it has a `PN…` sid) and drops its assignments.
async fn release(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<StatusCode> {
    let store = s.telephony.store();
    let n = store.number(&caller.scope, &id).await?.ok_or_else(no_number)?;
    caller.must_administer(&n.org_id)?;
    if let Some(sid) = &n.provider_sid {
        match s.telephony.twilio()?.rest.release_number(sid).await {
            Ok(()) => {}
            // Already gone from the account: release it here too.
            Err(crate::phone::rest::TwilioError::Api(e)) if e.status == 404 => {}
            Err(e) => return Err(provider_error(e)),
        }
    }
    store.release_number(&n.id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Assign {
    phone_number_ids: Vec<String>,
}

async fn assignments_view(s: &AppState, org: &str, user: &str) -> Result<AssignmentsView> {
    let store = s.telephony.store();
    let scope = Scope::Org { org_id: org.to_owned() };
    let mut out = Vec::new();
    for a in store.assignments_of(org, user).await? {
        if let Some(n) = store.number(&scope, &a.phone_number_id).await? {
            out.push(AssignmentView {
                phone_number_id: n.id,
                e164: n.e164,
                label: n.label,
                user_id: a.user_id,
                org_id: a.org_id,
                assigned_at: iso(a.created_at),
            });
        }
    }
    Ok(AssignmentsView {
        user_id: user.to_owned(),
        org_id: org.to_owned(),
        phone_number_ids: out.iter().map(|a| a.phone_number_id.clone()).collect(),
        assignments: out,
    })
}

async fn assign(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Assign>,
) -> Result<Json<AssignmentsView>> {
    caller.must_administer(&org)?;
    if body.phone_number_ids.len() > MAX_ASSIGNED_NUMBERS {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            format!("at most {MAX_ASSIGNED_NUMBERS} numbers per member"),
        ));
    }
    if user.is_empty() || user.len() > crate::auth::claims::MAX_CLAIM_ID_LEN {
        return Err(Error::new(ErrorCode::InvalidRequest, "`userId` is empty or too long"));
    }
    let store = s.telephony.store();
    let scope = Scope::Org { org_id: org.clone() };
    let mut ids = body.phone_number_ids;
    ids.sort();
    ids.dedup();
    for id in &ids {
        if store.number(&scope, id).await?.is_none() {
            return Err(Error::new(ErrorCode::NotFound, format!("no such phone number: {id}")));
        }
    }
    store.set_assignments(&org, &user, &ids, now_ms()).await?;
    Ok(Json(assignments_view(&s, &org, &user).await?))
}

async fn assignments(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
) -> Result<Json<AssignmentsView>> {
    let own = matches!(&caller.scope, Scope::Member { org_id, user_id } if *org_id == org && *user_id == user);
    if !own {
        caller.must_administer(&org)?;
    }
    Ok(Json(assignments_view(&s, &org, &user).await?))
}

async fn my_assignments(State(s): State<AppState>, caller: Caller) -> Result<Json<AssignmentsView>> {
    let me = caller.person()?;
    Ok(Json(assignments_view(&s, &me.tenant_id, &me.user_id).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Search {
    country: Option<String>,
    area_code: Option<String>,
    contains: Option<String>,
    limit: Option<u32>,
}

/// `POST /api/phone/numbers/search`: numbers Twilio has for sale (AvailablePhoneNumbers, local).
async fn search(State(s): State<AppState>, caller: Caller, ApiJson(q): ApiJson<Search>) -> Result<Json<Value>> {
    caller.must_be_platform()?;
    let t = s.telephony.twilio()?;
    let found = t
        .rest
        .search_numbers(
            q.country.as_deref().unwrap_or("US"),
            q.area_code.as_deref(),
            q.contains.as_deref(),
            q.limit.unwrap_or(20).clamp(1, NUMBER_SEARCH_MAX),
        )
        .await
        .map_err(provider_error)?;
    let numbers: Vec<Value> = found
        .iter()
        .map(|n| {
            json!({
                "e164": n.phone_number, "friendlyName": n.friendly_name, "locality": n.locality,
                "region": n.region, "isoCountry": n.iso_country,
                "capabilities": {"voice": n.capabilities.voice, "sms": n.capabilities.sms, "mms": n.capabilities.mms},
            })
        })
        .collect();
    Ok(Json(json!({ "numbers": numbers })))
}
