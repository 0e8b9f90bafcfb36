//! The security page: two-step state (on / off for now / remove), methods, recovery codes,
//! remembered devices, sessions and the activity history; and its small posts.
//!
//! Every sensitive change asks for the password and (once a method exists) a current code in the
//! same form; the service enforces it, the forms only make it possible. Enrolment (app, SMS,
//! email, recovery codes) lives in `enrol.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use nidan_domain::{Method, TwoStepState};
use nidan_service::session::AuthContext;
use nidan_service::two_step::StepUp;
use nidan_service::{DeviceId, ServiceError, SessionId};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::csrf::SignedInForm;
use super::{Base, Ctx, Tr, enrol, signed_in};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/security", get(view))
        .route("/settings/security/two-step", post(two_step))
        .route("/settings/security/step-up-code", post(step_up_code))
        .route("/settings/security/devices/forget", post(forget_device))
        .route("/settings/security/default-method", post(default_method))
        .route("/settings/security/sessions/end", post(end_session))
        .route("/settings/security/apps/remove", post(remove_app))
        .merge(enrol::router())
}

/// One enrolled method as listed.
pub(super) struct MethodRow {
    pub id: &'static str,
    /// A security key's id (empty for the other methods).
    pub key: String,
    /// When a security key last signed in, in words (empty when never, or not a key).
    pub last_used: String,
    pub label: String,
    pub hint: String,
    pub since: String,
    /// Offered first at sign-in.
    pub is_default: bool,
}

/// A table row of strings.
pub(super) struct Row {
    pub id: String,
    pub cells: Vec<String>,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
pub(super) struct SecurityPage {
    pub base: Base,
    pub email: String,
    pub state: &'static str,
    pub state_text: String,
    /// While off for a while: when it turns back on by itself, in words.
    pub off_until: Option<String>,
    pub notice: Option<String>,
    pub err_form: String,
    pub err_text: String,
    pub needs_code: bool,
    pub code_by: Vec<MethodRow>,
    pub methods: Vec<MethodRow>,
    pub has_totp: bool,
    /// Security keys can be added here.
    pub webauthn: bool,
    pub has_sms: bool,
    pub has_email: bool,
    pub codes_left: String,
    pub devices: Vec<Row>,
    pub sessions: Vec<Row>,
    /// Apps signed in to with nidan: client id, what they may have, last used.
    pub apps: Vec<Row>,
    pub activity: Vec<Row>,
    /// The cursor of the next, older page of the history, when there is one.
    pub older: Option<i64>,
    /// The configured minimum password length, and the rule in words.
    pub password_min: usize,
    pub password_help: String,
    /// A new sign-in email waiting for its code: the label of the code field, naming it.
    pub pending_email: Option<String>,
    /// The new sign-in email as typed (kept when the form comes back with an error).
    pub typed_email: String,
    /// Codes by email must go to another address than the sign-in one.
    pub separate_address: bool,
    /// Right after sign-up: the app setup is open, with why and what to keep.
    pub welcome: bool,
    /// The operator's support contact (href, text), when set.
    pub support: Option<(String, String)>,
}

/// Keys of the notices a redirect may ask for (`?done=`).
const NOTICES: [&str; 16] = [
    "welcome",
    "two-step-needed",
    "password-changed",
    "email-changed",
    "default-method",
    "on",
    "off",
    "removed",
    "method-added",
    "method-removed",
    "codes-saved",
    "code-sent",
    "device-forgotten",
    "session-ended",
    "recovery-used",
    "app-removed",
];

pub(super) fn method_key(m: Method) -> &'static str {
    match m {
        Method::Webauthn => "method-webauthn",
        Method::Totp => "method-totp",
        Method::Sms => "method-sms",
        Method::Email => "method-email",
        Method::Recovery => "method-recovery",
    }
}

fn translated_or(tr: &Tr, key: &str, fallback: &str) -> String {
    let t = tr.t(key);
    if t.starts_with(super::i18n::MISSING) {
        fallback.to_string()
    } else {
        t
    }
}

/// Lines of the history on one page.
const ACTIVITY_PAGE: u32 = 50;

/// Builds the page for `auth`, with an optional notice and an error next to form `err_form`.
pub(super) async fn build(
    state: &AppState,
    ctx: &Ctx,
    auth: &AuthContext,
    notice: Option<String>,
    err_form: &str,
    err_text: String,
) -> Result<SecurityPage, ServiceError> {
    build_from(state, ctx, auth, notice, (err_form, err_text), None).await
}

/// [`build`], with the history from before the cursor `before` (its "Older" pages).
async fn build_from(
    state: &AppState,
    ctx: &Ctx,
    auth: &AuthContext,
    notice: Option<String>,
    (err_form, err_text): (&str, String),
    before: Option<i64>,
) -> Result<SecurityPage, ServiceError> {
    let tr = ctx.tr;
    let me = state.service.me(auth).await?;
    let two = &me.two_step;
    let (state_key, state_id) = match two.state {
        TwoStepState::On => ("state-on", "on"),
        TwoStepState::Off => ("state-off", "off"),
        TwoStepState::None => ("state-none", "none"),
    };
    let methods: Vec<MethodRow> = two
        .methods
        .iter()
        .map(|m| MethodRow {
            id: m.method.as_str(),
            key: m
                .key
                .as_ref()
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
            last_used: m.last_used.map(|t| tr.date(t)).unwrap_or_default(),
            label: tr.t(method_key(m.method)),
            hint: m.hint.clone().unwrap_or_default(),
            since: tr.date(m.created_at),
            is_default: two.default_method == Some(m.method),
        })
        .collect();
    let has = |m: Method| two.methods.iter().any(|v| v.method == m);
    let now = state.service.now();
    // Where a client was, when the operator loaded a country database ("JP").
    let place = |ip: &str| {
        state
            .service
            .country_of(ip)
            .filter(|c| c != "unknown")
            .map(|c| format!(" · {c}"))
            .unwrap_or_default()
    };
    let devices = state
        .service
        .devices(auth)
        .await?
        .into_iter()
        .map(|d| Row {
            id: d.id.as_str().to_string(),
            cells: vec![
                d.name.clone(),
                tr.date(d.created_at),
                d.last_used_at.map(|t| tr.ago(now, t)).unwrap_or_default(),
                tr.date(d.expires_at),
                place(&d.last_ip),
            ],
            current: false,
        })
        .collect();
    let sessions = state
        .service
        .sessions(auth)
        .await?
        .into_iter()
        .map(|s| Row {
            current: s.id == auth.session_id,
            id: s.id.as_str().to_string(),
            cells: vec![
                tr.date(s.created_at),
                tr.ago(now, s.last_seen_at),
                format!("{}{}", s.ip, place(&s.ip)),
                nidan_service::agent::describe(&s.user_agent),
            ],
        })
        .collect();
    let apps = state
        .service
        .oidc_apps(auth)
        .await?
        .into_iter()
        .map(|a| Row {
            cells: vec![
                a.scope
                    .split(' ')
                    .map(|s| tr.t(&format!("consent-scope-{s}")))
                    .collect::<Vec<_>>()
                    .join(" · "),
                tr.ago(now, a.last_used_at),
            ],
            id: a.client_id,
            current: false,
        })
        .collect();
    let events = state.service.activity(auth, ACTIVITY_PAGE, before).await?;
    let older = (events.len() == ACTIVITY_PAGE as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let activity = events
        .into_iter()
        .map(|a| Row {
            id: a.id.to_string(),
            cells: vec![
                tr.date(a.at),
                translated_or(&tr, &format!("activity-{}", a.kind), &a.kind),
                a.method
                    .as_deref()
                    .and_then(|m| m.parse::<Method>().ok())
                    .map(|m| tr.t(method_key(m)))
                    .unwrap_or_default(),
                translated_or(&tr, &format!("result-{}", a.result), &a.result),
                a.ip.clone(),
                a.country
                    .clone()
                    .filter(|c| c != "unknown")
                    .unwrap_or_default(),
                nidan_service::agent::describe(&a.user_agent),
            ],
            current: false,
        })
        .collect();
    Ok(SecurityPage {
        base: ctx.base(true, "/settings/security"),
        email: me.email.clone(),
        state: state_id,
        state_text: tr.t(state_key),
        off_until: two
            .off_until
            .map(|t| tr.tf("two-step-off-until", &[("when", &tr.date(t))])),
        notice,
        err_form: err_form.to_string(),
        err_text,
        needs_code: !two.methods.is_empty() || two.recovery_codes_left > 0,
        code_by: methods
            .iter()
            .filter(|m| m.id == "sms" || m.id == "email")
            .map(|m| MethodRow {
                id: m.id,
                key: String::new(),
                last_used: String::new(),
                label: m.label.clone(),
                hint: m.hint.clone(),
                since: String::new(),
                is_default: m.is_default,
            })
            .collect(),
        has_totp: has(Method::Totp),
        webauthn: state.service.webauthn_available(),
        has_sms: has(Method::Sms),
        has_email: has(Method::Email),
        codes_left: tr.tf("codes-left", &[("n", &two.recovery_codes_left.to_string())]),
        methods,
        devices,
        sessions,
        apps,
        activity,
        older,
        password_min: state.service.policy().password_min_chars,
        password_help: super::password_help(state, &tr),
        pending_email: state
            .service
            .pending_sign_in_email(auth)
            .await?
            .map(|to| tr.tf("email-change-code", &[("to", &to)])),
        typed_email: String::new(),
        separate_address: state.service.policy().codes.email_separate_address,
        welcome: false,
        support: super::support_link(state),
    })
}

/// Renders the security page, with `error` next to form `err_form` and its status (when the
/// session is gone, sends to the sign-in page; when the page cannot be read, says why).
pub(super) async fn render(
    state: &AppState,
    ctx: Ctx,
    auth: &AuthContext,
    notice: Option<String>,
    err_form: &str,
    error: Option<&ServiceError>,
) -> Response {
    let (status, err_text) = match error {
        Some(e) => (ctx.failed(e).0, super::explain(state, &ctx.tr, e)),
        None => (StatusCode::OK, String::new()),
    };
    match build(state, &ctx, auth, notice, err_form, err_text).await {
        Ok(page) => ctx.page_with(status, &page),
        Err(ServiceError::Unauthenticated) => ctx.redirect("/login"),
        Err(e) => {
            let (status, key) = ctx.failed(&e);
            ctx.message(status, "err-title", key)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DoneQuery {
    done: String,
    /// Where to go back to once two-step is on (sent here by forward-auth).
    rd: String,
    /// The history from before this line (the "Older" link).
    before: Option<i64>,
}

async fn view(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut ctx = Ctx::new(&state, &headers);
    if !q.rd.is_empty() {
        ctx.remember_return(&state, &q.rd);
    }
    let Some((auth, _)) = signed_in(&state, &headers).await else {
        return ctx.redirect("/login");
    };
    let notice = NOTICES
        .contains(&q.done.as_str())
        .then(|| ctx.tr.t(&format!("done-{}", q.done)));
    match build_from(&state, &ctx, &auth, notice, ("", String::new()), q.before).await {
        Ok(mut page) => {
            page.welcome = q.done == "welcome" && page.state == "none";
            ctx.page(&page)
        }
        Err(_) => render(&state, ctx, &auth, None, "", None).await,
    }
}

/// The password and code of a sensitive change.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ProofForm {
    pub password: String,
    pub code: String,
    pub action: String,
    pub id: String,
    pub method: String,
    pub destination: String,
    /// "Turn off for": days, or empty for "until I turn it back on".
    pub off_for: String,
}

impl ProofForm {
    pub fn proof(&self) -> StepUp<'_> {
        StepUp {
            password: Zeroizing::new(self.password.clone()),
            code: Some(self.code.as_str()).filter(|c| !c.trim().is_empty()),
        }
    }
}

/// On, off for now, or removed.
async fn two_step(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let result = match form.action.as_str() {
        "on" | "off" => state
            .service
            .set_two_step(
                &auth,
                form.proof(),
                form.action == "on",
                form.off_for.parse().ok().filter(|_| form.action == "off"),
                &info,
            )
            .await
            .map(|_| ()),
        "remove" => {
            state
                .service
                .remove_two_step(&auth, form.proof(), &info)
                .await
        }
        _ => Err(ServiceError::InvalidRequest("unknown action".into())),
    };
    match result {
        Ok(()) => {
            let done = if form.action == "remove" {
                "removed"
            } else {
                form.action.as_str()
            };
            ctx.redirect(&format!("/settings/security?done={done}"))
        }
        Err(e) => render(&state, ctx, &auth, None, "two-step", Some(&e)).await,
    }
}

/// Sends a step-up code by email or SMS (for accounts without an app or recovery codes at hand).
async fn step_up_code(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let method = form.method.parse().unwrap_or(Method::Email);
    match state.service.send_step_up_code(&auth, method, &info).await {
        Ok(sent) => {
            let notice = ctx.tr.tf("done-code-sent-to", &[("to", &sent.sent_to)]);
            render(&state, ctx, &auth, Some(notice), "", None).await
        }
        Err(e) => render(&state, ctx, &auth, None, "two-step", Some(&e)).await,
    }
}

/// "Offer this first at sign-in": the method whose code is asked for (or sent) first.
async fn default_method(
    State(state): State<AppState>,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let method = form.method.parse::<Method>().unwrap_or(Method::Recovery);
    match state.service.set_default_method(&auth, method).await {
        Ok(()) => ctx.redirect("/settings/security?done=default-method"),
        Err(e) => render(&state, ctx, &auth, None, "methods", Some(&e)).await,
    }
}

async fn forget_device(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state
        .service
        .forget_device(&auth, &DeviceId::new(form.id.clone()), &info)
        .await
    {
        Ok(()) => ctx.redirect("/settings/security?done=device-forgotten"),
        Err(e) => render(&state, ctx, &auth, None, "devices", Some(&e)).await,
    }
}

async fn end_session(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(mut ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    let id = SessionId::new(form.id.clone());
    let current = id == auth.session_id;
    match state.service.end_session(&auth, &id, &info).await {
        Ok(()) if current => {
            ctx.clear_session();
            ctx.renew_csrf();
            ctx.redirect("/login")
        }
        Ok(()) => ctx.redirect("/settings/security?done=session-ended"),
        Err(e) => render(&state, ctx, &auth, None, "sessions", Some(&e)).await,
    }
}

async fn remove_app(
    State(state): State<AppState>,
    Client(info, _): Client,
    SignedInForm(ctx, auth, form): SignedInForm<ProofForm>,
) -> Response {
    match state.service.remove_oidc_app(&auth, &form.id, &info).await {
        Ok(()) => ctx.redirect("/settings/security?done=app-removed"),
        Err(e) => render(&state, ctx, &auth, None, "apps", Some(&e)).await,
    }
}
