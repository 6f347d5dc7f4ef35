//! The one error type of the server, with the stable codes shared by REST and the socket.
//!
//! REST answers `{"error": {"code", "message"}}`; the socket sends
//! `{"type": "error", "code", "message", "ref"}`. Server faults (5xx) are
//! logged with their cause and reach the client only as `internal_error`.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every failure a client can see. The string form (`as_str`) is the contract:
/// never rename one, only add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    // --- authentication ---
    MissingToken,
    InvalidToken,
    TokenExpired,
    InvalidAudience,
    InvalidIssuer,
    MissingSubjectClaim,
    MissingTenantClaim,
    MissingParticipantTypeClaim,
    InvalidParticipantType,
    Forbidden,
    // --- requests ---
    InvalidRequest,
    InvalidMessage,
    UnknownType,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    TooManySockets,
    TooManyConnections,
    RequestTimeout,
    // --- calls ---
    ParticipantNotFound,
    CallNotFound,
    CannotCallSelf,
    CallNotAllowed,
    CallerBusy,
    NotCallee,
    NotCaller,
    CallAlreadyAnswered,
    CallNotRinging,
    CallNotActive,
    CallEnded,
    Conflict,
    RecordingNotFound,
    MediaUnavailable,
    // --- phone ---
    /// The phone provider refused the request or could not be reached.
    ProviderError,
    // --- server ---
    /// The project's signing keys (JWKS) could not be fetched.
    AuthUnavailable,
    /// Cluster mode: the work needs another node and Redis cannot be reached.
    ClusterUnavailable,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for documents and tests (a new variant must be added here).
    pub const ALL: [ErrorCode; 39] = [
        Self::MissingToken,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::InvalidAudience,
        Self::InvalidIssuer,
        Self::MissingSubjectClaim,
        Self::MissingTenantClaim,
        Self::MissingParticipantTypeClaim,
        Self::InvalidParticipantType,
        Self::Forbidden,
        Self::InvalidRequest,
        Self::InvalidMessage,
        Self::UnknownType,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::TooManySockets,
        Self::TooManyConnections,
        Self::RequestTimeout,
        Self::ParticipantNotFound,
        Self::CallNotFound,
        Self::CannotCallSelf,
        Self::CallNotAllowed,
        Self::CallerBusy,
        Self::NotCallee,
        Self::NotCaller,
        Self::CallAlreadyAnswered,
        Self::CallNotRinging,
        Self::CallNotActive,
        Self::CallEnded,
        Self::Conflict,
        Self::RecordingNotFound,
        Self::MediaUnavailable,
        Self::ProviderError,
        Self::AuthUnavailable,
        Self::ClusterUnavailable,
        Self::Unavailable,
        Self::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidAudience => "invalid_audience",
            Self::InvalidIssuer => "invalid_issuer",
            Self::MissingSubjectClaim => "missing_sub_claim",
            Self::MissingTenantClaim => "missing_tenant_claim",
            Self::MissingParticipantTypeClaim => "missing_participant_type_claim",
            Self::InvalidParticipantType => "invalid_participant_type",
            Self::Forbidden => "forbidden",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidMessage => "invalid_message",
            Self::UnknownType => "unknown_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::TooManySockets => "too_many_sockets",
            Self::TooManyConnections => "too_many_connections",
            Self::RequestTimeout => "request_timeout",
            Self::ParticipantNotFound => "participant_not_found",
            Self::CallNotFound => "call_not_found",
            Self::CannotCallSelf => "cannot_call_self",
            Self::CallNotAllowed => "call_not_allowed",
            Self::CallerBusy => "caller_busy",
            Self::NotCallee => "not_callee",
            Self::NotCaller => "not_caller",
            Self::CallAlreadyAnswered => "call_already_answered",
            Self::CallNotRinging => "call_not_ringing",
            Self::CallNotActive => "call_not_active",
            Self::CallEnded => "call_ended",
            Self::Conflict => "conflict",
            Self::RecordingNotFound => "recording_not_found",
            Self::MediaUnavailable => "media_unavailable",
            Self::ProviderError => "provider_error",
            Self::AuthUnavailable => "auth_unavailable",
            Self::ClusterUnavailable => "cluster_unavailable",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal_error",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidAudience
            | Self::InvalidIssuer
            | Self::MissingSubjectClaim
            | Self::MissingTenantClaim
            | Self::MissingParticipantTypeClaim
            | Self::InvalidParticipantType => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CallNotAllowed | Self::NotCallee | Self::NotCaller => StatusCode::FORBIDDEN,
            Self::InvalidRequest | Self::InvalidMessage | Self::UnknownType | Self::CannotCallSelf => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound | Self::ParticipantNotFound | Self::CallNotFound | Self::RecordingNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited | Self::TooManySockets | Self::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::CallerBusy
            | Self::CallAlreadyAnswered
            | Self::CallNotRinging
            | Self::CallNotActive
            | Self::CallEnded
            | Self::Conflict => StatusCode::CONFLICT,
            Self::MediaUnavailable => StatusCode::CONFLICT,
            Self::ProviderError => StatusCode::BAD_GATEWAY,
            Self::Unavailable | Self::AuthUnavailable | Self::ClusterUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The server's error: a client-facing code and message, or an internal fault
/// whose text is logged and never sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{code:?}: {message}")]
    Client {
        code: ErrorCode,
        message: Cow<'static, str>,
        /// Seconds after which a retry may succeed (`Retry-After`, `retryAfterSecs`).
        retry_after: Option<u32>,
    },
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Client {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, saying when a retry may succeed.
    pub fn retry_after(self, secs: u32) -> Self {
        match self {
            Self::Client { code, message, .. } => Self::Client {
                code,
                message,
                retry_after: Some(secs.max(1)),
            },
            other => other,
        }
    }

    /// Seconds after which a retry may succeed, if the error says.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::Client { retry_after, .. } => *retry_after,
            Self::Store(sqlx::Error::PoolTimedOut) => Some(1),
            _ => None,
        }
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Store(sqlx::Error::PoolTimedOut) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }

    /// The message a client may see. Server faults get a fixed text.
    pub fn public_message(&self) -> Cow<'static, str> {
        match self {
            Self::Client { message, .. } => message.clone(),
            Self::Store(sqlx::Error::PoolTimedOut) => "the store is overloaded; retry".into(),
            _ => "internal server error".into(),
        }
    }

    /// Logs a server fault once, where it is turned into a response or frame.
    pub fn log_if_internal(&self) {
        if self.code().status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }
}

/// The `code` field's schema: one of `ErrorCode::ALL`.
fn code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .description(Some(
            "A stable error code (docs/protocol.md § 8); never renamed, only added",
        ))
        .build()
}

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorInner<'a>,
}

/// A stable code (docs/api.md lists them) and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ErrorInner<'a> {
    #[schema(schema_with = code_schema)]
    pub code: &'static str,
    #[schema(value_type = String, example = "no such call")]
    pub message: &'a str,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let code = self.code();
        let message = self.public_message();
        let body = ErrorBody {
            error: ErrorInner {
                code: code.as_str(),
                message: &message,
            },
        };
        let mut response = (code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs()
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        // For the error counter (`http::count_errors`).
        response.extensions_mut().insert(code);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_text() {
        let err = Error::Internal(anyhow::anyhow!("secret path /etc/shadow"));
        assert_eq!(err.code(), ErrorCode::Internal);
        assert_eq!(err.public_message(), "internal server error");
        let err = Error::Store(sqlx::Error::RowNotFound);
        assert_eq!(err.code().status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!err.public_message().contains("row"));
    }

    #[test]
    fn client_errors_keep_code_and_message() {
        let err = Error::new(ErrorCode::CallNotFound, "no such call");
        assert_eq!(err.code().as_str(), "call_not_found");
        assert_eq!(err.code().status(), StatusCode::NOT_FOUND);
        assert_eq!(err.public_message(), "no such call");
    }

    #[test]
    fn every_client_code_is_4xx_and_codes_are_unique() {
        use ErrorCode::*;
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            let server = matches!(
                c,
                AuthUnavailable | ClusterUnavailable | ProviderError | Unavailable | Internal
            );
            assert_eq!(c.status().is_server_error(), server, "{c:?}");
            assert!(server || c.status().is_client_error(), "{c:?}");
        }
        // `ALL` lists every variant: a new one missing from it fails to compile here.
        for c in ErrorCode::ALL {
            match c {
                MissingToken
                | InvalidToken
                | TokenExpired
                | InvalidAudience
                | InvalidIssuer
                | MissingSubjectClaim
                | MissingTenantClaim
                | MissingParticipantTypeClaim
                | InvalidParticipantType
                | Forbidden
                | InvalidRequest
                | InvalidMessage
                | UnknownType
                | NotFound
                | MethodNotAllowed
                | PayloadTooLarge
                | RateLimited
                | TooManySockets
                | TooManyConnections
                | RequestTimeout
                | ParticipantNotFound
                | CallNotFound
                | CannotCallSelf
                | CallNotAllowed
                | CallerBusy
                | NotCallee
                | NotCaller
                | CallAlreadyAnswered
                | CallNotRinging
                | CallNotActive
                | CallEnded
                | Conflict
                | RecordingNotFound
                | MediaUnavailable
                | ProviderError
                | AuthUnavailable
                | ClusterUnavailable
                | Unavailable
                | Internal => {}
            }
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }
}
