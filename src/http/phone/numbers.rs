//! Numbers: `/api/phone/numbers…` (list, search, provision, read, relabel or move, release) and `/api/orgs/{orgId}/phone-numbers`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use crate::app::AppState;
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath};
use crate::model::Scope;
use crate::store::PhoneNumber;
use crate::telephony::{e164, provider_error};
use crate::wire::phone::PhoneNumberView;
use crate::wire::views::iso;

/// Most numbers one search returns.
pub const NUMBER_SEARCH_MAX: u32 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(visible))
        .routes(routes!(search))
        .routes(routes!(provision))
        .routes(routes!(one, update, release))
        .routes(routes!(list, add))
}

/// A list of numbers.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PhoneNumberList {
    phone_numbers: Vec<PhoneNumberView>,
}

/// A number Twilio has for sale.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ForSale {
    e164: String,
    friendly_name: String,
    locality: Option<String>,
    region: Option<String>,
    iso_country: String,
    voice: bool,
    sms: bool,
    mms: bool,
}

/// What a search found.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct NumbersForSale {
    numbers: Vec<ForSale>,
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

/// An org's numbers, as the caller may see them (a member: those assigned to them).
#[utoipa::path(get, path = "/orgs/{org_id}/phone-numbers", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    responses(
        (status = 200, description = "The numbers", body = PhoneNumberList),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "Another org (`not_found`)", body = crate::error::ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<PhoneNumberList>> {
    let scope = caller.scope_in(&org)?;
    let numbers = s.telephony.store().numbers(&scope).await?;
    Ok(Json(PhoneNumberList {
        phone_numbers: numbers.iter().map(view).collect(),
    }))
}

/// Every number the caller may see (a member: theirs; an admin: their org's; the platform: all).
#[utoipa::path(get, path = "/phone/numbers", tag = "phone",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The numbers", body = PhoneNumberList),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
    ))]
async fn visible(State(s): State<AppState>, caller: Caller) -> Result<Json<PhoneNumberList>> {
    let numbers = s.telephony.store().numbers(&caller.scope).await?;
    Ok(Json(PhoneNumberList {
        phone_numbers: numbers.iter().map(view).collect(),
    }))
}

/// One number the caller may see.
#[utoipa::path(get, path = "/phone/numbers/{id}", tag = "phone",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The number's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 200, description = "The number", body = PhoneNumberView),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "No such number the caller may see", body = crate::error::ErrorBody),
    ))]
async fn one(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<Json<PhoneNumberView>> {
    let n = s
        .telephony
        .store()
        .number(&caller.scope, &id)
        .await?
        .ok_or_else(no_number)?;
    Ok(Json(view(&n)))
}

/// `POST /api/orgs/{orgId}/phone-numbers`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"number": "+1 415 555 0142", "label": "Front desk"}))]
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

/// Registers a number the Twilio account already holds to an org (platform only).
#[utoipa::path(post, path = "/orgs/{org_id}/phone-numbers", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    request_body = AddNumber,
    responses(
        (status = 201, description = "Registered", body = PhoneNumberView),
        (status = 400, description = "A malformed body, or not a phone number", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
        (status = 409, description = "An org already holds that number", body = crate::error::ErrorBody),
    ))]
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

/// `POST /api/phone/numbers/provision`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"orgId": "t1", "number": "+14155550123", "label": "Sales"}))]
struct ProvisionNumber {
    org_id: String,
    number: String,
    label: Option<String>,
}

/// Buys a number from Twilio (IncomingPhoneNumbers) with our webhooks set, for an org (platform only).
#[utoipa::path(post, path = "/phone/numbers/provision", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    request_body = ProvisionNumber,
    responses(
        (status = 201, description = "Bought and registered", body = PhoneNumberView),
        (status = 400, description = "A malformed body, or not a phone number", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
        (status = 409, description = "An org already holds that number", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio refused (`provider_error`, its message)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn provision(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ProvisionNumber>,
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
    if let Some(sid) = &body.provider_sid
        && !(sid.len() == 34 && sid.starts_with("PN") && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Error::new(
            ErrorCode::InvalidRequest,
            "`providerSid`: Twilio's IncomingPhoneNumber sid, PN and 32 hex digits",
        ));
    }
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

/// `PATCH /api/phone/numbers/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"label": "Support"}))]
struct NumberUpdate {
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

/// Sets a number's label (its org's admin) or moves it to another org (the platform; its assignments are dropped).
#[utoipa::path(patch, path = "/phone/numbers/{id}", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The number's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    request_body = NumberUpdate,
    responses(
        (status = 200, description = "The number now", body = PhoneNumberView),
        (status = 400, description = "A malformed body", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not its org's admin (or, to move it, not a platform admin)", body = crate::error::ErrorBody),
        (status = 404, description = "No such number the caller may see", body = crate::error::ErrorBody),
    ))]
async fn update(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NumberUpdate>,
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
    store.update_number(&n, l.as_deref(), &org, now_ms()).await?;
    let n = store.number(&Scope::Platform, &id).await?.ok_or_else(no_number)?;
    Ok(Json(view(&n)))
}

/// Releases a number (at Twilio too, when it has a `PN…` sid: it leaves the account) and drops its assignments; the platform only.
#[utoipa::path(delete, path = "/phone/numbers/{id}", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The number's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c")),
    responses(
        (status = 204, description = "Released"),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
        (status = 404, description = "No such number the caller may see", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio refused the release", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured (and the number is Twilio's)", body = crate::error::ErrorBody),
    ))]
async fn release(State(s): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> Result<StatusCode> {
    let store = s.telephony.store();
    let n = store.number(&caller.scope, &id).await?.ok_or_else(no_number)?;
    // Releasing gives the number back to Twilio for good: the platform's call.
    caller.must_be_platform()?;
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

/// `POST /api/phone/numbers/search`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"country": "US", "areaCode": "415"}))]
struct NumberSearch {
    country: Option<String>,
    area_code: Option<String>,
    contains: Option<String>,
    limit: Option<u32>,
}

/// Numbers Twilio has for sale (AvailablePhoneNumbers, local; platform only).
#[utoipa::path(post, path = "/phone/numbers/search", tag = "phone",
    security(("service_key" = []), ("bearer" = [])),
    request_body = NumberSearch,
    responses(
        (status = 200, description = "What Twilio offers", body = NumbersForSale),
        (status = 400, description = "A malformed body or country", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not a platform admin", body = crate::error::ErrorBody),
        (status = 502, description = "Twilio refused (`provider_error`)", body = crate::error::ErrorBody),
        (status = 503, description = "Twilio is not configured", body = crate::error::ErrorBody),
    ))]
async fn search(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(q): ApiJson<NumberSearch>,
) -> Result<Json<NumbersForSale>> {
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
    let numbers = found
        .into_iter()
        .map(|n| ForSale {
            e164: n.phone_number,
            friendly_name: n.friendly_name,
            locality: n.locality,
            region: n.region,
            iso_country: n.iso_country,
            voice: n.capabilities.voice,
            sms: n.capabilities.sms,
            mms: n.capabilities.mms,
        })
        .collect();
    Ok(Json(NumbersForSale { numbers }))
}
