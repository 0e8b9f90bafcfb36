//! The browser pages: sign-up, sign-in with its second step, and the security settings.
//!
//! Why a separate tree: the JSON API (`routes`) authenticates with bearer tokens only and needs no
//! CSRF defence; pages authenticate with a cookie, so everything that makes cookies safe (the
//! CSRF check, the page CSP, the cookie flags) lives here and nowhere near the API. Pages are
//! server-rendered askama templates, work without JavaScript, and call the same
//! `nidan_service::Service` use cases as the API — no rule is decided twice.

mod account;
pub mod cookies;
mod csrf;
mod enrol;
pub mod i18n;
mod keys;
mod oidc;
mod security;
mod signin;

use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nidan_service::ServiceError;
use nidan_service::session::AuthContext;
use serde::Deserialize;

use crate::AppState;
use csrf::CsrfForm;
pub use i18n::Tr;

/// The Content-Security-Policy of every page: own styles and scripts only, no inline code.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

const CSS: &str = include_str!("../../static/nidan.css");
const JS: &str = include_str!("../../static/nidan.js");

/// The pages' routes, merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/nidan.css", get(css))
        .route("/static/nidan.js", get(js))
        .route("/lang", post(switch_language))
        .merge(signin::router())
        .merge(security::router())
        .merge(keys::router())
        .merge(account::router())
        .merge(oidc::router())
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// What the layout needs on every page.
pub struct Base {
    /// The translator.
    pub tr: Tr,
    /// The CSRF token for the hidden `csrf` field.
    pub csrf: String,
    /// Whether the sign-out button shows.
    pub signed_in: bool,
    /// Where the language switch returns to.
    pub path: String,
    /// Security keys and passkeys work here (the sign-in page offers a passkey).
    pub passkeys: bool,
}

/// One request's page context: language, CSRF token, cookies to set.
pub struct Ctx {
    /// The translator.
    pub tr: Tr,
    /// The CSRF token (from the cookie, or new).
    pub csrf: String,
    /// Whether cookies are `Secure` (and `__Host-`).
    pub secure: bool,
    /// `[session] cookie_domain`, for the session cookie.
    domain: Option<String>,
    /// Where to send the browser once signed in (a checked `rd`, kept in a cookie).
    back_to: Option<String>,
    /// Another origin this page's forms may end up at (through a redirect).
    form_target: Option<String>,
    set_cookies: Vec<HeaderValue>,
    passkeys: bool,
    /// Seconds to wait (0: none), from the refusal this answer gives: sent as `Retry-After` with
    /// a 429 or 503, as the API does. Atomic so that `&self` can set it and `Ctx` stays `Sync`
    /// (handlers hold it across awaits).
    wait: AtomicU64,
}

impl Ctx {
    /// The context of a request; issues a CSRF cookie when there is none.
    pub fn new(state: &AppState, headers: &HeaderMap) -> Ctx {
        let secure = secure(state);
        let tr = Tr {
            locale: i18n::locale_of(headers, secure),
        };
        let back_to = cookies::get(headers, cookies::RETURN, secure).and_then(|v| {
            let rd = percent_encoding::percent_decode_str(&v)
                .decode_utf8()
                .ok()?;
            state.options.redirects.check(&rd)
        });
        let mut ctx = Ctx {
            tr,
            csrf: String::new(),
            secure,
            domain: state.options.cookie_domain.clone(),
            back_to,
            form_target: None,
            set_cookies: Vec::new(),
            passkeys: state.service.webauthn_available(),
            wait: AtomicU64::new(0),
        };
        match cookies::get(headers, cookies::CSRF, secure) {
            Some(v) => ctx.csrf = v,
            None => ctx.renew_csrf(),
        }
        ctx
    }

    fn session_cookie(&self) -> cookies::SessionCookie<'_> {
        cookies::SessionCookie {
            secure: self.secure,
            domain: self.domain.as_deref(),
        }
    }

    /// Sets the session cookie (shared with the apps under the cookie domain, when one is set).
    pub fn set_session(&mut self, token: &str) {
        let c = self.session_cookie().set(token, None);
        self.set_cookies.push(c);
    }

    /// Deletes the session cookie.
    pub fn clear_session(&mut self) {
        let c = self.session_cookie().set("", Some(0));
        self.set_cookies.push(c);
    }

    /// Keeps `rd` (when it is a place a browser may be sent: see [`nidan_domain::Redirects`])
    /// to go back to once signed in; false when it is refused.
    pub fn remember_return(&mut self, state: &AppState, rd: &str) -> bool {
        let Some(url) = state.options.redirects.check(rd) else {
            return false;
        };
        let encoded =
            percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        self.set_cookie(cookies::RETURN, &encoded, Some(600));
        self.back_to = Some(url);
        true
    }

    /// Whether a checked `rd` waits to be gone back to.
    pub fn has_return(&self) -> bool {
        self.back_to.is_some()
    }

    /// `303 See Other` to the kept `rd` (forgetting it), else to `default` (a local path).
    pub fn land(mut self, default: &str) -> Response {
        let Some(url) = self.back_to.take() else {
            return self.redirect(default);
        };
        self.clear_cookie(cookies::RETURN);
        self.redirect_url(&url, default)
    }

    /// `303 See Other` to `url`, an absolute URL that [`nidan_domain::Redirects::check`]
    /// accepted (`default`, a local path, if it cannot be a header).
    pub fn redirect_url(self, url: &str, default: &str) -> Response {
        match HeaderValue::from_str(url) {
            Ok(to) => {
                let response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
                self.finish(response)
            }
            Err(_) => self.redirect(default),
        }
    }

    /// Replaces the CSRF token (at sign-in and sign-out).
    pub fn renew_csrf(&mut self) {
        self.csrf = cookies::random_token();
        let c = cookies::set(cookies::CSRF, &self.csrf, self.secure, None);
        self.set_cookies.push(c);
    }

    /// Sets cookie `base` (see [`cookies::set`]).
    pub fn set_cookie(&mut self, base: &str, value: &str, max_age: Option<i64>) {
        let c = cookies::set(base, value, self.secure, max_age);
        self.set_cookies.push(c);
    }

    /// Deletes cookie `base`.
    pub fn clear_cookie(&mut self, base: &str) {
        let c = cookies::clear(base, self.secure);
        self.set_cookies.push(c);
    }

    /// The layout's data.
    pub fn base(&self, signed_in: bool, path: &str) -> Base {
        Base {
            tr: self.tr,
            csrf: self.csrf.clone(),
            signed_in,
            path: path.to_string(),
            passkeys: self.passkeys,
        }
    }

    /// Lets this page's forms end up at `url`'s origin (see [`page_csp`]).
    pub fn allow_form_target(&mut self, url: &str) {
        self.form_target = url::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization());
    }

    /// [`page_error`] of a failed use case, keeping its wait for `Retry-After`.
    pub fn failed(&self, e: &ServiceError) -> (StatusCode, &'static str) {
        if let ServiceError::RateLimited { retry_after, .. } | ServiceError::Busy { retry_after } =
            e
        {
            self.wait.store((*retry_after).max(1), Ordering::Relaxed);
        }
        page_error(e)
    }

    fn finish(self, mut response: Response) -> Response {
        let wait = self.wait.load(Ordering::Relaxed);
        if wait > 0
            && matches!(
                response.status(),
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
        }
        let target = self.form_target.clone().or_else(|| {
            self.back_to
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| u.origin().ascii_serialization())
        });
        let h = response.headers_mut();
        for c in self.set_cookies {
            h.append(header::SET_COOKIE, c);
        }
        h.insert(
            HeaderName::from_static("content-security-policy"),
            page_csp(target.as_deref()),
        );
        response
    }

    /// A rendered page with status 200.
    pub fn page(self, template: &impl Template) -> Response {
        self.page_with(StatusCode::OK, template)
    }

    /// A rendered page with `status`.
    pub fn page_with(self, status: StatusCode, template: &impl Template) -> Response {
        let response = match template.render() {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "page rendering failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
        self.finish(response)
    }

    /// A JSON answer to a page's script, with this context's cookies.
    pub fn json(self, value: serde_json::Value) -> Response {
        self.json_with(StatusCode::OK, value)
    }

    /// [`Ctx::json`] with `status` (and `Retry-After` when it is a refusal with a wait).
    pub fn json_with(self, status: StatusCode, value: serde_json::Value) -> Response {
        self.finish((status, axum::Json(value)).into_response())
    }

    /// `303 See Other` to `to` (a local path).
    pub fn redirect(self, to: &str) -> Response {
        let to = if to.starts_with('/') && !to.starts_with("//") {
            to
        } else {
            "/login"
        };
        let response = (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/login")),
            )],
        )
            .into_response();
        self.finish(response)
    }

    /// The plain message page (403 for a failed CSRF check, and the like).
    pub fn message(self, status: StatusCode, title_key: &str, text_key: &str) -> Response {
        let page = MessagePage {
            base: self.base(false, "/login"),
            title: self.tr.t(title_key),
            text: self.tr.t(text_key),
        };
        self.page_with(status, &page)
    }

    /// 403: the form came without the right CSRF token (the rejection of [`CsrfForm`]).
    pub fn csrf_failed(self) -> Response {
        self.message(StatusCode::FORBIDDEN, "csrf-title", "csrf-text")
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub(crate) base: Base,
    pub(crate) title: String,
    pub(crate) text: String,
}

/// The page CSP, letting forms end up at `target` too: browsers apply `form-action` to the
/// redirects that follow a form's post, so a sign-in that sends the browser back to an app (a
/// checked `rd`) or a consent that sends it back to a client needs that origin listed. `target`
/// is an origin serialised by the `url` crate (no quotes, spaces or semicolons).
pub fn page_csp(target: Option<&str>) -> HeaderValue {
    match target.filter(|t| !t.contains([' ', ';', '\'', ','])) {
        None => HeaderValue::from_static(PAGE_CSP),
        Some(origin) => {
            let csp = PAGE_CSP.replace(
                "form-action 'self'",
                &format!("form-action 'self' {origin}"),
            );
            HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(PAGE_CSP))
        }
    }
}

/// Whether the pages are served over https (then cookies are `Secure` and `__Host-`).
pub fn secure(state: &AppState) -> bool {
    state.options.public_url.starts_with("https://")
}

/// Where the session cookie goes under this configuration.
pub fn session_cookie(state: &AppState) -> cookies::SessionCookie<'_> {
    cookies::SessionCookie {
        secure: secure(state),
        domain: state.options.cookie_domain.as_deref(),
    }
}

/// The signed-in user of a page request (the session cookie), if any.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<(AuthContext, String)> {
    let token = session_cookie(state).get(headers)?;
    let auth = state.service.authenticate(&token).await.ok()?;
    Some((auth, token))
}

/// How a page answers a failed use case: the status, and the catalogue key that explains it to
/// a person. The status is the JSON API's ([`crate::error::status_of`]: 401, 403, 404, 409, 410,
/// 429, 502 for a failed delivery, 503, 500), except that input the service refused comes back
/// in its form with 422 where the API says 400.
pub fn page_error(e: &ServiceError) -> (StatusCode, &'static str) {
    let status = match e {
        ServiceError::InvalidRequest(_)
        | ServiceError::WeakPassword { .. }
        | ServiceError::SeparateAddress => StatusCode::UNPROCESSABLE_ENTITY,
        e => crate::error::status_of(e),
    };
    let key = match e {
        ServiceError::InvalidRequest(_) => "err-invalid",
        ServiceError::SeparateAddress => "err-separate-address",
        ServiceError::WeakPassword { reason, .. } => match *reason {
            "too_short" => "err-weak-too_short",
            "too_long" => "err-weak-too_long",
            "control_character" => "err-weak-control_character",
            "keyboard" => "err-weak-keyboard",
            "repeated" => "err-weak-repeated",
            "sequence" => "err-weak-sequence",
            "word" => "err-weak-word",
            "personal" => "err-weak-personal",
            "common" => "err-weak-common",
            _ => "err-weak-guessable",
        },
        ServiceError::LinkExpired => "reset-expired-text",
        ServiceError::InvalidCredentials => "err-credentials",
        ServiceError::InvalidCode { .. } => "err-code",
        ServiceError::Unauthenticated => "err-signin-again",
        ServiceError::ReauthRequired(_) => "err-reauth",
        ServiceError::Forbidden(_) => "err-forbidden",
        ServiceError::NotFound(_) => "err-not-found",
        ServiceError::Conflict(_) => "err-conflict",
        ServiceError::ChallengeExpired => "err-challenge-expired",
        ServiceError::RateLimited { locked: true, .. } => "err-locked",
        ServiceError::RateLimited { .. } => "err-rate-limited",
        ServiceError::Busy { .. } => "err-busy",
        ServiceError::DeliveryFailed => "err-delivery",
        ServiceError::Unavailable(_) | ServiceError::Internal(_) => "err-internal",
    };
    (status, key)
}

/// "Too many attempts. Wait 30 seconds and try again." (minutes from two minutes on).
pub fn too_many(tr: &Tr, retry_after: u64) -> String {
    let wait = if retry_after >= 120 {
        tr.tf(
            "wait-minutes",
            &[("n", &retry_after.div_ceil(60).to_string())],
        )
    } else {
        tr.tf("wait-seconds", &[("n", &retry_after.max(1).to_string())])
    };
    tr.tf("err-rate-limited", &[("wait", &wait)])
}

/// [`too_many`] for a refusal of the coarse per-client limits, keeping its wait for
/// `Retry-After`.
pub fn refused(ctx: &Ctx, e: &crate::error::ApiError) -> String {
    let wait = e.retry_after().unwrap_or(60);
    ctx.wait.store(wait.max(1), Ordering::Relaxed);
    too_many(&ctx.tr, wait)
}

/// The words for a failed use case: [`page_error`]'s text, with the password rule's numbers
/// and the wait filled in.
pub fn explain(state: &AppState, tr: &Tr, e: &ServiceError) -> String {
    if let ServiceError::RateLimited {
        retry_after,
        locked: false,
        ..
    } = e
    {
        return too_many(tr, *retry_after);
    }
    let (_, key) = page_error(e);
    let min = state.service.policy().password_min_chars.to_string();
    tr.tf(
        key,
        &[
            ("n", &min),
            ("max", &nidan_domain::PASSWORD_MAX_CHARS.to_string()),
        ],
    )
}

/// The operator's support contact as a link: (href, text), when `[support]` is set.
pub fn support_link(state: &AppState) -> Option<(String, String)> {
    let contact = state.service.policy().support.clone()?;
    let text = contact
        .strip_prefix("mailto:")
        .unwrap_or(&contact)
        .to_owned();
    Some((contact, text))
}

/// The password rule as the server enforces it, for the forms that set a password.
pub fn password_help(state: &AppState, tr: &Tr) -> String {
    let min = state.service.policy().password_min_chars.to_string();
    tr.tf("password-help", &[("n", &min)])
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LangForm {
    lang: String,
    back: String,
}

/// Remembers the chosen language for a year and goes back to the page the switch was on.
async fn switch_language(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LangForm>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    if let Some(locale) = nidan_service::courier::Locale::parse(&form.lang) {
        ctx.set_cookie(cookies::LANG, locale.as_str(), Some(365 * 86_400));
        ctx.tr = Tr { locale };
        if let Some((auth, _)) = signed_in(&state, &headers).await {
            let _ = state.service.set_locale(&auth, locale).await;
        }
    }
    let back = match form.back.as_str() {
        "/signup" | "/login" | "/login/second-step" | "/settings/security" | "/forgot" => {
            form.back.clone()
        }
        _ => "/login".to_string(),
    };
    ctx.redirect(&back)
}
