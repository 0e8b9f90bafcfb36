//! Security keys and passkeys (WebAuthn): registering, listing and removing them, and the
//! options of a sign-in's security-key step. The browser side is `navigator.credentials.create`
//! and `.get` with these options (`PublicKeyCredential.parseCreationOptionsFromJSON` reads them
//! as they are), and the answers go back as `toJSON()` gives them.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use nidan_service::CredentialId;
use nidan_service::two_step::StepUp;
use nidan_service::webauthn::KeyKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Client, Session};
use crate::routes::two_step::PasswordAndCode;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/webauthn", get(list))
        .route("/api/v1/me/webauthn/register/start", post(register_start))
        .route("/api/v1/me/webauthn/register/finish", post(register_finish))
        .route("/api/v1/me/webauthn/{id}", delete(remove))
        .route("/api/v1/login/webauthn/start", post(sign_in_start))
        .route("/api/v1/login/passkey/start", post(passkey_start))
        .route("/api/v1/login/passkey/finish", post(passkey_finish))
}

/// `POST /api/v1/me/webauthn/register/start`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStartRequest {
    /// The account password.
    pub password: String,
    /// A current code of an enrolled method, or a recovery code. Required when two-step
    /// verification is set up; not needed for the very first method.
    #[serde(default)]
    pub code: Option<String>,
    /// `security_key` (default): a second step, user verification preferred. `passkey`: a
    /// discoverable credential with user verification (PIN, fingerprint, face).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "passkey")]
    pub kind: Option<KeyKind>,
}

/// WebAuthn options for the browser.
#[derive(Serialize, ToSchema)]
pub struct OptionsBody {
    /// `PublicKeyCredentialCreationOptions` (registration) or
    /// `PublicKeyCredentialRequestOptions` (sign-in) as JSON: binary members base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v1/me/webauthn/register/start", tag = "two-step", security(("session" = [])), request_body = RegisterStartRequest,
    responses((status = 200, description = "the options for `navigator.credentials.create`; usable once, for 5 minutes", body = OptionsBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`reauth_required`: wrong password, or a code is needed; or the method is off", body = ErrorBody),
        (status = 409, description = "the account has the most keys it may have", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn register_start(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<RegisterStartRequest>,
) -> Result<Json<OptionsBody>, ApiError> {
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: req.code.as_deref(),
    };
    let kind = req.kind.unwrap_or(KeyKind::SecurityKey);
    let options = app
        .service
        .webauthn_register_start(&auth, proof, kind, &client)
        .await?;
    Ok(Json(OptionsBody { options }))
}

/// `POST /api/v1/me/webauthn/register/finish`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishRequest {
    /// What to call the key ("YubiKey 5", "iPhone"): 1 to 64 characters.
    pub name: String,
    /// The authenticator's answer (`navigator.credentials.create`, as `toJSON()` gives it).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// The key is registered.
#[derive(Serialize, ToSchema)]
pub struct RegisteredBody {
    /// The key's id.
    pub id: String,
    /// Only when this key turned two-step on: 8 codes, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/api/v1/me/webauthn/register/finish", tag = "two-step", security(("session" = [])), request_body = RegisterFinishRequest,
    responses((status = 200, body = RegisteredBody), (status = 400, description = "a bad name, or an answer that does not verify (origin, challenge, signature)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, description = "no registration to finish, or the key is registered already", body = ErrorBody)))]
async fn register_finish(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    ApiJson(req): ApiJson<RegisterFinishRequest>,
) -> Result<Json<RegisteredBody>, ApiError> {
    let result = app
        .service
        .webauthn_register_finish(&auth, &req.name, &req.credential, &client)
        .await;
    app.metrics
        .verification_result("enrolment", "webauthn", &result);
    let registered = result?;
    Ok(Json(RegisteredBody {
        id: registered.id.as_str().to_owned(),
        recovery_codes: registered
            .recovery_codes
            .map(|c| c.iter().map(|c| c.display()).collect()),
    }))
}

/// A security key or passkey.
#[derive(Serialize, ToSchema)]
pub struct KeyBody {
    /// Its id.
    pub id: String,
    /// The name it was given.
    pub name: String,
    /// Registered as a passkey.
    pub passkey: bool,
    /// When it was added (RFC 3339, UTC).
    pub created_at: String,
    /// When it last signed in (RFC 3339, UTC).
    pub last_used_at: Option<String>,
}

/// The account's keys.
#[derive(Serialize, ToSchema)]
pub struct KeysBody {
    /// Oldest first.
    pub keys: Vec<KeyBody>,
}

#[utoipa::path(get, path = "/api/v1/me/webauthn", tag = "two-step", security(("session" = [])),
    responses((status = 200, body = KeysBody), (status = 401, body = ErrorBody)))]
async fn list(
    State(app): State<AppState>,
    Session(auth): Session,
) -> Result<Json<KeysBody>, ApiError> {
    let keys = app.service.webauthn_keys(&auth).await?;
    Ok(Json(KeysBody {
        keys: keys
            .into_iter()
            .map(|k| KeyBody {
                id: k.id.as_str().to_owned(),
                name: k.name,
                passkey: k.passkey,
                created_at: super::rfc3339(k.created_at),
                last_used_at: k.last_used_at.map(super::rfc3339),
            })
            .collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/me/webauthn/{id}", tag = "two-step", security(("session" = [])), params(("id" = String, Path, description = "the key's id")), request_body = PasswordAndCode,
    responses((status = 204, description = "removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn remove(
    State(app): State<AppState>,
    Session(auth): Session,
    Client(client, _): Client,
    id: Result<Path<String>, PathRejection>,
    ApiJson(req): ApiJson<PasswordAndCode>,
) -> Result<StatusCode, ApiError> {
    let id = crate::routes::me::path_id(id)?;
    let proof = StepUp {
        password: Zeroizing::new(req.password),
        code: Some(&req.code),
    };
    app.service
        .webauthn_remove(&auth, &CredentialId::new(id), proof, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/login/webauthn/start`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInStartRequest {
    /// From `/api/v1/login`.
    pub challenge_id: String,
}

#[utoipa::path(post, path = "/api/v1/login/webauthn/start", tag = "accounts", request_body = SignInStartRequest,
    responses((status = 200, description = "the options for `navigator.credentials.get`, over every key of the account; usable once. Then `POST /api/v1/login/verify` with `method: \"webauthn\"` and the `credential`.", body = OptionsBody),
        (status = 400, description = "the account has no security key", body = ErrorBody), (status = 410, description = "`challenge_expired`: sign in again", body = ErrorBody)))]
async fn sign_in_start(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<SignInStartRequest>,
) -> Result<Json<OptionsBody>, ApiError> {
    let options = app
        .service
        .webauthn_sign_in_start(&req.challenge_id)
        .await?;
    Ok(Json(OptionsBody { options }))
}

/// A passkey sign-in started.
#[derive(Serialize, ToSchema)]
pub struct PasskeyStartBody {
    /// Send it back with the answer; usable once, for 5 minutes.
    pub ceremony_id: String,
    /// `PublicKeyCredentialRequestOptions` as JSON, with no credentials listed: the
    /// authenticator offers the passkeys it holds for this site.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v1/login/passkey/start", tag = "accounts",
    responses((status = 200, description = "the options for `navigator.credentials.get`", body = PasskeyStartBody), (status = 403, description = "security keys are unavailable on this server", body = ErrorBody),
        (status = 429, description = "too many sign-in attempts from this address (`server.login_requests_per_ip_per_minute`)", body = ErrorBody)))]
async fn passkey_start(
    State(app): State<AppState>,
    Client(_client, ip): Client,
) -> Result<Json<PasskeyStartBody>, ApiError> {
    // A sign-in attempt like a password one: the same per-address limit.
    app.limits.check_login(ip)?;
    let started = app.service.passkey_sign_in_start().await?;
    Ok(Json(PasskeyStartBody {
        ceremony_id: started.token.expose().to_owned(),
        options: started.options,
    }))
}

/// `POST /api/v1/login/passkey/finish`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFinishRequest {
    /// From `/api/v1/login/passkey/start`.
    pub ceremony_id: String,
    /// The passkey's answer (`navigator.credentials.get`, as `toJSON()` gives it).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v1/login/passkey/finish", tag = "accounts", request_body = PasskeyFinishRequest,
    responses((status = 200, description = "signed in without a password: the passkey verified its user, so the session counts as two steps", body = crate::routes::account::LoginVerifyResponse),
        (status = 400, body = ErrorBody), (status = 401, description = "`invalid_credentials` (no such passkey) or `invalid_code` (its answer was refused)", body = ErrorBody),
        (status = 403, description = "the account is disabled", body = ErrorBody), (status = 410, description = "`challenge_expired`: start again", body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn passkey_finish(
    State(app): State<AppState>,
    Client(client, _): Client,
    ApiJson(req): ApiJson<PasskeyFinishRequest>,
) -> Result<Json<crate::routes::account::LoginVerifyResponse>, ApiError> {
    let result = app
        .service
        .passkey_sign_in(&req.ceremony_id, &req.credential, &client)
        .await;
    app.metrics
        .verification_result("sign_in", "passkey", &result);
    let (session_token, _) = result?;
    Ok(Json(crate::routes::account::LoginVerifyResponse {
        status: "signed_in",
        session_token: session_token.expose().to_owned(),
        device_token: None,
        recovery_codes_left: None,
    }))
}
