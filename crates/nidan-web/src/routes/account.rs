//! Sign-up, sign-in (password step and second step) and sign-out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use nidan_domain::Method;
use nidan_service::signin::{Answer, LoginOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Client, Session};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", post(sign_up))
        .route("/api/v1/login", post(login))
        .route("/api/v1/login/verify", post(login_verify))
        .route("/api/v1/logout", post(logout))
}

/// `POST /api/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// Sign-in email.
    pub email: String,
    /// At least 15 characters by default (`[password] min_length`).
    pub password: String,
}

/// An account.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    /// Id.
    pub id: String,
    /// Sign-in email (normalised).
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = SignUpRequest,
    responses((status = 201, body = UserBody), (status = 400, body = ErrorBody), (status = 403, description = "sign-up is closed", body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, description = "too many sign-ups from this client address", body = ErrorBody)))]
async fn sign_up(
    State(app): State<AppState>,
    Client(_client, ip): Client,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<SignUpRequest>,
) -> Result<impl IntoResponse, ApiError> {
    app.limits.check_signup(ip)?;
    let locale = crate::extract::locale(&headers);
    let user = app
        .service
        .sign_up(&req.email, Zeroizing::new(req.password), locale)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserBody {
            id: user.id.to_string(),
            email: user.email,
        }),
    ))
}

/// `POST /api/v1/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Sign-in email.
    pub email: String,
    /// Password.
    pub password: String,
    /// A remembered-device token from an earlier second step: skips the second step (never the
    /// password) for its own user while it is valid.
    #[serde(default)]
    pub device_token: Option<String>,
}

/// The answer to a right password.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// `signed_in` or `second_factor_required`.
    pub status: &'static str,
    /// With `signed_in`: the session's bearer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// With `signed_in`: the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserBody>,
    /// With `second_factor_required`: the challenge to answer at `/api/v1/login/verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// With `second_factor_required`: `totp`, `sms`, `email`, `recovery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
    /// With `second_factor_required`: the method to offer first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_method: Option<&'static str>,
    /// With `second_factor_required`: seconds the challenge lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// With `second_factor_required` when the default method is `email` or `sms`: where the
    /// code went, masked (`t***@example.com`, `+81 **-****-5678`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_sent_to: Option<String>,
    /// When the code of the default method could not be sent (`delivery_failed` or
    /// `rate_limited`): the challenge still works; use `/api/v1/login/send-code` or another method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_not_sent: Option<&'static str>,
    /// Why a second step is asked for beyond the account's own setting: `new_country` (a sign-in
    /// from outside the operator's home countries; the code went to the sign-in address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[utoipa::path(post, path = "/api/v1/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, description = "wrong email or password (the same for unknown emails)", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, description = "password hashing queue full", body = ErrorBody)))]
async fn login(
    State(app): State<AppState>,
    Client(client, ip): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    app.limits.check_login(ip)?;
    let outcome = app
        .service
        .login(
            &req.email,
            Zeroizing::new(req.password),
            req.device_token.as_deref(),
            &client,
        )
        .await;
    let outcome = match outcome {
        Err(e) => {
            app.metrics.verification("password", "password", "failure");
            return Err(e.into());
        }
        Ok(o) => o,
    };
    app.metrics.verification("password", "password", "success");
    Ok(Json(match outcome {
        LoginOutcome::SignedIn {
            session_token,
            user,
        } => LoginResponse {
            status: "signed_in",
            session_token: Some(session_token.expose().to_owned()),
            user: Some(UserBody {
                id: user.id.to_string(),
                email: user.email,
            }),
            challenge_id: None,
            methods: None,
            default_method: None,
            expires_in: None,
            code_sent_to: None,
            code_not_sent: None,
            reason: None,
        },
        LoginOutcome::SecondFactorRequired {
            challenge_token,
            methods,
            default_method,
            expires_in,
            code_sent_to,
            send_error,
            reason,
        } => LoginResponse {
            status: "second_factor_required",
            session_token: None,
            user: None,
            challenge_id: Some(challenge_token.expose().to_owned()),
            methods: Some(methods.iter().map(|m| m.as_str()).collect()),
            default_method: Some(default_method.as_str()),
            expires_in: Some(expires_in),
            code_sent_to,
            code_not_sent: send_error,
            reason,
        },
    }))
}

/// `POST /api/v1/login/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginVerifyRequest {
    /// From `/api/v1/login`.
    pub challenge_id: String,
    /// One of the `methods` of `/api/v1/login`: `webauthn`, `totp`, `sms`, `email` or
    /// `recovery`.
    pub method: String,
    /// For every method but `webauthn`: the code as typed (spaces, hyphens and full-width
    /// characters are fine).
    #[serde(default)]
    pub code: Option<String>,
    /// For `webauthn`: the security key's answer to the options of
    /// `/api/v1/login/webauthn/start` (`navigator.credentials.get`, as `toJSON()` gives it).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    /// Remember this device: the answer then carries a `device_token`.
    #[serde(default)]
    pub remember_device: bool,
}

/// Signed in after the second step.
#[derive(Serialize, ToSchema)]
pub struct LoginVerifyResponse {
    /// Always `signed_in`.
    pub status: &'static str,
    /// The new session's bearer token.
    pub session_token: String,
    /// With `remember_device`: send it as `device_token` at the next sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// When a recovery code was used: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_left: Option<u32>,
}

/// Parses a method name from a request.
pub fn parse_method(text: &str) -> Result<Method, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request("`method` must be one of webauthn, totp, sms, email, recovery")
    })
}

#[utoipa::path(post, path = "/api/v1/login/verify", tag = "accounts", request_body = LoginVerifyRequest,
    responses((status = 200, body = LoginVerifyResponse), (status = 400, body = ErrorBody), (status = 401, description = "`invalid_code`, with `attempts_left`", body = ErrorBody),
        (status = 410, description = "`challenge_expired`: sign in again", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login_verify(
    State(app): State<AppState>,
    Client(client, _): Client,
    ApiJson(req): ApiJson<LoginVerifyRequest>,
) -> Result<Json<LoginVerifyResponse>, ApiError> {
    let method = parse_method(&req.method)?;
    let answer = match (&req.credential, &req.code) {
        (Some(credential), None) => Answer::Key(credential),
        (None, Some(code)) => Answer::Code(code),
        _ => {
            return Err(ApiError::bad_request(
                "send `code` (or, for `webauthn`, `credential`), not both",
            ));
        }
    };
    let result = app
        .service
        .second_step(
            &req.challenge_id,
            method,
            answer,
            req.remember_device,
            &client,
        )
        .await;
    app.metrics
        .verification_result("sign_in", method.as_str(), &result);
    let outcome = result?;
    Ok(Json(LoginVerifyResponse {
        status: "signed_in",
        session_token: outcome.session_token.expose().to_owned(),
        device_token: outcome.device_token.map(|t| t.expose().to_owned()),
        recovery_codes_left: outcome.recovery_codes_left,
    }))
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "accounts", security(("session" = [])),
    responses((status = 204, description = "the session is ended"), (status = 401, body = ErrorBody)))]
async fn logout(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
) -> Result<StatusCode, ApiError> {
    app.service.logout(&auth, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
