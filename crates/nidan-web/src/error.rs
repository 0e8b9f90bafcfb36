//! The one place that decides what a client sees when something goes wrong.
//!
//! Every error becomes a status code plus `{"error": {"code", "message", …}}`. A 5xx body says
//! nothing internal; the cause is logged in the request's span instead.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nidan_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// The error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: `invalid_request`, `weak_password`, `invalid_credentials`, `invalid_code`,
    /// `unauthenticated`, `reauth_required`, `forbidden`, `not_found`, `conflict`,
    /// `challenge_expired`, `payload_too_large`, `unsupported_media_type`, `rate_limited`,
    /// `delivery_failed`, `service_busy`, `service_unavailable`, `internal_error`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// With `invalid_code` at sign-in: codes the challenge still takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// With `rate_limited` and `service_busy`: seconds to wait (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `rate_limited`: the second factor is locked until a recovery code or a support reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// With `weak_password`: why (`too_short`, `too_long`, `control_character`, `common`,
    /// `keyboard`, `repeated`, `sequence`, `word`, `personal`, `guessable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    attempts_left: Option<u32>,
    retry_after: Option<u64>,
    locked: Option<bool>,
    reason: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            attempts_left: None,
            retry_after: None,
            locked: None,
            reason: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    }

    /// 429 `rate_limited`.
    pub fn rate_limited(retry_after: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The API error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Seconds to wait, when the answer says so (`rate_limited`, `service_busy`).
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

/// The status of a failed use case: the one mapping the JSON API answers with and the pages
/// follow. The cause of `Unavailable` and `Internal`, which no answer shows, is logged here.
pub fn status_of(e: &ServiceError) -> StatusCode {
    use ServiceError as E;
    match e {
        E::InvalidRequest(_) | E::WeakPassword { .. } | E::SeparateAddress => {
            StatusCode::BAD_REQUEST
        }
        E::InvalidCredentials | E::InvalidCode { .. } | E::Unauthenticated => {
            StatusCode::UNAUTHORIZED
        }
        E::ReauthRequired(_) | E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::ChallengeExpired | E::LinkExpired => StatusCode::GONE,
        E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        E::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        E::DeliveryFailed => StatusCode::BAD_GATEWAY,
        E::Unavailable(cause) => {
            tracing::error!(%cause, "database unavailable");
            StatusCode::SERVICE_UNAVAILABLE
        }
        E::Internal(cause) => {
            tracing::error!(%cause, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let status = status_of(&e);
        let new = |code, message: &str| Self::new(status, code, message);
        match e {
            E::InvalidRequest(m) => Self::bad_request(m),
            E::SeparateAddress => Self::bad_request(
                "email: codes must go to an email address other than the one you sign in with",
            ),
            E::WeakPassword { reason, message } => Self {
                reason: Some(reason),
                ..Self::new(status, "weak_password", message)
            },
            E::InvalidCredentials => new("invalid_credentials", "wrong email or password"),
            E::InvalidCode { attempts_left } => Self {
                attempts_left,
                ..new("invalid_code", "that code is not valid")
            },
            E::Unauthenticated => Self::unauthenticated(),
            E::ReauthRequired(m) => new("reauth_required", m),
            E::Forbidden(m) => new("forbidden", m),
            E::NotFound(m) => new("not_found", m),
            E::Conflict(m) => new("conflict", m),
            E::ChallengeExpired => new(
                "challenge_expired",
                "this sign-in has expired; start again with your password",
            ),
            E::LinkExpired => new(
                "challenge_expired",
                "this link has expired or was used already; ask for a new one",
            ),
            E::RateLimited {
                retry_after,
                locked,
                message,
            } => Self {
                locked: locked.then_some(true),
                ..Self::rate_limited(retry_after, message)
            },
            E::Busy { retry_after } => Self {
                retry_after: Some(retry_after.max(1)),
                ..new("service_busy", "the server is busy; try again shortly")
            },
            E::DeliveryFailed => new(
                "delivery_failed",
                "the code could not be delivered; try again in a moment, or try another method",
            ),
            E::Unavailable(_) => new(
                "service_unavailable",
                "the service is temporarily unavailable",
            ),
            E::Internal(_) => new("internal_error", "something went wrong on our side"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                attempts_left: self.attempts_left,
                retry_after: self.retry_after,
                locked: self.locked,
                reason: self.reason,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<ServiceError> {
        use ServiceError as E;
        vec![
            E::InvalidRequest("bad".into()),
            E::InvalidCredentials,
            E::InvalidCode {
                attempts_left: Some(2),
            },
            E::Unauthenticated,
            E::ReauthRequired("again"),
            E::Forbidden("no"),
            E::NotFound("gone"),
            E::Conflict("clash"),
            E::ChallengeExpired,
            E::LinkExpired,
            E::SeparateAddress,
            E::WeakPassword {
                reason: "common",
                message: "weak".into(),
            },
            E::RateLimited {
                retry_after: 5,
                locked: false,
                message: "wait",
            },
            E::Busy { retry_after: 1 },
            E::DeliveryFailed,
            E::Unavailable("db".into()),
            E::Internal("bug".into()),
        ]
    }

    #[test]
    fn every_answer_carries_the_status_of_its_error() {
        for (e, same) in every_error().into_iter().zip(every_error()) {
            assert_eq!(ApiError::from(same).status(), status_of(&e), "{e:?}");
        }
    }
}
