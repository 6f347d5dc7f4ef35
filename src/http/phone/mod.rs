//! The phone routes (issue #11): numbers and assignments, phone calls, texts, usage and invoices, and Twilio's webhooks.
//!
//! Who may do what comes from [`Caller`]: a `service_role` key or a
//! `platform_admin` token is the platform, `admin`/`owner` their org, anyone
//! else a member. Handlers pass the caller's [`Scope`] to the store, whose
//! queries do the filtering; another org's rows are `404`, as unknown ids.

mod assignments;
mod billing;
mod calls;
mod members;
mod numbers;
mod sms;
mod webhooks;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::auth::claims::{Identity, Principal};
use crate::clock::now_ms;
use crate::error::{Error, ErrorCode, Result};
use crate::http::extract::bearer_token;
use crate::model::{ParticipantType, Role, Scope};

/// Every phone route, under `/api` with the rest of the documented API.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .merge(numbers::router())
        .merge(assignments::router())
        .merge(members::router())
        .merge(calls::router())
        .merge(sms::router())
        .merge(billing::router())
        .merge(webhooks::router())
}

/// `?orgId=`: the org a request acts in (the platform must name one; others may name only their own).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgQuery {
    /// The org (the platform must name one; others may name only their own).
    #[param(example = "t1")]
    pub org_id: Option<String>,
}

/// Who is asking, and what they may see.
pub struct Caller {
    /// `None` for a `service_role` key.
    pub identity: Option<Arc<Identity>>,
    pub role: Role,
    pub scope: Scope,
}

impl Caller {
    /// `403` unless the caller administers `org_id` (its admin, or the platform); `404` for another org's admin.
    pub fn must_administer(&self, org_id: &str) -> Result<()> {
        match (&self.role, &self.scope) {
            (Role::PlatformAdmin, _) => Ok(()),
            (Role::OrgAdmin, Scope::Org { org_id: own }) if own == org_id => Ok(()),
            (Role::OrgAdmin, _) => Err(no_such_org()),
            (Role::Member, Scope::Member { org_id: own, .. }) if own == org_id => Err(Error::new(
                ErrorCode::Forbidden,
                "only an org admin (app_metadata.role admin or owner) may do this",
            )),
            _ => Err(no_such_org()),
        }
    }

    /// `403` unless the caller is the platform (a service key or a `platform_admin` token).
    pub fn must_be_platform(&self) -> Result<()> {
        match self.role {
            Role::PlatformAdmin => Ok(()),
            _ => Err(Error::new(
                ErrorCode::Forbidden,
                "only a platform admin (or a service_role key) may do this",
            )),
        }
    }

    /// The caller's own org; `400` for the platform, which must name one.
    pub fn org_or<'a>(&'a self, named: Option<&'a str>) -> Result<&'a str> {
        match (self.scope.org(), named) {
            (Some(own), None) => Ok(own),
            (Some(own), Some(n)) if n == own => Ok(own),
            (Some(_), Some(_)) => Err(no_such_org()),
            (None, Some(n)) => Ok(n),
            (None, None) => Err(Error::new(ErrorCode::InvalidRequest, "name the org: `orgId`")),
        }
    }

    /// The person behind the request; `403` for a service key where one is needed.
    pub fn person(&self) -> Result<&Arc<Identity>> {
        self.identity
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Forbidden, "a service_role key cannot act as a person"))
    }

    /// The scope within `org_id` (the platform narrowed to it).
    pub fn scope_in(&self, org_id: &str) -> Result<Scope> {
        match &self.scope {
            Scope::Platform => Ok(Scope::Org {
                org_id: org_id.to_owned(),
            }),
            s if s.org() == Some(org_id) => Ok(s.clone()),
            _ => Err(no_such_org()),
        }
    }
}

fn no_such_org() -> Error {
    Error::new(ErrorCode::NotFound, "no such org")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token =
            bearer_token(&parts.headers).ok_or_else(|| Error::new(ErrorCode::MissingToken, "no access token"))?;
        match state.verifier.verify(token).await? {
            Principal::Service => Ok(Self {
                identity: None,
                role: Role::PlatformAdmin,
                scope: Scope::Platform,
            }),
            Principal::Participant(id) => {
                state.directory.ensure(&id, now_ms()).await?;
                let role = Role::of(id.role.as_deref(), id.kind == ParticipantType::CrmUser);
                let scope = match role {
                    Role::PlatformAdmin => Scope::Platform,
                    Role::OrgAdmin => Scope::Org {
                        org_id: id.tenant_id.to_string(),
                    },
                    Role::Member => Scope::Member {
                        org_id: id.tenant_id.to_string(),
                        user_id: id.user_id.to_string(),
                    },
                };
                Ok(Self {
                    identity: Some(id),
                    role,
                    scope,
                })
            }
        }
    }
}

/// `?before=&limit=` of the phone listings.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// `nextCursor` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(example = 20)]
    pub limit: Option<i64>,
}

impl Page {
    pub fn limit(&self) -> Result<i64> {
        use crate::telephony::{PHONE_PAGE_DEFAULT, PHONE_PAGE_MAX};
        match self.limit {
            None => Ok(PHONE_PAGE_DEFAULT),
            Some(n) if (1..=PHONE_PAGE_MAX).contains(&n) => Ok(n),
            Some(_) => Err(Error::new(
                ErrorCode::InvalidRequest,
                format!("`limit`: expected 1 to {PHONE_PAGE_MAX}"),
            )),
        }
    }
}
