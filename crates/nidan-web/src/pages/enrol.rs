//! Adding and removing methods: the authenticator app (QR code, the secret as text, an
//! `otpauth://` link), SMS and email (a code to the new destination), and recovery codes (shown
//! once, with download, copy and print, and an "I have saved these codes" box to finish).
//!
//! Secrets shown here are never stored by the page layer. While a confirmation is pending, the
//! `otpauth://` URI (or the recovery codes) go back and forth in a hidden field only so a typo in
//! the confirm code does not force the person to start over; they travel over the same channel
//! as the page that shows them and every response is `no-store`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use nidan_domain::RecoveryCode;
use nidan_service::ServiceError;
use nidan_service::courier::Channel;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::csrf::SignedInForm;
use super::security::{ProofForm, render};
use super::{Base, Ctx};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/security/totp/setup", post(totp_setup))
        .route("/settings/security/totp/confirm", post(totp_confirm))
        .route("/settings/security/totp/remove", post(totp_remove))
        .route("/settings/security/oob/setup", post(oob_setup))
        .route("/settings/security/oob/confirm", post(oob_confirm))
        .route("/settings/security/oob/resend", post(oob_resend))
        .route("/settings/security/oob/remove", post(oob_remove))
        .route("/settings/security/recovery", post(recovery_recreate))
        .route("/settings/security/recovery/done", post(recovery_done))
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
struct TotpSetupPage {
    base: Base,
    qr: String,
    secret: String,
    uri: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "oob_confirm.html")]
struct OobConfirmPage {
    base: Base,
    channel: &'static str,
    title: String,
    sent_to: String,
    wait: String,
    /// How long the code works.
    lifetime: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "codes.html")]
struct CodesPage {
    base: Base,
    codes: Vec<String>,
    joined: String,
    download: String,
    error: Option<String>,
}

fn channel_of(s: &str) -> Channel {
    if s == "sms" {
        Channel::Sms
    } else {
        Channel::Email
    }
}

fn channel_id(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms",
        Channel::Email => "email",
    }
}

/// The secret in groups of 4, read back out of an otpauth URI.
fn grouped_secret(uri: &str) -> String {
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap_or("");
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn totp_page(ctx: &Ctx, uri: &str, error: Option<String>) -> Option<TotpSetupPage> {
    let qr = crate::qr::svg(uri).ok()?;
    Some(TotpSetupPage {
        base: ctx.base(true, "/settings/security"),
        qr,
        secret: grouped_secret(uri),
        uri: uri.to_string(),
        error,
    })
}

fn codes_page(ctx: &Ctx, codes: Vec<String>, error: Option<String>) -> CodesPage {
    let text = format!(
        "{}\n\n{}\n",
        ctx.tr.t("codes-file-heading"),
        codes.join("\n")
    );
    CodesPage {
        base: ctx.base(true, "/settings/security"),
        download: format!(
            "data:text/plain;charset=utf-8,{}",
            utf8_percent_encode(&text, NON_ALPHANUMERIC)
        ),
        joined: text,
        codes,
        error,
    }
}

pub(super) fn show_codes(ctx: Ctx, codes: &[RecoveryCode]) -> Response {
    let page = codes_page(
        &ctx,
        codes.iter().map(RecoveryCode::display).collect(),
        None,
    );
    ctx.page(&page)
}

async fn totp_setup(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state.service.totp_setup(&auth, form.proof(), &info).await {
        Ok(setup) => match totp_page(&ctx, &setup.otpauth_uri, None) {
            Some(page) => ctx.page(&page),
            None => ctx.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "err-title",
                "err-internal",
            ),
        },
        Err(e) => {
            let form_id = if form.action == "replace" {
                "totp-replace"
            } else {
                "totp-add"
            };
            render(&state, ctx, &auth, None, form_id, Some(&e)).await
        }
    }
}

async fn totp_confirm(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state.service.totp_confirm(&auth, &form.code, &info).await {
        Ok(Some(codes)) => show_codes(ctx, &codes),
        Ok(None) => ctx.redirect("/settings/security?done=method-added"),
        Err(e) => {
            let uri = form.destination.as_str();
            let (status, _) = ctx.failed(&e);
            let msg = super::explain(&state, &ctx.tr, &e);
            match (e, uri.starts_with("otpauth://totp/")) {
                (ServiceError::InvalidCode { .. } | ServiceError::InvalidRequest(_), true) => {
                    match totp_page(&ctx, uri, Some(msg)) {
                        Some(page) => ctx.page_with(status, &page),
                        None => ctx.redirect("/settings/security"),
                    }
                }
                (e, _) => render(&state, ctx, &auth, None, "totp-add", Some(&e)).await,
            }
        }
    }
}

async fn totp_remove(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state.service.totp_remove(&auth, form.proof(), &info).await {
        Ok(()) => ctx.redirect("/settings/security?done=method-removed"),
        Err(e) => render(&state, ctx, &auth, None, "remove-totp", Some(&e)).await,
    }
}

async fn oob_setup(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let channel = channel_of(&form.method);
    match state
        .service
        .oob_setup(&auth, channel, form.proof(), &form.destination, &info)
        .await
    {
        Ok(sent) => {
            let page = oob_page(&state, &ctx, channel, sent.sent_to, sent.resend_after, None);
            ctx.page(&page)
        }
        Err(e) => {
            let how = if form.action == "change" {
                "change"
            } else {
                "add"
            };
            let form_id = format!("{}-{how}", channel_id(channel));
            render(&state, ctx, &auth, None, &form_id, Some(&e)).await
        }
    }
}

fn oob_page(
    state: &AppState,
    ctx: &Ctx,
    channel: Channel,
    sent_to: String,
    wait: i64,
    error: Option<String>,
) -> OobConfirmPage {
    let title = match channel {
        Channel::Sms => "oob-title-sms",
        Channel::Email => "oob-title-email",
    };
    OobConfirmPage {
        base: ctx.base(true, "/settings/security"),
        channel: channel_id(channel),
        title: ctx.tr.t(title),
        sent_to,
        wait: ctx.tr.tf("oob-resend-wait", &[("n", &wait.to_string())]),
        lifetime: ctx.tr.tf(
            "second-lifetime-code",
            &[(
                "n",
                &(state.service.policy().codes.ttl_secs / 60)
                    .max(1)
                    .to_string(),
            )],
        ),
        error,
    }
}

/// The confirm page again, with `e` said, for an error the person can act on there (a wrong
/// code, a resend too soon, a failed delivery).
fn oob_again(
    state: &AppState,
    ctx: Ctx,
    (channel, form): (Channel, &ProofForm),
    e: &ServiceError,
) -> Response {
    let status = ctx.failed(e).0;
    let error = Some(super::explain(state, &ctx.tr, e));
    let page = oob_page(state, &ctx, channel, form.destination.clone(), 0, error);
    ctx.page_with(status, &page)
}

async fn oob_confirm(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let channel = channel_of(&form.method);
    match state
        .service
        .oob_confirm(&auth, channel, &form.code, &info)
        .await
    {
        Ok(Some(codes)) => show_codes(ctx, &codes),
        Ok(None) => ctx.redirect("/settings/security?done=method-added"),
        Err(e @ ServiceError::InvalidCode { .. }) => oob_again(&state, ctx, (channel, &form), &e),
        Err(e) => {
            let form_id = format!("{}-add", channel_id(channel));
            render(&state, ctx, &auth, None, &form_id, Some(&e)).await
        }
    }
}

async fn oob_resend(
    State(state): State<AppState>,
    Client(client, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let channel = channel_of(&form.method);
    match state.service.oob_resend(&auth, channel, &client).await {
        Ok(sent) => {
            let page = oob_page(&state, &ctx, channel, sent.sent_to, sent.resend_after, None);
            ctx.page(&page)
        }
        Err(e @ (ServiceError::RateLimited { .. } | ServiceError::DeliveryFailed)) => {
            oob_again(&state, ctx, (channel, &form), &e)
        }
        Err(e) => {
            let form_id = format!("{}-add", channel_id(channel));
            render(&state, ctx, &auth, None, &form_id, Some(&e)).await
        }
    }
}

async fn oob_remove(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let channel = channel_of(&form.method);
    match state
        .service
        .oob_remove(&auth, channel, form.proof(), &info)
        .await
    {
        Ok(()) => ctx.redirect("/settings/security?done=method-removed"),
        Err(e) => {
            let form_id = format!("remove-{}", channel_id(channel));
            render(&state, ctx, &auth, None, &form_id, Some(&e)).await
        }
    }
}

async fn recovery_recreate(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state
        .service
        .recreate_recovery_codes(&auth, form.proof(), &info)
        .await
    {
        Ok(codes) => show_codes(ctx, &codes),
        Err(e) => render(&state, ctx, &auth, None, "recovery", Some(&e)).await,
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct DoneForm {
    saved: Option<String>,
    codes: String,
}

/// Finishing needs the "I have saved these codes" box ticked; otherwise the codes show again.
async fn recovery_done(SignedInForm(ctx, _, form): SignedInForm<DoneForm>) -> Response {
    if form.saved.is_some() {
        // Back to the app that asked for two-step, when one did.
        return ctx.land("/settings/security?done=codes-saved");
    }
    let codes: Vec<String> = form
        .codes
        .split_whitespace()
        .filter(|c| c.len() <= 32)
        .take(32)
        .map(str::to_string)
        .collect();
    let msg = ctx.tr.t("codes-tick-first");
    let page = codes_page(&ctx, codes, Some(msg));
    ctx.page_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
