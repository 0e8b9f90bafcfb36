//! The account's own life: change the password, reset a forgotten one, change the sign-in
//! email, delete the account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use nidan_service::two_step::StepUp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Client, Session};
use crate::routes::codes::{SentBody, accepted};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/password-reset", post(request_reset))
        .route("/api/v1/password-reset/confirm", post(confirm_reset))
        .route("/api/v1/me/sign-in-email", post(change_email))
        .route("/api/v1/me/sign-in-email/confirm", post(confirm_email))
        .route("/api/v1/me", axum::routing::delete(delete_account))
}

/// `POST /api/v1/me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password in use now.
    pub current_password: String,
    /// The new password: at least `[password] min_length` characters, not common or easy to
    /// guess (else 400 `weak_password` with a `reason`).
    pub new_password: String,
    /// A current code of an enrolled method, or a recovery code: required while a method is
    /// enrolled.
    #[serde(default)]
    pub code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("session" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed; every other session ended, remembered devices forgotten, a notice sent"),
        (status = 400, description = "`weak_password` (with `reason`) or `invalid_request`", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`reauth_required`: wrong password, or a code is needed", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn change_password(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.current_password),
        code: req.code.as_deref(),
    };
    app.service
        .change_password(&auth, proof, Zeroizing::new(req.new_password), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/password-reset`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The sign-in email of the account.
    pub email: String,
}

/// The same answer for every address.
#[derive(Serialize, ToSchema)]
pub struct ResetAccepted {
    /// Always `accepted`: a link goes out only when the address has an account (and has not
    /// been sent too many this hour), which this answer does not say.
    pub status: &'static str,
}

#[utoipa::path(post, path = "/api/v1/password-reset", tag = "accounts", request_body = ResetRequest,
    responses((status = 202, description = "the same for every address: a link valid 30 minutes goes to it when it has an account", body = ResetAccepted),
        (status = 400, description = "not an email address", body = ErrorBody), (status = 429, description = "too many requests from this client address", body = ErrorBody)))]
async fn request_reset(
    State(app): State<AppState>,
    Client(client, ip): Client,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<impl IntoResponse, ApiError> {
    app.limits.check_password_reset(ip)?;
    nidan_domain::EmailAddress::parse(&req.email)
        .map_err(|e| ApiError::bad_request(format!("email: {e}")))?;
    // The answer goes before the work: it is the same, and as fast, for every address.
    let service = app.service.clone();
    tokio::spawn(async move {
        if let Err(e) = service.request_password_reset(&req.email, &client).await {
            tracing::warn!(error = %e, "a password reset request failed");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetAccepted { status: "accepted" }),
    ))
}

/// `POST /api/v1/password-reset/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// The `token` of the emailed link.
    pub token: String,
    /// The new password (rules as for a change).
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/password-reset/confirm", tag = "accounts", request_body = ResetConfirmRequest,
    responses((status = 204, description = "set; not signed in, two-step unchanged, every session ended, devices forgotten, a notice sent"),
        (status = 400, description = "`weak_password` (with `reason`) or `invalid_request`", body = ErrorBody),
        (status = 410, description = "`challenge_expired`: the link was used, has expired, or its account is gone", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn confirm_reset(
    State(app): State<AppState>,
    Client(client, ip): Client,
    ApiJson(req): ApiJson<ResetConfirmRequest>,
) -> Result<StatusCode, ApiError> {
    app.limits.check_login(ip)?;
    app.service
        .confirm_password_reset(&req.token, Zeroizing::new(req.new_password), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/sign-in-email`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The account password.
    pub password: String,
    /// A current code: required while a method is enrolled.
    #[serde(default)]
    pub code: Option<String>,
    /// The new sign-in email.
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/me/sign-in-email", tag = "me", security(("session" = [])), request_body = ChangeEmailRequest,
    responses((status = 202, description = "a code went to the new address; nothing changes until it is confirmed", body = SentBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "another account signs in with this address", body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn change_email(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ChangeEmailRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: req.code.as_deref(),
    };
    let sent = app
        .service
        .start_email_change(&auth, proof, &req.email, &client)
        .await?;
    Ok(accepted(sent))
}

/// `POST /api/v1/me/sign-in-email/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailRequest {
    /// The code sent to the new address.
    pub code: String,
}

/// The sign-in email now.
#[derive(Serialize, ToSchema)]
pub struct EmailBody {
    /// The new sign-in email.
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/me/sign-in-email/confirm", tag = "me", security(("session" = [])), request_body = ConfirmEmailRequest,
    responses((status = 200, description = "changed; a notice went to the old address", body = EmailBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn confirm_email(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ConfirmEmailRequest>,
) -> Result<Json<EmailBody>, ApiError> {
    let email = app
        .service
        .confirm_email_change(&auth, &req.code, &client)
        .await?;
    Ok(Json(EmailBody { email }))
}

/// `DELETE /api/v1/me`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account password.
    pub password: String,
    /// A current code: required while a method is enrolled.
    #[serde(default)]
    pub code: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/me", tag = "me", security(("session" = [])), request_body = DeleteAccountRequest,
    responses((status = 204, description = "the account and everything of it is gone; a last notice goes to its address"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn delete_account(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: req.code.as_deref(),
    };
    app.service.delete_account(&auth, proof, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
