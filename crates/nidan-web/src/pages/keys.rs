//! Security keys and passkeys on the pages. WebAuthn is the one thing the pages cannot do
//! without script: `static/nidan.js` asks for the options (a form post, CSRF-checked, answered
//! with JSON), calls `navigator.credentials.create` or `.get`, puts the answer in the form's
//! hidden `credential` field and posts the form. Everything else (errors, the recovery codes of a
//! first key) comes back as a page, as for every other form.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use nidan_service::webauthn::KeyKind;
use nidan_service::{CredentialId, ServiceError};
use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use super::csrf::{CsrfForm, SignedInForm};
use super::security::{ProofForm, render};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/security/webauthn/start", post(register_start))
        .route("/settings/security/webauthn/finish", post(register_finish))
        .route("/settings/security/webauthn/remove", post(remove))
        .route("/login/second-step/webauthn", post(sign_in_start))
        .route("/login/passkey/start", post(passkey_start))
        .route("/login/passkey", post(passkey_sign_in))
}

/// The options for the script, or the error in the page's language.
fn options_or_error(
    state: &AppState,
    ctx: Ctx,
    result: Result<serde_json::Value, ServiceError>,
) -> Response {
    match result {
        Ok(options) => ctx.json(json!({ "options": options })),
        Err(e) => {
            let (status, _) = ctx.failed(&e);
            let message = super::explain(state, &ctx.tr, &e);
            ctx.json_with(status, json!({ "error": message }))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StartForm {
    #[serde(flatten)]
    proof: ProofForm,
    kind: String,
}

async fn register_start(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<StartForm>,
) -> Response {
    let kind = if form.kind == "passkey" {
        KeyKind::Passkey
    } else {
        KeyKind::SecurityKey
    };
    let result = state
        .service
        .webauthn_register_start(&auth, form.proof.proof(), kind, &info)
        .await;
    options_or_error(&state, ctx, result)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FinishForm {
    name: String,
    credential: String,
}

async fn register_finish(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<FinishForm>,
) -> Response {
    let result = match serde_json::from_str::<serde_json::Value>(&form.credential) {
        Ok(credential) => {
            state
                .service
                .webauthn_register_finish(&auth, &form.name, &credential, &info)
                .await
        }
        // No answer from the key (script off, or it was cancelled and the form posted anyway).
        Err(_) => Err(ServiceError::InvalidRequest(
            "the security key did not answer".into(),
        )),
    };
    state
        .metrics
        .verification_result("enrolment", "webauthn", &result);
    match result {
        Ok(registered) => match registered.recovery_codes {
            Some(codes) => super::enrol::show_codes(ctx, &codes),
            None => ctx.redirect("/settings/security?done=method-added"),
        },
        Err(e) => render(&state, ctx, &auth, None, "webauthn-add", Some(&e)).await,
    }
}

async fn remove(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let id = CredentialId::new(form.id.clone());
    match state
        .service
        .webauthn_remove(&auth, &id, form.proof(), &info)
        .await
    {
        Ok(()) => ctx.redirect("/settings/security?done=method-removed"),
        Err(e) => {
            let pid = format!("remove-webauthn{}", form.id);
            render(&state, ctx, &auth, None, &pid, Some(&e)).await
        }
    }
}

/// A form of nothing but its CSRF token.
#[derive(Deserialize)]
struct NoFields {}

/// The options of the sign-in's security-key step, for the challenge in the cookie.
async fn sign_in_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let Some(c) = super::signin::Challenge::from_headers(&headers, ctx.secure) else {
        return options_or_error(&state, ctx, Err(ServiceError::ChallengeExpired));
    };
    let result = state.service.webauthn_sign_in_start(&c.token).await;
    options_or_error(&state, ctx, result)
}

/// Starts a passkey sign-in: the ceremony's token goes into a cookie (this browser finishes it),
/// the options to the script.
async fn passkey_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(_, ip): Client,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    // A sign-in attempt like a password one: the same per-address limit.
    if let Err(e) = state.limits.check_login(ip) {
        let message = super::refused(&ctx, &e);
        return ctx.json_with(StatusCode::TOO_MANY_REQUESTS, json!({ "error": message }));
    }
    match state.service.passkey_sign_in_start().await {
        Ok(started) => {
            ctx.set_cookie(
                super::cookies::PASSKEY,
                started.token.expose(),
                Some(nidan_service::webauthn::CEREMONY_SECS),
            );
            ctx.json(json!({ "options": started.options }))
        }
        Err(e) => options_or_error(&state, ctx, Err(e)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    credential: String,
}

/// Finishes a passkey sign-in: signed in without a password, or back to the sign-in page with
/// what went wrong.
async fn passkey_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, _): Client,
    CsrfForm(form): CsrfForm<PasskeyForm>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    let token = super::cookies::get(&headers, super::cookies::PASSKEY, ctx.secure);
    ctx.clear_cookie(super::cookies::PASSKEY);
    let result = match (
        token,
        serde_json::from_str::<serde_json::Value>(&form.credential),
    ) {
        (Some(token), Ok(credential)) => {
            state
                .service
                .passkey_sign_in(&token, &credential, &info)
                .await
        }
        (None, _) => Err(ServiceError::ChallengeExpired),
        (_, Err(_)) => Err(ServiceError::InvalidRequest(
            "the passkey did not answer".into(),
        )),
    };
    state
        .metrics
        .verification_result("sign_in", "passkey", &result);
    match result {
        Ok((session_token, _)) => {
            ctx.set_session(session_token.expose());
            ctx.renew_csrf();
            ctx.land("/settings/security")
        }
        Err(e) => {
            let (status, _) = ctx.failed(&e);
            let message = match e {
                ServiceError::InvalidCode { .. } | ServiceError::InvalidCredentials => {
                    ctx.tr.t("passkey-refused")
                }
                ServiceError::InvalidRequest(_) => ctx.tr.t("webauthn-failed"),
                ref other => super::explain(&state, &ctx.tr, other),
            };
            super::signin::login_error(ctx, status, message)
        }
    }
}
