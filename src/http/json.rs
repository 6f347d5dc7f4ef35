//! `ApiJson` / `ApiQuery`: axum's extractors with their rejections turned into our JSON errors.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorCode};

/// A JSON body; a bad one is `400 invalid_request` (or `413 payload_too_large`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> Error {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::new(ErrorCode::PayloadTooLarge, "request body is too large");
    }
    match r {
        JsonRejection::MissingJsonContentType(_) => Error::invalid("expected `Content-Type: application/json`"),
        JsonRejection::JsonDataError(e) => Error::invalid(format!("invalid body: {}", e.body_text())),
        JsonRejection::JsonSyntaxError(_) => Error::invalid("body is not valid JSON"),
        other => Error::invalid(format!("unreadable body: {}", other.body_text())),
    }
}

/// Query parameters; bad ones are `400 invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> Error {
    Error::invalid(format!("invalid query: {}", e.body_text()))
}
