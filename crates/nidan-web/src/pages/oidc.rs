//! The browser's part of the OpenID Connect provider: `GET /oauth2/authorize` (the session
//! cookie decides; without a good enough session the browser signs in and comes back) and the
//! consent page (`POST /oauth2/authorize` with the user's answer). The decisions are the
//! service's ([`nidan_service::Service::authorize`]).

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use nidan_service::oidc::{AuthorizeRequest, AuthorizeStep};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::{Base, Ctx, MessagePage, session_cookie};
use crate::AppState;
use crate::extract::Client;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/oauth2/authorize", get(authorize).post(consent))
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    base: Base,
    title: String,
    scopes: Vec<String>,
    /// The authorization request, posted back with the answer.
    query: String,
}

/// The parameters of an authorization request, from its query string.
fn request_of(query: &str) -> AuthorizeRequest {
    let mut req = AuthorizeRequest::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "client_id" => req.client_id = v,
            "redirect_uri" => req.redirect_uri = v,
            "response_type" => req.response_type = v,
            "scope" => req.scope = v,
            "state" => req.state = Some(v),
            "nonce" => req.nonce = Some(v),
            "code_challenge" => req.code_challenge = Some(v),
            "code_challenge_method" => req.code_challenge_method = Some(v),
            "prompt" => req.prompt = Some(v),
            // Not a number: as if absent would weaken it; 0 asks for a new sign-in.
            "max_age" => req.max_age = Some(v.trim().parse().unwrap_or(0)),
            "acr_values" => req.acr_values = Some(v),
            "login_after" => req.login_after = Some(v),
            _ => {}
        }
    }
    req
}

/// This authorization request on nidan, with `login_after` set (or left out).
fn come_back(state: &AppState, query: &str, login_after: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "login_after")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(after) = login_after {
        pairs.push(("login_after".into(), after.into()));
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}/oauth2/authorize?{query}", state.options.public_url)
}

async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(from, _): Client,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    decide(&state, &headers, &query, false, &from).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConsentForm {
    query: String,
    decision: String,
}

async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(from, _): Client,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Response {
    if form.decision == "allow" {
        return decide(&state, &headers, &form.query, true, &from).await;
    }
    let ctx = Ctx::new(&state, &headers);
    match state
        .service
        .consent_refused(&request_of(&form.query))
        .await
    {
        Ok(step) => answer(&state, ctx, &form.query, step),
        Err(e) => {
            let (status, key) = ctx.failed(&e);
            ctx.message(status, "err-title", key)
        }
    }
}

async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
    consented: bool,
    from: &nidan_service::ClientInfo,
) -> Response {
    let ctx = Ctx::new(state, headers);
    let user = match session_cookie(state).get(headers) {
        Some(token) => state.service.gate(&token).await.ok(),
        None => None,
    };
    match state
        .service
        .authorize(&request_of(query), user.as_deref(), consented, from)
        .await
    {
        Ok(step) => answer(state, ctx, query, step),
        Err(e) => {
            let (status, key) = ctx.failed(&e);
            ctx.message(status, "err-title", key)
        }
    }
}

fn answer(state: &AppState, mut ctx: Ctx, query: &str, step: AuthorizeStep) -> Response {
    let encoded = |url: &str| utf8_percent_encode(url, NON_ALPHANUMERIC).to_string();
    match step {
        AuthorizeStep::Redirect(url) => ctx.redirect_url(&url, "/settings/security"),
        AuthorizeStep::Refuse(why) => {
            let page = MessagePage {
                base: ctx.base(false, "/login"),
                title: ctx.tr.t("oidc-refused-title"),
                text: why,
            };
            ctx.page_with(StatusCode::BAD_REQUEST, &page)
        }
        AuthorizeStep::SignIn { login_after } => {
            let back = come_back(state, query, login_after.as_deref());
            let renew = if login_after.is_some() {
                "renew=1&"
            } else {
                ""
            };
            ctx.redirect(&format!("/login?{renew}rd={}", encoded(&back)))
        }
        AuthorizeStep::TwoStepNeeded => {
            let back = come_back(state, query, None);
            ctx.redirect(&format!(
                "/settings/security?done=two-step-needed&rd={}",
                encoded(&back)
            ))
        }
        AuthorizeStep::Consent { client_id, scopes } => {
            let req = request_of(query);
            ctx.allow_form_target(&req.redirect_uri);
            let page = ConsentPage {
                base: ctx.base(true, "/login"),
                title: ctx.tr.tf("consent-heading", &[("app", &client_id)]),
                scopes: scopes
                    .iter()
                    .map(|s| ctx.tr.t(&format!("consent-scope-{s}")))
                    .collect(),
                query: query.to_owned(),
            };
            ctx.page(&page)
        }
    }
}
