//! Call recordings: a manifest and each participant's Ogg/Opus file, for the call's participants only.
//!
//! `GET /api/voip/calls/{id}/recording` lists the tracks;
//! `GET /api/voip/calls/{id}/recording/{side}` streams one (`caller` or
//! `callee`). The token may come in `?access_token=` (so an `<audio src>` can
//! play it) or `Authorization: Bearer`, looked up in that order as on the socket.

use std::path::{Component, Path as FsPath, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::json::ApiQuery;
use crate::app::AppState;
use crate::auth::bearer_token;
use crate::auth::extract::participant;
use crate::call::model::Call;
use crate::error::{Error, ErrorCode, Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/voip/calls/{id}/recording", get(manifest))
        .route("/voip/calls/{id}/recording/{side}", get(track))
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Track {
    side: &'static str,
    user_id: String,
    bytes: u64,
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    call_id: String,
    bytes: i64,
    tracks: Vec<Track>,
}

fn not_recorded() -> Error {
    Error::new(ErrorCode::RecordingNotFound, "this call has no recording")
}

/// The participant's call and its recording directory.
async fn recorded_call(state: &AppState, headers: &HeaderMap, q: &TokenQuery, id: &str) -> Result<(Call, PathBuf)> {
    let token = q.access_token.as_deref().or_else(|| bearer_token(headers));
    let who = participant(state, token).await?;
    let call = state.calls.get_for(&who, id).await?;
    let rel = call.recording_path.as_deref().ok_or_else(not_recorded)?;
    // Written by the server itself; refuse anything that could leave the directory.
    if FsPath::new(rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(not_recorded());
    }
    let dir = state.settings.sfu.recording_dir.join(rel);
    Ok((call, dir))
}

async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TokenQuery>,
    Path(id): Path<String>,
) -> Result<axum::Json<Manifest>> {
    let (call, dir) = recorded_call(&state, &headers, &q, &id).await?;
    let mut tracks = Vec::new();
    for (side, user) in [("caller", &call.caller.user_id), ("callee", &call.callee.user_id)] {
        if let Ok(meta) = tokio::fs::metadata(dir.join(format!("{side}.ogg"))).await {
            tracks.push(Track {
                side,
                user_id: user.clone(),
                bytes: meta.len(),
                url: format!("/api/voip/calls/{}/recording/{side}", call.id),
            });
        }
    }
    Ok(axum::Json(Manifest {
        call_id: call.id,
        bytes: call.recording_bytes.unwrap_or(0),
        tracks,
    }))
}

async fn track(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TokenQuery>,
    Path((id, side)): Path<(String, String)>,
) -> Result<Response> {
    let (call, dir) = recorded_call(&state, &headers, &q, &id).await?;
    let side = side.strip_suffix(".ogg").unwrap_or(&side);
    if side != "caller" && side != "callee" {
        return Err(Error::new(ErrorCode::NotFound, "the side is `caller` or `callee`"));
    }
    let file = tokio::fs::File::open(dir.join(format!("{side}.ogg")))
        .await
        .map_err(|_| not_recorded())?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = (
        [
            (header::CONTENT_TYPE, "audio/ogg".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"call-{}-{side}.ogg\"", call.id),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len {
        response.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    Ok(response)
}
