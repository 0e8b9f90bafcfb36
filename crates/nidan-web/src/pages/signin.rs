//! Sign-up, sign-in (password, then the second step) and sign-out pages.
//!
//! The challenge between the password page and the second step travels in an HttpOnly cookie
//! (never in the URL, where logs and the Referer would see it), with the methods to offer and
//! where the first code went; the challenge itself is checked by the service on every post.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use nidan_domain::Method;
use nidan_service::ServiceError;
use nidan_service::signin::{Answer, LoginOutcome};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::csrf::CsrfForm;
use super::security::method_key;
use super::{Base, Ctx, cookies, signed_in};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/login/second-step", get(second_page).post(second_step))
        .route("/login/second-step/send", post(send_code))
        .route("/logout", get(logout_page).post(logout))
}

/// Remembered devices live 30 days (the service's default); the cookie lives as long.
const DEVICE_COOKIE_SECS: i64 = 30 * 86_400;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    base: Base,
    email: String,
    /// The configured minimum length, stated on the form.
    min: usize,
    /// The password rule in words.
    help: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    base: Base,
    email: String,
    error: Option<String>,
}

/// One "try another method" entry.
struct MethodLink {
    id: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStepPage {
    base: Base,
    method: &'static str,
    method_label: String,
    hint: String,
    sends_code: bool,
    sent_to: Option<String>,
    /// Why a code is asked for beyond the account's own setting (a sign-in from a new country).
    reason: Option<String>,
    info: Option<String>,
    error: Option<String>,
    others: Vec<MethodLink>,
    has_recovery: bool,
    /// How long a code of this method works, in words.
    lifetime: Option<String>,
    /// "Remember this device for N days", or nothing when the operator turned it off.
    remember: Option<String>,
    /// The operator's support contact (href, text), when set.
    support: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CredentialsForm {
    email: String,
    password: String,
}

async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let page = SignupPage {
        base: ctx.base(false, "/signup"),
        email: String::new(),
        min: state.service.policy().password_min_chars,
        help: super::password_help(&state, &ctx.tr),
        error: None,
    };
    ctx.page(&page)
}

async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    CsrfForm(form): CsrfForm<CredentialsForm>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    // The same per-client sign-up limit as `POST /api/v1/users`.
    if let Err(e) = state.limits.check_signup(client.1) {
        let page = SignupPage {
            base: ctx.base(false, "/signup"),
            email: form.email,
            min: state.service.policy().password_min_chars,
            help: super::password_help(&state, &ctx.tr),
            error: Some(super::refused(&ctx, &e)),
        };
        return ctx.page_with(StatusCode::TOO_MANY_REQUESTS, &page);
    }
    let password = Zeroizing::new(form.password);
    let result = state
        .service
        .sign_up(&form.email, password.clone(), ctx.tr.locale)
        .await;
    let e = match result {
        Ok(_) => {
            return finish_login(
                ctx,
                &state,
                (&form.email, password),
                &headers,
                client,
                WELCOME,
            )
            .await;
        }
        Err(e) => e,
    };
    let (status, _) = ctx.failed(&e);
    // The sign-up form says what to change in its own words.
    let error = match e {
        ServiceError::InvalidRequest(_) => ctx.tr.t("err-signup-invalid"),
        ServiceError::Conflict(_) => ctx.tr.t("err-signup-taken"),
        ref e => super::explain(&state, &ctx.tr, e),
    };
    let page = SignupPage {
        base: ctx.base(false, "/signup"),
        email: form.email,
        min: state.service.policy().password_min_chars,
        help: super::password_help(&state, &ctx.tr),
        error: Some(error),
    };
    ctx.page_with(status, &page)
}

/// `?rd=` (where to go back to once signed in) and `?renew=1` (sign in again although signed
/// in: the session is not good enough for the app that sent the browser here).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ReturnQuery {
    rd: String,
    renew: String,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReturnQuery>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    if !q.rd.is_empty() {
        ctx.remember_return(&state, &q.rd);
    }
    if q.renew.is_empty() && signed_in(&state, &headers).await.is_some() {
        return ctx.land("/settings/security");
    }
    let page = LoginPage {
        base: ctx.base(false, "/login"),
        email: String::new(),
        error: None,
    };
    ctx.page(&page)
}

/// The sign-in page with an error, at `status`.
pub(super) fn login_error(ctx: Ctx, status: StatusCode, error: String) -> Response {
    let page = LoginPage {
        base: ctx.base(false, "/login"),
        email: String::new(),
        error: Some(error),
    };
    ctx.page_with(status, &page)
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    CsrfForm(form): CsrfForm<CredentialsForm>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    // The same per-IP sign-in limit as `POST /api/v1/login`.
    if let Err(e) = state.limits.check_login(client.1) {
        let page = LoginPage {
            base: ctx.base(false, "/login"),
            email: form.email,
            error: Some(super::refused(&ctx, &e)),
        };
        return ctx.page_with(StatusCode::TOO_MANY_REQUESTS, &page);
    }
    let password = Zeroizing::new(form.password);
    finish_login(
        ctx,
        &state,
        (&form.email, password),
        &headers,
        client,
        "/settings/security",
    )
    .await
}

/// Where a new account lands: the security page, offering two-step at once.
const WELCOME: &str = "/settings/security?done=welcome";

/// The password step: signs in (and goes to `landing`), or hands over to the second step.
async fn finish_login(
    mut ctx: Ctx,
    state: &AppState,
    (email, password): (&str, Zeroizing<String>),
    headers: &HeaderMap,
    Client(info, _): Client,
    landing: &str,
) -> Response {
    let device = cookies::get(headers, cookies::DEVICE, ctx.secure);
    match state
        .service
        .login(email, password, device.as_deref(), &info)
        .await
    {
        Ok(LoginOutcome::SignedIn { session_token, .. }) => {
            ctx.set_session(session_token.expose());
            ctx.renew_csrf();
            ctx.land(landing)
        }
        Ok(LoginOutcome::SecondFactorRequired {
            challenge_token,
            methods,
            default_method,
            expires_in,
            code_sent_to,
            send_error,
            reason,
        }) => {
            let c = Challenge {
                token: challenge_token.expose().to_string(),
                methods,
                current: default_method,
                sent_to: code_sent_to,
                new_country: reason == Some("new_country"),
                not_sent: send_error.map(str::to_owned),
            };
            ctx.set_cookie(cookies::CHALLENGE, &c.encode(), Some(expires_in));
            ctx.redirect("/login/second-step")
        }
        Err(e) => {
            let (status, _) = ctx.failed(&e);
            let page = LoginPage {
                base: ctx.base(false, "/login"),
                email: email.to_string(),
                error: Some(super::explain(state, &ctx.tr, &e)),
            };
            ctx.page_with(status, &page)
        }
    }
}

/// The second-step state kept in the challenge cookie.
pub(super) struct Challenge {
    pub(super) token: String,
    methods: Vec<Method>,
    current: Method,
    sent_to: Option<String>,
    /// The code is asked for because the sign-in comes from a new country (`[risk]`).
    new_country: bool,
    /// The first code could not be sent: `delivery_failed` or `rate_limited`.
    not_sent: Option<String>,
}

impl Challenge {
    fn encode(&self) -> String {
        let methods: Vec<&str> = self.methods.iter().map(|m| m.as_str()).collect();
        let sent = self
            .sent_to
            .as_deref()
            .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
            .unwrap_or_default();
        format!(
            "{}~{}~{}~{}~{}~{}",
            self.token,
            methods.join("."),
            self.current.as_str(),
            sent,
            if self.new_country { "nc" } else { "" },
            self.not_sent.as_deref().unwrap_or("")
        )
    }

    fn decode(value: &str) -> Option<Challenge> {
        let mut parts = value.split('~');
        let token = parts.next()?.to_string();
        let methods = parts
            .next()?
            .split('.')
            .filter_map(|m| m.parse().ok())
            .collect::<Vec<Method>>();
        let current = parts.next()?.parse().ok()?;
        let sent = parts.next().unwrap_or("");
        let sent_to =
            (!sent.is_empty()).then(|| percent_decode_str(sent).decode_utf8_lossy().into_owned());
        let new_country = parts.next() == Some("nc");
        let not_sent = match parts.next() {
            Some(why @ ("delivery_failed" | "rate_limited")) => Some(why.to_owned()),
            _ => None,
        };
        (!token.is_empty() && !methods.is_empty()).then_some(Challenge {
            token,
            methods,
            current,
            sent_to,
            new_country,
            not_sent,
        })
    }

    pub(super) fn from_headers(headers: &HeaderMap, secure: bool) -> Option<Challenge> {
        Challenge::decode(&cookies::get(headers, cookies::CHALLENGE, secure)?)
    }
}

fn second_page_for(
    state: &AppState,
    ctx: &Ctx,
    c: &Challenge,
    method: Method,
    info: Option<String>,
    error: Option<String>,
) -> SecondStepPage {
    let policy = state.service.policy();
    let sends_code = matches!(method, Method::Sms | Method::Email);
    let hint = match method {
        Method::Webauthn => "second-hint-webauthn",
        Method::Totp => "second-hint-totp",
        Method::Sms => "second-hint-sms",
        Method::Email => "second-hint-email",
        Method::Recovery => "second-hint-recovery",
    };
    SecondStepPage {
        base: ctx.base(false, "/login/second-step"),
        method: method.as_str(),
        method_label: ctx.tr.t(method_key(method)),
        hint: ctx.tr.t(hint),
        sends_code,
        sent_to: c
            .sent_to
            .clone()
            .filter(|_| sends_code && c.current == method),
        reason: c.new_country.then(|| ctx.tr.t("second-new-country")),
        // The first code could not go out: say so, and that a resend or another method works.
        info: info.or_else(|| {
            c.not_sent
                .as_deref()
                .filter(|_| sends_code && c.current == method && c.sent_to.is_none())
                .map(|why| ctx.tr.t(&format!("second-not-sent-{why}")))
        }),
        error,
        others: c
            .methods
            .iter()
            .filter(|m| **m != method && **m != Method::Recovery)
            .map(|m| MethodLink {
                id: m.as_str(),
                label: ctx.tr.t(method_key(*m)),
            })
            .collect(),
        has_recovery: method != Method::Recovery && c.methods.contains(&Method::Recovery),
        lifetime: match method {
            Method::Webauthn => Some(ctx.tr.t("second-lifetime-webauthn")),
            Method::Totp => Some(ctx.tr.t("second-lifetime-totp")),
            Method::Sms | Method::Email => Some(ctx.tr.tf(
                "second-lifetime-code",
                &[("n", &(policy.codes.ttl_secs / 60).max(1).to_string())],
            )),
            Method::Recovery => Some(ctx.tr.t("second-lifetime-recovery")),
        },
        support: super::support_link(state),
        remember: (policy.remember_days > 0).then(|| {
            ctx.tr.tf(
                "second-remember",
                &[("n", &policy.remember_days.to_string())],
            )
        }),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MethodQuery {
    method: String,
}

fn chosen(c: &Challenge, asked: &str) -> Method {
    asked
        .parse()
        .ok()
        .filter(|m| c.methods.contains(m))
        .unwrap_or(c.current)
}

async fn second_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MethodQuery>,
) -> Response {
    let ctx = Ctx::new(&state, &headers);
    let Some(c) = Challenge::from_headers(&headers, ctx.secure) else {
        return ctx.redirect("/login");
    };
    let method = chosen(&c, &q.method);
    let page = second_page_for(&state, &ctx, &c, method, None, None);
    ctx.page(&page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecondStepForm {
    method: String,
    code: String,
    /// A security key's answer (JSON), put here by the page's script.
    credential: String,
    remember: Option<String>,
}

async fn second_step(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, _): Client,
    CsrfForm(form): CsrfForm<SecondStepForm>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    let Some(c) = Challenge::from_headers(&headers, ctx.secure) else {
        return ctx.redirect("/login");
    };
    let method = chosen(&c, &form.method);
    let remember = form.remember.is_some();
    let credential = (method == Method::Webauthn)
        .then(|| serde_json::from_str::<serde_json::Value>(&form.credential).ok())
        .flatten();
    let answer = match &credential {
        Some(credential) => Answer::Key(credential),
        None => Answer::Code(&form.code),
    };
    let result = state
        .service
        .second_step(&c.token, method, answer, remember, &info)
        .await;
    state
        .metrics
        .verification_result("sign_in", method.as_str(), &result);
    match result {
        Ok(outcome) => {
            ctx.set_session(outcome.session_token.expose());
            if let Some(device) = &outcome.device_token {
                ctx.set_cookie(cookies::DEVICE, device.expose(), Some(DEVICE_COOKIE_SECS));
            }
            ctx.clear_cookie(cookies::CHALLENGE);
            ctx.renew_csrf();
            match outcome.recovery_codes_left {
                // Said before anything else: a code of the set is gone.
                Some(_) => ctx.redirect("/settings/security?done=recovery-used"),
                None => ctx.land("/settings/security"),
            }
        }
        Err(e @ ServiceError::ChallengeExpired) => {
            let (status, key) = ctx.failed(&e);
            ctx.clear_cookie(cookies::CHALLENGE);
            let page = LoginPage {
                base: ctx.base(false, "/login"),
                email: String::new(),
                error: Some(ctx.tr.t(key)),
            };
            ctx.page_with(status, &page)
        }
        Err(e) => {
            let (status, _) = ctx.failed(&e);
            let mut error = match (&e, method) {
                (ServiceError::InvalidCode { .. }, Method::Webauthn) => {
                    ctx.tr.t("webauthn-refused")
                }
                (ServiceError::InvalidRequest(_), Method::Webauthn) if credential.is_none() => {
                    ctx.tr.t("webauthn-failed")
                }
                _ => super::explain(&state, &ctx.tr, &e),
            };
            if let ServiceError::InvalidCode {
                attempts_left: Some(n),
            } = e
            {
                error = format!(
                    "{} {}",
                    error,
                    ctx.tr.tf("err-attempts-left", &[("n", &n.to_string())])
                );
            }
            let page = second_page_for(&state, &ctx, &c, method, None, Some(error));
            ctx.page_with(status, &page)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SendForm {
    method: String,
}

/// Sends (or resends) a code by email or SMS and shows where it went and the wait.
async fn send_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, _): Client,
    CsrfForm(form): CsrfForm<SendForm>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    let Some(mut c) = Challenge::from_headers(&headers, ctx.secure) else {
        return ctx.redirect("/login");
    };
    let method = chosen(&c, &form.method);
    match state
        .service
        .send_sign_in_code(&c.token, method, &info)
        .await
    {
        Ok(sent) => {
            c.current = method;
            c.sent_to = Some(sent.sent_to);
            ctx.set_cookie(cookies::CHALLENGE, &c.encode(), Some(sent.expires_in));
            let wait = ctx.tr.tf(
                "second-resend-wait",
                &[("n", &sent.resend_after.to_string())],
            );
            let page = second_page_for(&state, &ctx, &c, method, Some(wait), None);
            ctx.page(&page)
        }
        Err(e) => {
            let (status, key) = ctx.failed(&e);
            let mut error = ctx.tr.t(key);
            if let ServiceError::RateLimited { retry_after, .. } = e {
                error = ctx.tr.tf("err-wait", &[("n", &retry_after.to_string())]);
            }
            let page = second_page_for(&state, &ctx, &c, method, None, Some(error));
            ctx.page_with(status, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    base: Base,
    /// Where to go afterwards (checked again when posted).
    rd: String,
}

/// "Sign out of every app?" — the target of the apps' sign-out links (`/logout?rd=…`). A page
/// with a button, not a sign-out on GET: no image tag on another site can sign anyone out.
async fn logout_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReturnQuery>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    let rd = state.options.redirects.check(&q.rd).unwrap_or_default();
    if !rd.is_empty() {
        ctx.allow_form_target(&rd);
    }
    let page = LogoutPage {
        base: ctx.base(true, "/logout"),
        rd,
    };
    ctx.page(&page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogoutForm {
    rd: String,
}

/// Ends the session — for nidan and every app behind it that shares it — then goes to `rd`
/// when it is a place a browser may be sent, else to the sign-in page.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(info, _): Client,
    CsrfForm(form): CsrfForm<LogoutForm>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    if let Some((auth, _)) = signed_in(&state, &headers).await {
        let _ = state.service.logout(&auth, &info).await;
    }
    ctx.clear_session();
    ctx.renew_csrf();
    match state.options.redirects.check(&form.rd) {
        Some(url) => ctx.redirect_url(&url, "/login"),
        None => ctx.redirect("/login"),
    }
}
