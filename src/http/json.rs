//! Request extractors whose every rejection is our JSON error: `ApiJson` (body), `ApiQuery`, `ApiPath`.
//!
//! Messages name the field and what it should be ("`limit`: expected a
//! non-negative integer"), never Rust types, serde's internals or a line and
//! column. A body must arrive within `BODY_TIMEOUT` (`408 request_timeout`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorCode};

/// A request body must be read completely within this long.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON body; a bad one is `400 invalid_request` (or `413 payload_too_large`, `408 request_timeout`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if json != Some(true) {
            return Err(Error::invalid("expected `Content-Type: application/json`"));
        }
        let bytes = match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorCode::RequestTimeout,
                    "the request body did not arrive in time",
                ));
            }
            Ok(Err(rejection)) => {
                return Err(if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::new(ErrorCode::PayloadTooLarge, "request body is too large")
                } else {
                    Error::invalid("the request body could not be read")
                });
            }
            Ok(Ok(b)) => b,
        };
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Error::invalid("body is not valid JSON")
            } else {
                Error::invalid(format!("invalid body: {}", describe(&path, &inner.to_string())))
            }
        })?;
        de.end().map_err(|_| Error::invalid("body is not valid JSON"))?;
        Ok(Self(value))
    }
}

/// Query parameters; bad ones are `400 invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid(format!(
                "invalid query: {}",
                describe(&path, &e.into_inner().to_string())
            ))
        })
    }
}

/// Path parameters; bad ones (not UTF-8, wrong type) are `400 invalid_request`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                use axum::extract::path::ErrorKind as K;
                let message = match e.kind() {
                    K::InvalidUtf8InPathParam { key } => format!("`{key}` in the path is not valid UTF-8"),
                    K::ParseErrorAtKey { key, .. } | K::DeserializeError { key, .. } => {
                        format!("`{key}` in the path has the wrong form")
                    }
                    _ => "a path parameter has the wrong form".to_owned(),
                };
                Err(Error::invalid(message))
            }
            Err(_) => Err(Error::invalid("the path could not be read")),
        }
    }
}

/// "field `path`: message" in words a client can act on.
fn describe(path: &str, serde_message: &str) -> String {
    let message = plain(serde_message);
    if path.is_empty() || path == "." {
        message
    } else {
        format!("`{path}`: {message}")
    }
}

/// serde's message without its position and with Rust's type names in plain words.
pub fn plain(serde_message: &str) -> String {
    let mut m = serde_message;
    if let Some(i) = m.find(" at line ") {
        m = &m[..i];
    }
    let mut out = String::with_capacity(m.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let plain = match word.as_str() {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
            "f32" | "f64" => "a number",
            "bool" => "a boolean",
            "char" => "a single character",
            _ => word.as_str(),
        };
        out.push_str(plain);
        word.clear();
    };
    for c in m.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    // "expected struct Foo" / "enum Foo" / "a sequence" / "a map" name Rust shapes.
    for (from, to) in [
        ("a sequence", "an array"),
        ("a map", "an object"),
        ("unit value", "null"),
    ] {
        out = out.replace(from, to);
    }
    if let Some(i) = out.find("struct ") {
        out.replace_range(i.., "an object");
    } else if let Some(i) = out.find("enum ") {
        out.replace_range(i.., "one of the allowed values");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_positions_and_rust_types() {
        assert_eq!(
            plain("invalid type: string \"x\", expected u32 at line 1 column 9"),
            "invalid type: string \"x\", expected a non-negative integer"
        );
        assert_eq!(plain("invalid digit found in string"), "invalid digit found in string");
        assert_eq!(plain("expected i64"), "expected an integer");
        assert_eq!(
            plain("invalid type: map, expected a string"),
            "invalid type: map, expected a string"
        );
        assert_eq!(
            plain("invalid type: string, expected struct StartCall"),
            "invalid type: string, expected an object"
        );
        assert_eq!(
            plain("invalid type: integer `1`, expected a sequence"),
            "invalid type: integer `1`, expected an array"
        );
        assert_eq!(
            plain("missing field `calleeSupabaseId`"),
            "missing field `calleeSupabaseId`"
        );
        // Words that merely contain a type name are left alone.
        assert_eq!(plain("u32value i64x"), "u32value i64x");
        assert_eq!(
            describe("limit", "expected u32"),
            "`limit`: expected a non-negative integer"
        );
        assert_eq!(describe(".", "missing field `x`"), "missing field `x`");
    }
}
