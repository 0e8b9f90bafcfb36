//! The account's own life on the pages: "Forgot your password?" with its emailed link, and on
//! the security page changing the password, the sign-in email, and deleting the account.
//!
//! The reset link's token arrives in the URL (`/reset?token=…`): the page is served with
//! `Referrer-Policy: no-referrer` (as every page), loads nothing from elsewhere, and posts the
//! token back in the form, so it leaves the browser only towards this server.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use nidan_service::ServiceError;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::csrf::{CsrfForm, SignedInForm};
use super::security::{ProofForm, build, render};
use super::{Base, Ctx, explain};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset", get(reset_page).post(reset))
        .route("/settings/security/password", post(change_password))
        .route("/settings/security/email", post(change_email))
        .route("/settings/security/email/confirm", post(confirm_email))
        .route("/settings/security/delete", post(delete_account))
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    base: Base,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    base: Base,
    token: String,
    min: usize,
    help: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailForm {
    email: String,
}

async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let page = ForgotPage {
        base: ctx.base(false, "/forgot"),
        email: String::new(),
        error: None,
    };
    ctx.page(&page)
}

/// Sends the link (when the address has an account) after answering: the page that follows is
/// the same for every address.
async fn forgot(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, ip): Client,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let refused = |ctx: Ctx, status, error: String, email: String| {
        let page = ForgotPage {
            base: ctx.base(false, "/forgot"),
            email,
            error: Some(error),
        };
        ctx.page_with(status, &page)
    };
    if let Err(e) = state.limits.check_password_reset(ip) {
        let error = super::refused(&ctx, &e);
        return refused(ctx, StatusCode::TOO_MANY_REQUESTS, error, form.email);
    }
    if nidan_domain::EmailAddress::parse(&form.email).is_err() {
        let error = ctx.tr.t("forgot-bad-email");
        return refused(ctx, StatusCode::UNPROCESSABLE_ENTITY, error, form.email);
    }
    let service = state.service.clone();
    tokio::spawn(async move {
        if let Err(e) = service.request_password_reset(&form.email, &info).await {
            tracing::warn!(error = %e, "a password reset request failed");
        }
    });
    ctx.message(StatusCode::OK, "forgot-sent-title", "forgot-sent-text")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    if let Err(e) = state.service.password_reset_usable(&q.token).await {
        return reset_failed(ctx, &e);
    }
    let page = ResetPage {
        base: ctx.base(false, "/login"),
        token: q.token,
        min: state.service.policy().password_min_chars,
        help: super::password_help(&state, &ctx.tr),
        error: None,
    };
    ctx.page(&page)
}

/// A link that no longer works (410), or the failure that stopped the page.
fn reset_failed(ctx: Ctx, e: &ServiceError) -> Response {
    match e {
        ServiceError::LinkExpired => ctx.message(
            StatusCode::GONE,
            "reset-expired-title",
            "reset-expired-text",
        ),
        e => {
            let (status, key) = ctx.failed(e);
            ctx.message(status, "err-title", key)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    token: String,
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, ip): Client,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let again = |ctx: Ctx, status, error: String, token: String| {
        let page = ResetPage {
            base: ctx.base(false, "/login"),
            token,
            min: state.service.policy().password_min_chars,
            help: super::password_help(&state, &ctx.tr),
            error: Some(error),
        };
        ctx.page_with(status, &page)
    };
    if let Err(e) = state.limits.check_login(ip) {
        let error = super::refused(&ctx, &e);
        return again(ctx, StatusCode::TOO_MANY_REQUESTS, error, form.token);
    }
    match state
        .service
        .confirm_password_reset(&form.token, Zeroizing::new(form.password), &info)
        .await
    {
        Ok(()) => ctx.message(StatusCode::OK, "reset-done-title", "reset-done-text"),
        Err(e @ ServiceError::WeakPassword { .. }) => {
            let (status, _) = ctx.failed(&e);
            let error = explain(&state, &ctx.tr, &e);
            again(ctx, status, error, form.token)
        }
        Err(e) => reset_failed(ctx, &e),
    }
}

/// The new password of a change, with the proof.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    password: String,
    code: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<PasswordForm>,
) -> Response {
    let proof = ProofForm {
        password: form.password,
        code: form.code,
        ..ProofForm::default()
    };
    match state
        .service
        .change_password(
            &auth,
            proof.proof(),
            Zeroizing::new(form.new_password),
            &info,
        )
        .await
    {
        Ok(()) => ctx.redirect("/settings/security?done=password-changed"),
        Err(e) => render(&state, ctx, &auth, None, "password", Some(&e)).await,
    }
}

async fn change_email(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state
        .service
        .start_email_change(&auth, form.proof(), &form.destination, &info)
        .await
    {
        Ok(sent) => {
            let notice = ctx.tr.tf("done-code-sent-to", &[("to", &sent.sent_to)]);
            render(&state, ctx, &auth, Some(notice), "", None).await
        }
        Err(e) => {
            // The form comes back with the address as typed, and what is wrong with it.
            let status = ctx.failed(&e).0;
            let text = explain(&state, &ctx.tr, &e);
            match build(&state, &ctx, &auth, None, "email", text).await {
                Ok(mut page) => {
                    page.typed_email = form.destination.clone();
                    ctx.page_with(status, &page)
                }
                Err(_) => render(&state, ctx, &auth, None, "email", Some(&e)).await,
            }
        }
    }
}

async fn confirm_email(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state
        .service
        .confirm_email_change(&auth, &form.code, &info)
        .await
    {
        Ok(_) => ctx.redirect("/settings/security?done=email-changed"),
        Err(e) => render(&state, ctx, &auth, None, "email-confirm", Some(&e)).await,
    }
}

async fn delete_account(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(mut ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    if form.action != "delete" {
        let e = ServiceError::InvalidRequest("confirm the deletion".into());
        return render(&state, ctx, &auth, None, "delete", Some(&e)).await;
    }
    match state
        .service
        .delete_account(&auth, form.proof(), &info)
        .await
    {
        Ok(()) => {
            ctx.clear_session();
            ctx.clear_cookie(super::cookies::DEVICE);
            ctx.renew_csrf();
            ctx.message(StatusCode::OK, "deleted-title", "deleted-text")
        }
        Err(e) => render(&state, ctx, &auth, None, "delete", Some(&e)).await,
    }
}
