//! Call recordings: a manifest and each participant's Ogg/Opus file, for the call's participants only.
//!
//! `GET /api/voip/calls/{id}/recording` lists the tracks;
//! `GET /api/voip/calls/{id}/recording/{side}` streams one (`caller` or
//! `callee`). The token may come in `?access_token=` (so an `<audio src>` can
//! play it) or `Authorization: Bearer`, looked up in that order as on the socket.

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::json::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::extract::{participant, request_token};
use crate::call::model::{Call, Side};
use crate::error::{Error, ErrorCode, Result};
use crate::media::recording::{call_dir, track_path};

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
    let who = participant(state, request_token(q.access_token.as_deref(), headers)).await?;
    let call = state.calls.get_for(&who, id).await?;
    let rel = call.recording_path.as_deref().ok_or_else(not_recorded)?;
    // The server stores the call id, but the value comes from the database:
    // anything that could leave the recording root is refused.
    let dir = call_dir(&state.settings.sfu.recording_dir, rel).ok_or_else(not_recorded)?;
    Ok((call, dir))
}

async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TokenQuery>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Manifest>> {
    let (call, dir) = recorded_call(&state, &headers, &q, &id).await?;
    let mut tracks = Vec::new();
    for side in Side::BOTH {
        if let Ok(meta) = tokio::fs::metadata(track_path(&dir, side)).await {
            tracks.push(Track {
                side: side.as_str(),
                user_id: call.party(side).user_id.clone(),
                bytes: meta.len(),
                url: format!("/api/voip/calls/{}/recording/{}", call.id, side.as_str()),
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
    ApiPath((id, side)): ApiPath<(String, String)>,
) -> Result<Response> {
    let (call, dir) = recorded_call(&state, &headers, &q, &id).await?;
    let side = Side::parse(side.strip_suffix(".ogg").unwrap_or(&side))
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "the side is `caller` or `callee`"))?;
    let file = tokio::fs::File::open(track_path(&dir, side))
        .await
        .map_err(|_| not_recorded())?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = (
        [
            (header::CONTENT_TYPE, "audio/ogg".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"call-{}-{}.ogg\"", call.id, side.as_str()),
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
