//! Daily call metrics and the org's time zone: `GET /api/metrics/calls/daily`, `GET`/`PUT /api/orgs/{orgId}/settings`.
//!
//! Members read their own days; org admins (and the platform, naming
//! `orgId`) read every member's and the org's totals.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::call_metrics::tally::ORG_ROW;
use crate::error::{Error, ErrorCode, Result};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::http::phone::Caller;
use crate::model::Scope;
use crate::store::DailyRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(daily))
        .routes(routes!(settings, set_settings))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DailyQuery {
    /// First day (`YYYY-MM-DD`, in the org's time zone); default: 29 days before `to`.
    #[param(example = "2026-11-08")]
    from: Option<String>,
    /// Last day, included; default: today in the org's time zone.
    #[param(example = "2026-12-07")]
    to: Option<String>,
    /// One member (a member may name only themselves).
    member_id: Option<String>,
    /// The org (the platform must name one).
    #[param(example = "t1")]
    org_id: Option<String>,
}

/// One member's (or the org's) day.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DayView {
    #[schema(example = "2026-12-07")]
    day: String,
    /// Absent on the org's totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
    total: i64,
    inbound: i64,
    outbound: i64,
    answered: i64,
    missed: i64,
    talk_seconds: i64,
}

impl DayView {
    fn of(r: DailyRow) -> Self {
        Self {
            member_id: (r.user_id != ORG_ROW).then_some(r.user_id),
            day: r.day,
            total: r.total,
            inbound: r.inbound,
            outbound: r.outbound,
            answered: r.answered,
            missed: r.missed,
            talk_seconds: r.talk_seconds,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DailyMetrics {
    org_id: String,
    /// The IANA zone days are counted in.
    #[schema(example = "America/New_York")]
    time_zone: String,
    from: String,
    to: String,
    /// Today in the org's zone.
    today: String,
    /// Per member per day, days with calls only.
    members: Vec<DayView>,
    /// The org's totals per day (each call once); admins only, else `null`.
    org: Option<Vec<DayView>>,
}

/// Calls per member per day in the org's time zone: total, inbound, outbound, answered, missed, talk seconds, over every channel.
#[utoipa::path(get, path = "/metrics/calls/daily", tag = "metrics",
    security(("service_key" = []), ("bearer" = [])), params(DailyQuery),
    responses(
        (status = 200, description = "The days (members: their own; admins: everyone's and the org's totals)", body = DailyMetrics),
        (status = 400, description = "A bad day, `from` after `to`, or more than 366 days", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A member asking for another member", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn daily(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DailyQuery>,
) -> Result<Json<DailyMetrics>> {
    let org = caller.org_or(q.org_id.as_deref())?.to_owned();
    let (user, admin) = match &caller.scope {
        Scope::Member { user_id, .. } => match q.member_id.as_deref() {
            None => (Some(user_id.clone()), false),
            Some(m) if m == user_id => (Some(user_id.clone()), false),
            Some(_) => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "a member reads only their own metrics",
                ));
            }
        },
        _ => (q.member_id.clone(), true),
    };
    let view = s
        .dashboard
        .daily(&org, q.from.as_deref(), q.to.as_deref(), None)
        .await?;
    let (mut members, mut totals) = (Vec::new(), Vec::new());
    for r in view.rows {
        if r.user_id == ORG_ROW {
            totals.push(DayView::of(r));
        } else if user.as_deref().is_none_or(|u| u == r.user_id) {
            members.push(DayView::of(r));
        }
    }
    Ok(Json(DailyMetrics {
        org_id: org,
        time_zone: view.zone,
        from: view.from,
        to: view.to,
        today: view.today,
        members,
        org: admin.then_some(totals),
    }))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"timeZone": "America/New_York"}))]
struct OrgSettings {
    /// IANA time zone: a day boundary of the metrics is midnight there.
    time_zone: String,
}

/// The org's settings (every member of the org).
#[utoipa::path(get, path = "/orgs/{org_id}/settings", tag = "metrics",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    responses(
        (status = 200, description = "The settings (`timeZone` UTC until set)", body = OrgSettings),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn settings(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<OrgSettings>> {
    caller.scope_in(&org)?;
    let (zone, _) = s.dashboard.zone_of(&org).await?;
    Ok(Json(OrgSettings { time_zone: zone }))
}

/// Sets the org's time zone (the org's admin or the platform); its metrics are recomputed in it.
#[utoipa::path(put, path = "/orgs/{org_id}/settings", tag = "metrics",
    security(("service_key" = []), ("bearer" = [])),
    params(("org_id" = String, Path, description = "The org (tenant) id", example = "t1")),
    request_body = OrgSettings,
    responses(
        (status = 200, description = "The settings now", body = OrgSettings),
        (status = 400, description = "Not an IANA time zone", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "Not the org's admin", body = crate::error::ErrorBody),
        (status = 404, description = "Another org", body = crate::error::ErrorBody),
    ))]
async fn set_settings(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<OrgSettings>,
) -> Result<Json<OrgSettings>> {
    caller.must_administer(&org)?;
    let zone = s.dashboard.set_zone(&org, body.time_zone.trim()).await?;
    Ok(Json(OrgSettings { time_zone: zone }))
}
