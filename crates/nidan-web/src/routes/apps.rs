//! `POST /api/v1/verify`: apps that keep their own sign-in check a user's code here, with an API
//! key. Same replay state and failure counts as interactive sign-in.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use nidan_service::app::AppVerdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, AppKey, Client};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/verify", post(verify))
}

/// `POST /api/v1/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The account email.
    pub user: String,
    /// The code as the person typed it (authenticator app or recovery code).
    pub code: String,
}

/// The verdict.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Whether the code is right (and is now used up).
    pub valid: bool,
    /// With `valid: true`: `totp` or `recovery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// With `valid: false`: `invalid_code`, `replayed`, `not_enrolled`, `unknown_user` or
    /// `account_disabled` (support disabled the account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[utoipa::path(post, path = "/api/v1/verify", tag = "apps", security(("api_key" = [])), request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 400, body = ErrorBody), (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 429, description = "the account (or the key) is throttled", body = ErrorBody)))]
async fn verify(
    State(app): State<AppState>,
    AppKey(key): AppKey,
    Client(client, _): Client,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    app.limits.check_api_key(key.id.as_str())?;
    let result = app
        .service
        .verify_for_app(&key, &req.user, &req.code, &client)
        .await;
    match &result {
        Ok(AppVerdict::Valid { method }) => {
            app.metrics.verification("app", method.as_str(), "success")
        }
        Ok(AppVerdict::Invalid { reason }) => app.metrics.verification("app", "any", reason),
        Err(e) => app
            .metrics
            .verification("app", "any", crate::metrics::error_result(e)),
    }
    Ok(Json(match result? {
        AppVerdict::Valid { method } => VerifyResponse {
            valid: true,
            method: Some(method.as_str()),
            reason: None,
        },
        AppVerdict::Invalid { reason } => VerifyResponse {
            valid: false,
            method: None,
            reason: Some(reason),
        },
    }))
}
