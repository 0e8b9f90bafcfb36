//! Codes by email and SMS: adding an address or number, confirming it, removing it; sending a
//! sign-in code ("try another method" and resend); step-up codes; the default method; the
//! language of emails.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, post, put};
use axum::{Json, Router};
use nidan_service::courier::{Channel, Locale};
use nidan_service::oob::CodeSent;
use nidan_service::two_step::StepUp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::account::parse_method;
use super::two_step::{ConfirmBody, ConfirmRequest, PasswordAndCode};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Client, Session};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/sms/setup", post(sms_setup))
        .route("/api/v1/me/sms/confirm", post(sms_confirm))
        .route("/api/v1/me/sms/resend", post(sms_resend))
        .route("/api/v1/me/sms", delete(sms_remove))
        .route("/api/v1/me/email/setup", post(email_setup))
        .route("/api/v1/me/email/confirm", post(email_confirm))
        .route("/api/v1/me/email/resend", post(email_resend))
        .route("/api/v1/me/email", delete(email_remove))
        .route("/api/v1/login/send-code", post(login_send_code))
        .route("/api/v1/me/send-code", post(me_send_code))
        .route("/api/v1/me/default-method", put(default_method))
        .route("/api/v1/me/locale", put(set_locale))
}

/// A code is on its way.
#[derive(Serialize, ToSchema)]
pub struct SentBody {
    /// Where it went, masked.
    pub sent_to: String,
    /// Seconds the code works.
    pub expires_in: i64,
    /// Seconds before another code may be asked for.
    pub resend_after: i64,
}

/// 202 with where the code went.
pub(crate) fn accepted(sent: CodeSent) -> impl IntoResponse {
    (
        StatusCode::ACCEPTED,
        Json(SentBody {
            sent_to: sent.sent_to,
            expires_in: sent.expires_in,
            resend_after: sent.resend_after,
        }),
    )
}

/// `POST /api/v1/me/sms/setup`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSetupRequest {
    /// The account password.
    pub password: String,
    /// E.164 (`+81 90 1234 5678`) or national form in the server's default region.
    pub phone: String,
    /// A current code, when a method is enrolled already (a new number is a new authenticator).
    #[serde(default)]
    pub code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/me/sms/setup", tag = "two-step", security(("session" = [])), request_body = SmsSetupRequest,
    responses((status = 202, body = SentBody), (status = 400, description = "invalid phone number", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, description = "asked again too soon", body = ErrorBody), (status = 502, description = "`delivery_failed`", body = ErrorBody)))]
async fn sms_setup(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<SmsSetupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: req.code.as_deref(),
    };
    let result = app
        .service
        .oob_setup(&auth, Channel::Sms, proof, &req.phone, &client)
        .await;
    app.metrics.delivery("sms", &result);
    Ok(accepted(result?))
}

#[utoipa::path(post, path = "/api/v1/me/sms/resend", tag = "two-step", security(("session" = [])),
    responses((status = 202, description = "a new code to the number being added; the earlier one dies", body = SentBody), (status = 401, body = ErrorBody),
        (status = 409, description = "no number is being added", body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn sms_resend(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
) -> Result<impl IntoResponse, ApiError> {
    let result = app.service.oob_resend(&auth, Channel::Sms, &client).await;
    app.metrics.delivery("sms", &result);
    Ok(accepted(result?))
}

#[utoipa::path(post, path = "/api/v1/me/email/resend", tag = "two-step", security(("session" = [])),
    responses((status = 202, description = "a new code to the address being added; the earlier one dies", body = SentBody), (status = 401, body = ErrorBody),
        (status = 409, description = "no address is being added", body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn email_resend(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
) -> Result<impl IntoResponse, ApiError> {
    let result = app.service.oob_resend(&auth, Channel::Email, &client).await;
    app.metrics.delivery("email", &result);
    Ok(accepted(result?))
}

/// `POST /api/v1/me/email/setup`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSetupRequest {
    /// The account password.
    pub password: String,
    /// Where codes should go (must differ from the sign-in email when the server demands it).
    pub email: String,
    /// A current code, when a method is enrolled already.
    #[serde(default)]
    pub code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/me/email/setup", tag = "two-step", security(("session" = [])), request_body = EmailSetupRequest,
    responses((status = 202, body = SentBody), (status = 400, description = "invalid address, or the sign-in address where a separate one is required", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn email_setup(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<EmailSetupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: req.code.as_deref(),
    };
    let result = app
        .service
        .oob_setup(&auth, Channel::Email, proof, &req.email, &client)
        .await;
    app.metrics.delivery("email", &result);
    Ok(accepted(result?))
}

async fn confirm(
    app: AppState,
    auth: nidan_service::session::AuthContext,
    channel: Channel,
    client: nidan_service::ClientInfo,
    code: String,
) -> Result<Json<ConfirmBody>, ApiError> {
    let result = app
        .service
        .oob_confirm(&auth, channel, &code, &client)
        .await;
    app.metrics.verification_result(
        "enrolment",
        if channel == Channel::Sms {
            "sms"
        } else {
            "email"
        },
        &result,
    );
    let codes = result?;
    Ok(Json(ConfirmBody {
        recovery_codes: codes.map(|c| c.iter().map(|c| c.display()).collect()),
    }))
}

#[utoipa::path(post, path = "/api/v1/me/sms/confirm", tag = "two-step", security(("session" = [])), request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn sms_confirm(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<Json<ConfirmBody>, ApiError> {
    confirm(app, auth, Channel::Sms, client, req.code).await
}

#[utoipa::path(post, path = "/api/v1/me/email/confirm", tag = "two-step", security(("session" = [])), request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn email_confirm(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<Json<ConfirmBody>, ApiError> {
    confirm(app, auth, Channel::Email, client, req.code).await
}

#[utoipa::path(delete, path = "/api/v1/me/sms", tag = "two-step", security(("session" = [])), request_body = PasswordAndCode,
    responses((status = 204, description = "removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn sms_remove(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<PasswordAndCode>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    app.service
        .oob_remove(&auth, Channel::Sms, proof, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/me/email", tag = "two-step", security(("session" = [])), request_body = PasswordAndCode,
    responses((status = 204, description = "removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn email_remove(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<PasswordAndCode>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    app.service
        .oob_remove(&auth, Channel::Email, proof, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/login/send-code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCodeRequest {
    /// From `/api/v1/login`.
    pub challenge_id: String,
    /// `email` or `sms`.
    pub method: String,
}

#[utoipa::path(post, path = "/api/v1/login/send-code", tag = "accounts", request_body = SendCodeRequest,
    responses((status = 202, body = SentBody), (status = 400, description = "not an email or SMS method of this account", body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 429, description = "asked again too soon", body = ErrorBody), (status = 502, description = "`delivery_failed`: the challenge stays usable", body = ErrorBody)))]
async fn login_send_code(
    State(app): State<AppState>,
    Client(client, _): Client,
    ApiJson(req): ApiJson<SendCodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let method = parse_method(&req.method)?;
    let result = app
        .service
        .send_sign_in_code(&req.challenge_id, method, &client)
        .await;
    app.metrics.delivery(method.as_str(), &result);
    Ok(accepted(result?))
}

/// `POST /api/v1/me/send-code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpCodeRequest {
    /// `email` or `sms`.
    pub method: String,
}

#[utoipa::path(post, path = "/api/v1/me/send-code", tag = "two-step", security(("session" = [])), request_body = StepUpCodeRequest,
    responses((status = 202, description = "a code for a sensitive change in this session", body = SentBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn me_send_code(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<StepUpCodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let method = parse_method(&req.method)?;
    let result = app.service.send_step_up_code(&auth, method, &client).await;
    app.metrics.delivery(method.as_str(), &result);
    Ok(accepted(result?))
}

/// `PUT /api/v1/me/default-method`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultMethodRequest {
    /// `totp`, `sms` or `email` (enrolled).
    pub method: String,
}

#[utoipa::path(put, path = "/api/v1/me/default-method", tag = "two-step", security(("session" = [])), request_body = DefaultMethodRequest,
    responses((status = 204, description = "offered first at sign-in from now on"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn default_method(
    State(app): State<AppState>,
    Session(auth): Session,
    ApiJson(req): ApiJson<DefaultMethodRequest>,
) -> Result<StatusCode, ApiError> {
    let method = parse_method(&req.method)?;
    app.service.set_default_method(&auth, method).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/me/locale`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocaleRequest {
    /// `en` or `ja`.
    pub locale: String,
}

#[utoipa::path(put, path = "/api/v1/me/locale", tag = "me", security(("session" = [])), request_body = LocaleRequest,
    responses((status = 204, description = "emails and notices in this language from now on"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn set_locale(
    State(app): State<AppState>,
    Session(auth): Session,
    ApiJson(req): ApiJson<LocaleRequest>,
) -> Result<StatusCode, ApiError> {
    let locale = Locale::parse(&req.locale)
        .ok_or_else(|| ApiError::bad_request("`locale` must be `en` or `ja`"))?;
    app.service.set_locale(&auth, locale).await?;
    Ok(StatusCode::NO_CONTENT)
}
