//! Apps that keep their own sign-in, with an API key: check a user's code
//! (`POST /api/v1/verify`, scope `verify`), have a code sent by SMS or email
//! (`POST /api/v1/verify/send-code`, scope `send`), and learn whether and how to ask
//! (`GET /api/v1/verify/users/{email}`, scope `read`). Same replay state, failure counts and
//! sending limits as interactive sign-in; every call counts against the key's own budget.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nidan_domain::Method;
use nidan_service::app::{AppSend, AppVerdict};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, AppKey, Client};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/verify", post(verify))
        .route("/api/v1/verify/send-code", post(send_code))
        .route("/api/v1/verify/users/{email}", get(user_view))
}

/// `POST /api/v1/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The account email.
    pub user: String,
    /// The code as the person typed it: from the authenticator app, a recovery code, or one
    /// sent for this app by `/api/v1/verify/send-code`.
    pub code: String,
}

/// The verdict.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Whether the code is right (and is now used up).
    pub valid: bool,
    /// With `valid: true`: `totp`, `sms`, `email` or `recovery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// With `valid: false`: `invalid_code`, `replayed`, `not_enrolled`, `unknown_user` or
    /// `account_disabled` (support disabled the account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[utoipa::path(post, path = "/api/v1/verify", tag = "apps", security(("api_key" = [])), request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 400, body = ErrorBody), (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key lacks the scope `verify`", body = ErrorBody), (status = 429, description = "the account (or the key) is throttled", body = ErrorBody)))]
async fn verify(
    State(app): State<AppState>,
    AppKey(key): AppKey,
    Client(client, _): Client,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    app.limits.check_api_key(key.id.as_str())?;
    app.service.require_scope(&key, "verify")?;
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

/// `POST /api/v1/verify/send-code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCodeRequest {
    /// The account email.
    pub user: String,
    /// `sms` or `email`; default: the account's default of the two, else the one it has.
    #[serde(default)]
    pub method: Option<String>,
}

/// A code is on its way to the account's own confirmed destination.
#[derive(Serialize, ToSchema)]
pub struct AppCodeSent {
    /// `sms` or `email`.
    pub method: &'static str,
    /// Where it went, masked.
    pub sent_to: String,
    /// Seconds the code works.
    pub expires_in: i64,
    /// Seconds before another may be asked for.
    pub resend_after: i64,
}

/// Nothing was sent.
#[derive(Serialize, ToSchema)]
pub struct AppCodeNotSent {
    /// Always `false`.
    pub sent: bool,
    /// `not_enrolled` (no confirmed number or address for codes), `unknown_user` or
    /// `account_disabled`.
    pub reason: &'static str,
}

#[utoipa::path(post, path = "/api/v1/verify/send-code", tag = "apps", security(("api_key" = [])), request_body = SendCodeRequest,
    responses((status = 202, description = "a code went out; `/api/v1/verify` accepts it once, for 5 minutes", body = AppCodeSent),
        (status = 200, description = "nothing was sent", body = AppCodeNotSent), (status = 400, body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody), (status = 403, description = "the key lacks the scope `send`", body = ErrorBody),
        (status = 429, description = "a code was sent a moment ago, or a sending limit (or the key's budget) is reached", body = ErrorBody),
        (status = 502, description = "`delivery_failed`: the code could not be delivered; nothing is used up", body = ErrorBody)))]
async fn send_code(
    State(app): State<AppState>,
    AppKey(key): AppKey,
    Client(client, _): Client,
    ApiJson(req): ApiJson<SendCodeRequest>,
) -> Result<Response, ApiError> {
    app.limits.check_api_key(key.id.as_str())?;
    app.service.require_scope(&key, "send")?;
    let method = match req.method.as_deref() {
        None => None,
        Some("sms") => Some(Method::Sms),
        Some("email") => Some(Method::Email),
        Some(_) => return Err(ApiError::bad_request("`method` must be `sms` or `email`")),
    };
    Ok(
        match app
            .service
            .send_code_for_app(&key, &req.user, method, &client)
            .await?
        {
            AppSend::Sent { method, sent } => (
                StatusCode::ACCEPTED,
                Json(AppCodeSent {
                    method: method.as_str(),
                    sent_to: sent.sent_to,
                    expires_in: sent.expires_in,
                    resend_after: sent.resend_after,
                }),
            )
                .into_response(),
            AppSend::NotSent { reason } => Json(AppCodeNotSent {
                sent: false,
                reason,
            })
            .into_response(),
        },
    )
}

/// Whether and how to ask a user for a second step.
#[derive(Serialize, ToSchema)]
pub struct AppUserBody {
    /// `none` (nothing enrolled), `on`, or `off` (enrolled, temporarily off).
    pub state: &'static str,
    /// `totp`, `sms`, `email`, `recovery`.
    pub methods: Vec<&'static str>,
    /// Offered first.
    pub default_method: Option<&'static str>,
}

#[utoipa::path(get, path = "/api/v1/verify/users/{email}", tag = "apps", security(("api_key" = [])),
    params(("email" = String, Path, description = "the account email")),
    responses((status = 200, body = AppUserBody), (status = 401, body = ErrorBody), (status = 403, description = "the key lacks the scope `read`", body = ErrorBody),
        (status = 404, description = "no account with this email", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn user_view(
    State(app): State<AppState>,
    AppKey(key): AppKey,
    Path(email): Path<String>,
) -> Result<Json<AppUserBody>, ApiError> {
    app.limits.check_api_key(key.id.as_str())?;
    app.service.require_scope(&key, "read")?;
    let view = app.service.app_user_view(&email).await?;
    Ok(Json(AppUserBody {
        state: view.state.as_str(),
        methods: view.methods.iter().map(|m| m.as_str()).collect(),
        default_method: view.default_method.map(|m| m.as_str()),
    }))
}
