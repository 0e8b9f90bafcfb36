//! Forward-auth: a reverse proxy asks, before each request to a protected app, whether to let it
//! through (`GET /api/v1/authz/forward-auth` for Traefik and Caddy, `GET
//! /api/v1/authz/auth-request` for nginx's `auth_request`).
//!
//! The original request comes from the proxy's headers — `X-Original-URL` and
//! `X-Original-Method` (nginx), or `X-Forwarded-Proto`, `-Host`, `-Uri` and `-Method` (Traefik,
//! Caddy) — and those are believed only from a peer in `[server] trusted_proxies`; anyone else
//! gets 403. The session is the nidan session cookie the browser sent with the original request
//! (shared with the apps' hosts through `[session] cookie_domain`). The access rules
//! (`[access]`, [`nidan_domain::AccessRules`]) decide; the session check is
//! [`nidan_service::Service::gate`], from memory for up to a second, without a write per request.
//!
//! Answers: 200 with `Remote-User`, `Remote-Email`, `Remote-Name` and `Remote-Groups` when the
//! request may pass (the proxy copies them to the app, and must drop any the client sent); 403
//! when a rule denies it; otherwise the browser is sent to sign in (or to turn on two-step) and
//! back: forward-auth answers 302 for a browser's page request and 401 for anything else,
//! auth-request always 401 with the address in `Location` (nginx turns it into a redirect with
//! `error_page 401`).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use nidan_domain::{Decision, Subject};
use nidan_service::gate::GateUser;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::is_trusted_proxy;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/authz/forward-auth", any(forward_auth))
        .route("/api/v1/authz/auth-request", any(auth_request))
}

/// How a request that needs a sign-in is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// 302 for a browser's page request, 401 otherwise (Traefik, Caddy).
    Redirect,
    /// Always 401, with `Location` (nginx).
    Status,
}

#[utoipa::path(get, path = "/api/v1/authz/forward-auth", tag = "forward-auth",
    params(
        ("X-Forwarded-Method" = Option<String>, Header, description = "the original request's method (Traefik, Caddy)"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "its scheme"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "its host"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "its path and query"),
        ("X-Original-URL" = Option<String>, Header, description = "the whole original URL (nginx)"),
    ),
    responses(
        (status = 200, description = "the request may pass; the identity is in `Remote-User`, `Remote-Email`, `Remote-Name` and `Remote-Groups` (empty for a `bypass` rule without a session)"),
        (status = 302, description = "a browser's page request without a good enough session: `Location` is the sign-in page (or the security page to turn on two-step) with `rd` set to the original URL"),
        (status = 400, description = "the proxy did not say which request it asks about", body = crate::error::ErrorBody),
        (status = 401, description = "a request other than a browser's page without a good enough session (`Location` as for 302)", body = crate::error::ErrorBody),
        (status = 403, description = "a rule denies the request, or the caller is not in `server.trusted_proxies`", body = crate::error::ErrorBody),
    ))]
async fn forward_auth(State(state): State<AppState>, request: Parts) -> Response {
    check(&state, &request, Style::Redirect).await
}

#[utoipa::path(get, path = "/api/v1/authz/auth-request", tag = "forward-auth",
    params(
        ("X-Original-URL" = Option<String>, Header, description = "the whole original URL (nginx)"),
        ("X-Original-Method" = Option<String>, Header, description = "the original request's method"),
    ),
    responses(
        (status = 200, description = "the request may pass; the identity is in `Remote-User`, `Remote-Email`, `Remote-Name` and `Remote-Groups`"),
        (status = 400, description = "the proxy did not say which request it asks about", body = crate::error::ErrorBody),
        (status = 401, description = "no good enough session: `Location` is where to send the browser", body = crate::error::ErrorBody),
        (status = 403, description = "a rule denies the request, or the caller is not in `server.trusted_proxies`", body = crate::error::ErrorBody),
    ))]
async fn auth_request(State(state): State<AppState>, request: Parts) -> Response {
    check(&state, &request, Style::Status).await
}

/// The request the proxy asks about, borrowed from its headers (the allowed path, the hot one,
/// copies nothing).
struct Original<'h> {
    method: &'h str,
    scheme: &'h str,
    /// Host and port.
    authority: &'h str,
    /// Path and query as sent.
    path: &'h str,
}

impl Original<'_> {
    /// The host without user info (the rules drop the port and case themselves).
    fn host(&self) -> &str {
        self.authority
            .rsplit_once('@')
            .map_or(self.authority, |(_, host)| host)
    }

    /// The whole URL, for `rd`, as browsers would write it; `None` when it is not one.
    fn url(&self) -> Option<String> {
        let slash = if self.path.starts_with('/') { "" } else { "/" };
        let text = format!("{}://{}{slash}{}", self.scheme, self.authority, self.path);
        url::Url::parse(&text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(String::from)
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The original request from the proxy's headers.
fn original(headers: &HeaderMap) -> Result<Original<'_>, ApiError> {
    let method = header_str(headers, "x-forwarded-method")
        .or_else(|| header_str(headers, "x-original-method"))
        .unwrap_or("GET");
    let (scheme, authority, path) = if let Some(url) = header_str(headers, "x-original-url") {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let at = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        (scheme, &rest[..at], &rest[at..])
    } else {
        let host = header_str(headers, "x-forwarded-host").ok_or_else(|| {
            ApiError::bad_request(
                "the proxy did not say which request it asks about: send X-Forwarded-Host and \
                 X-Forwarded-Uri, or X-Original-URL",
            )
        })?;
        let proto = header_str(headers, "x-forwarded-proto").unwrap_or("https");
        (
            proto,
            host,
            header_str(headers, "x-forwarded-uri").unwrap_or("/"),
        )
    };
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"))
        || authority.is_empty()
    {
        return Err(ApiError::bad_request(
            "the original URL the proxy sent is not an http(s) URL",
        ));
    }
    Ok(Original {
        method,
        scheme,
        authority,
        path,
    })
}

/// Whether a browser asks for a page (then it can be redirected to sign in).
fn wants_page(method: &str, headers: &HeaderMap) -> bool {
    (method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD"))
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

async fn check(state: &AppState, request: &Parts, style: Style) -> Response {
    // No peer address (never the case behind a listener) counts as an untrusted one.
    let trusted = request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|peer| is_trusted_proxy(peer.0.ip(), &state.options.trusted_proxies));
    let headers = &request.headers;
    if !trusted {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "forward-auth answers only the proxies listed in server.trusted_proxies",
        )
        .into_response();
    }
    let asked = match original(headers) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let user = match crate::pages::session_cookie(state).get(headers) {
        Some(token) => state.service.gate(&token).await.ok(),
        None => None,
    };
    let subject = user.as_ref().map(|u| Subject {
        email: &u.email,
        groups: &u.groups,
        two_step: u.two_step(),
    });
    let (decision, _) = state
        .options
        .access
        .decide(asked.host(), asked.path, subject.as_ref());
    match decision {
        Decision::Allow => allowed(user.as_deref()),
        Decision::Deny => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the access rules do not let this request through",
        )
        .into_response(),
        Decision::SignIn => away(state, &asked, headers, style, "/login?rd="),
        // Signed in with the password alone where the app wants two steps: an account with
        // two-step signs in again (with it); one without is asked to turn it on first.
        Decision::SecondStep => match user.as_deref() {
            Some(u) if u.two_step_on => away(state, &asked, headers, style, "/login?renew=1&rd="),
            _ => away(
                state,
                &asked,
                headers,
                style,
                "/settings/security?done=two-step-needed&rd=",
            ),
        },
    }
}

/// 200, with who it is. The four headers are always there, empty for a request let through
/// without a session (a `bypass` rule): a proxy that copies them then overwrites whatever the
/// client sent with nothing (Caddy before 2.7 copies a missing header as its placeholder's
/// literal text, `{http.reverse_proxy.header.Remote-User}`).
fn allowed(user: Option<&GateUser>) -> Response {
    let mut response = StatusCode::OK.into_response();
    let (email, groups) = match user {
        Some(user) => (user.email.as_str(), user.groups_header.as_str()),
        None => ("", ""),
    };
    let name = email.split('@').next().unwrap_or_default();
    let h = response.headers_mut();
    for (key, value) in [
        ("remote-user", email),
        ("remote-email", email),
        ("remote-name", name),
        ("remote-groups", groups),
    ] {
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            h.insert(HeaderName::from_static(key), v);
        }
    }
    response
}

/// Sends the browser to `page` on nidan (which ends in `rd=`), with the original URL.
fn away(
    state: &AppState,
    request: &Original<'_>,
    headers: &HeaderMap,
    style: Style,
    page: &str,
) -> Response {
    let Some(url) = request.url() else {
        return ApiError::bad_request("the original URL the proxy sent is not an http(s) URL")
            .into_response();
    };
    let location = format!(
        "{}{}{}",
        state.options.public_url,
        page,
        utf8_percent_encode(&url, NON_ALPHANUMERIC)
    );
    let Ok(location) = HeaderValue::from_str(&location) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
            .into_response();
    };
    if style == Style::Redirect && wants_page(request.method, headers) {
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first").into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
}
