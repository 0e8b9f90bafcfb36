//! Managing two-step verification: the authenticator app, recovery codes, off / on / remove.
//! Every response that carries a secret or recovery codes is `Cache-Control: no-store` (set for
//! the whole API in `lib.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use nidan_service::two_step::StepUp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Client, Session};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/totp/setup", post(totp_setup))
        .route("/api/v1/me/totp/confirm", post(totp_confirm))
        .route("/api/v1/me/totp", axum::routing::delete(totp_remove))
        .route(
            "/api/v1/me/recovery-codes",
            get(recovery_left).post(recovery_recreate),
        )
        .route(
            "/api/v1/me/two-step",
            post(two_step_set).delete(two_step_remove),
        )
}

/// Password re-entry, plus a current code when a method is enrolled already.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    /// The account password.
    pub password: String,
    /// A current code of an enrolled method, or a recovery code. Required when two-step
    /// verification is set up (on or off); not needed for the very first method.
    #[serde(default)]
    pub code: Option<String>,
}

impl StepUpRequest {
    fn proof(&self) -> StepUp<'_> {
        StepUp {
            password: Zeroizing::new(self.password.clone()),
            code: self.code.as_deref(),
        }
    }
}

/// A started authenticator-app setup.
#[derive(Serialize, ToSchema)]
pub struct TotpSetupBody {
    /// Base32, no padding, in groups of 4 for typing into an app.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<account>?secret=…&issuer=<issuer>`: the "open in app" link.
    pub otpauth_uri: String,
    /// The same URI as a QR code, SVG.
    pub qr_svg: String,
}

#[utoipa::path(post, path = "/api/v1/me/totp/setup", tag = "two-step", security(("session" = [])), request_body = StepUpRequest,
    responses((status = 200, description = "pending until confirmed; a new setup replaces it", body = TotpSetupBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`reauth_required`: wrong password, or a code is needed", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn totp_setup(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<StepUpRequest>,
) -> Result<Json<TotpSetupBody>, ApiError> {
    let setup = app.service.totp_setup(&auth, req.proof(), &client).await?;
    let qr_svg = crate::qr::svg(&setup.otpauth_uri)?;
    Ok(Json(TotpSetupBody {
        secret: setup.secret.to_base32_grouped(),
        otpauth_uri: setup.otpauth_uri,
        qr_svg,
    }))
}

/// `POST /api/v1/me/totp/confirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The code the app shows now.
    pub code: String,
}

/// The app is on.
#[derive(Serialize, ToSchema)]
pub struct ConfirmBody {
    /// Only when this turned two-step on for the first time: 8 codes, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "two-step", security(("session" = [])), request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, description = "no setup to confirm", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn totp_confirm(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<Json<ConfirmBody>, ApiError> {
    let result = app.service.totp_confirm(&auth, &req.code, &client).await;
    app.metrics
        .verification_result("enrolment", "totp", &result);
    let codes = result?;
    Ok(Json(ConfirmBody {
        recovery_codes: codes.map(|c| c.iter().map(|c| c.display()).collect()),
    }))
}

/// Password and a current code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordAndCode {
    /// The account password.
    pub password: String,
    /// A current code of an enrolled method, or a recovery code.
    pub code: String,
}

#[utoipa::path(delete, path = "/api/v1/me/totp", tag = "two-step", security(("session" = [])), request_body = PasswordAndCode,
    responses((status = 204, description = "removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn totp_remove(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<PasswordAndCode>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    app.service.totp_remove(&auth, proof, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Recovery codes left.
#[derive(Serialize, ToSchema)]
pub struct RemainingBody {
    /// Unused codes (the codes themselves are never shown again).
    pub remaining: u32,
}

#[utoipa::path(get, path = "/api/v1/me/recovery-codes", tag = "two-step", security(("session" = [])),
    responses((status = 200, body = RemainingBody), (status = 401, body = ErrorBody)))]
async fn recovery_left(
    State(app): State<AppState>,
    Session(auth): Session,
) -> Result<Json<RemainingBody>, ApiError> {
    Ok(Json(RemainingBody {
        remaining: app.service.recovery_codes_left(&auth).await?,
    }))
}

/// A new set of recovery codes.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesBody {
    /// 8 codes as `xxxxx-xxxxx`, shown this once; every earlier code has stopped working.
    pub recovery_codes: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/me/recovery-codes", tag = "two-step", security(("session" = [])), request_body = StepUpRequest,
    responses((status = 200, body = RecoveryCodesBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, description = "two-step is not set up", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn recovery_recreate(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<StepUpRequest>,
) -> Result<Json<RecoveryCodesBody>, ApiError> {
    let codes = app
        .service
        .recreate_recovery_codes(&auth, req.proof(), &client)
        .await?;
    Ok(Json(RecoveryCodesBody {
        recovery_codes: codes.iter().map(|c| c.display()).collect(),
    }))
}

/// `POST /api/v1/me/two-step`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoStepRequest {
    /// The account password.
    pub password: String,
    /// A current code, or a recovery code.
    pub code: String,
    /// `on` or `off`.
    pub state: String,
    /// With `off`: turn back on by itself after this many days (1 to 90); without it, off until
    /// turned on.
    #[serde(default)]
    pub off_for_days: Option<u32>,
}

/// The resulting state.
#[derive(Serialize, ToSchema)]
pub struct StateBody {
    /// `on` or `off`.
    pub state: &'static str,
    /// With `off` for a number of days: when it turns back on by itself (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_until: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/me/two-step", tag = "two-step", security(("session" = [])), request_body = TwoStepRequest,
    responses((status = 200, body = StateBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn two_step_set(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<TwoStepRequest>,
) -> Result<Json<StateBody>, ApiError> {
    let on = match req.state.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(ApiError::bad_request("`state` must be `on` or `off`")),
    };
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    let (state, until) = app
        .service
        .set_two_step(&auth, proof, on, req.off_for_days, &client)
        .await?;
    Ok(Json(StateBody {
        state: state.as_str(),
        off_until: until.map(crate::routes::rfc3339),
    }))
}

#[utoipa::path(delete, path = "/api/v1/me/two-step", tag = "two-step", security(("session" = [])), request_body = PasswordAndCode,
    responses((status = 204, description = "every method, recovery code and remembered device removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn two_step_remove(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<PasswordAndCode>,
) -> Result<StatusCode, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    app.service.remove_two_step(&auth, proof, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
