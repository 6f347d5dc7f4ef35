//! The web demo, built into the binary (rust-embed): `GET`/`HEAD` of its pages, scripts and styles.
//!
//! Release builds carry the files of `web-demo/` (its `tests/` left out);
//! debug builds read them from the source tree, so editing the demo needs no
//! rebuild. `--web-dir` serves a directory from disk instead. A directory
//! path serves its `index.html`; every file has an `ETag` (its SHA-256) and
//! answers `If-None-Match` with `304`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::{Error, ErrorCode};

#[derive(rust_embed::RustEmbed)]
#[folder = "web-demo/"]
#[exclude = "tests/*"]
#[exclude = "README.md"]
struct Demo;

/// Whether the binary carries the demo (it always does; for startup logs).
pub fn embedded_files() -> usize {
    Demo::iter().count()
}

/// Serves one file of the embedded demo.
pub async fn serve(req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Error::new(ErrorCode::MethodNotAllowed, "method not allowed on this route").into_response();
    }
    let path = req.uri().path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let Some(file) = Demo::get(&path) else {
        return Error::new(ErrorCode::NotFound, "no such route").into_response();
    };
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(file.metadata.sha256_hash())
    );
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if req.method() == Method::HEAD {
        let mut r = Response::new(Body::empty());
        if let Ok(len) = HeaderValue::from_str(&file.data.len().to_string()) {
            r.headers_mut().insert(header::CONTENT_LENGTH, len);
        }
        r
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidate every time: the ETag makes that a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
