//! Call recordings: a manifest and each participant's Ogg/Opus file, for the call's participants only.
//!
//! `GET /api/voip/calls/{id}/recording` lists the tracks;
//! `GET /api/voip/calls/{id}/recording/{side}` streams one (`caller` or
//! `callee`). The token may come in `?access_token=` (so an `<audio src>` can
//! play it) or `Authorization: Bearer`, looked up in that order as on the socket.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::{Error, ErrorCode, Result};
use crate::http::extract::{participant, request_token};
use crate::media::recording::{call_dir, track_path};
use crate::model::{Call, Side};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(manifest)).routes(routes!(track))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    /// The access token, for an `<audio src>` that cannot send headers.
    access_token: Option<String>,
}

/// One participant's audio file.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Track {
    /// `caller` or `callee`.
    #[schema(value_type = String, example = "caller")]
    side: &'static str,
    user_id: String,
    bytes: u64,
    url: String,
}

/// A recorded call's tracks.
#[derive(Serialize, utoipa::ToSchema)]
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

/// The tracks of a call's recording (embedded media mode).
#[utoipa::path(get, path = "/voip/calls/{id}/recording", tag = "recordings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c"), TokenQuery),
    responses(
        (status = 200, description = "The recording's tracks", body = Manifest),
        (status = 400, description = "A malformed id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A service key cannot read recordings", body = crate::error::ErrorBody),
        (status = 404, description = "No such call (`call_not_found`) or no recording (`recording_not_found`)", body = crate::error::ErrorBody),
    ))]
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

/// One participant's recorded audio, Ogg/Opus.
#[utoipa::path(get, path = "/voip/calls/{id}/recording/{side}", tag = "recordings",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The call's id", example = "01a1fd42-a4bc-72a9-b928-68b62659c84c"),
        ("side" = String, Path, description = "`caller` or `callee` (`.ogg` may follow)", example = "caller"),
        TokenQuery,
    ),
    responses(
        (status = 200, description = "The Ogg/Opus file", content_type = "audio/ogg", body = Vec<u8>),
        (status = 400, description = "A malformed id", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or a bad one", body = crate::error::ErrorBody),
        (status = 403, description = "A service key cannot read recordings", body = crate::error::ErrorBody),
        (status = 404, description = "No such call, side or file", body = crate::error::ErrorBody),
    ))]
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
