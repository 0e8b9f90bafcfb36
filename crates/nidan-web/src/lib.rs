//! nidan's HTTP layer: the JSON API, the OpenAPI document, health and metrics.
//!
//! [`app`] builds the whole router, so tests drive exactly what production serves (in process
//! with `tower::ServiceExt::oneshot`, or over a socket). Handlers are thin: they parse (strictly,
//! in extractors), call one use case, and shape the answer; [`error::ApiError`] is the single
//! place that maps failures to status codes. No SQL here.
#![warn(missing_docs)]

pub mod access_log;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod qr;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use nidan_service::Service;

use crate::error::ApiError;

/// Request bodies larger than this are refused with 413 (api.md).
pub const BODY_LIMIT: usize = 64 * 1024;

/// HTTP-level settings.
#[derive(Clone, Debug, Default)]
pub struct WebOptions {
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Sign-in requests allowed per client IP per minute (0 = no limit).
    pub login_per_ip_per_minute: u32,
    /// Sign-ups allowed per client address (IPv6: per /64) per hour (0 = no limit).
    pub signup_per_ip_per_hour: u32,
    /// App calls allowed per API key per minute (0 = no limit).
    pub requests_per_key_per_minute: u32,
    /// Password reset requests per client address (IPv6: per /64) per hour (0 = no limit).
    pub password_resets_per_ip_per_hour: u32,
    /// The public base URL (cookie `Secure` flag when https).
    pub public_url: String,
    /// `[session] cookie_domain`: the session cookie is shared with the hosts under it.
    pub cookie_domain: Option<String>,
    /// `[access]`: the rules of forward-auth.
    pub access: nidan_domain::AccessRules,
    /// Where `rd` may send a browser.
    pub redirects: nidan_domain::Redirects,
    /// `[metrics] listen` is set: `/metrics` is served there ([`Routers::metrics`]), not on the
    /// public listener.
    pub metrics_apart: bool,
}

/// What every handler can reach. Every request clones it (axum hands each handler its own
/// copy), so it is one shared pointer: one reference count to touch instead of four.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`], shared by every request through its one pointer.
pub struct Shared {
    /// The use cases.
    pub service: Service,
    /// HTTP settings.
    pub options: WebOptions,
    /// The metrics registry and the web layer's series.
    pub metrics: metrics::Metrics,
    /// Coarse per-IP / per-key limits.
    pub limits: limits::Limits,
}

/// The whole HTTP surface. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so client addresses are known.
pub fn app(service: Service, options: WebOptions) -> Router {
    routers(service, options).public
}

/// The routers of one server, sharing their state.
pub struct Routers {
    /// Everything people, apps and proxies call (with `/metrics` unless
    /// [`WebOptions::metrics_apart`]).
    pub public: Router,
    /// `/metrics` alone, for a listener of its own.
    pub metrics: Router,
}

/// [`app`], and a router that serves only `/metrics` from the same registry.
pub fn routers(service: Service, options: WebOptions) -> Routers {
    let metrics = metrics::Metrics::new(&service);
    let metrics_apart = options.metrics_apart;
    let state = AppState(Arc::new(Shared {
        service,
        limits: limits::Limits::new(
            options.login_per_ip_per_minute,
            options.signup_per_ip_per_hour,
            options.requests_per_key_per_minute,
        )
        .with_password_resets(options.password_resets_per_ip_per_hour),
        options,
        metrics,
    }));
    let mut public = Router::new()
        .merge(routes::account::router())
        .merge(routes::authz::router())
        .merge(routes::oidc::router())
        .merge(routes::me::router())
        .merge(routes::two_step::router())
        .merge(routes::webauthn::router())
        .merge(routes::apps::router())
        .merge(routes::codes::router())
        .merge(routes::lifecycle::router())
        .merge(routes::ops::router())
        .merge(pages::router());
    if !metrics_apart {
        public = public.merge(routes::ops::metrics_router());
    }
    let public = public
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access_log::track,
        ))
        .layer(middleware::from_fn(headers_and_limits))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state.clone());
    let metrics = routes::ops::metrics_router()
        .fallback(not_found)
        .with_state(state);
    Routers { public, metrics }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Refuses oversized bodies up front (413 in the API's format, before anything is read) and
/// sets the headers every answer carries. API answers are never cached: many of them carry a
/// secret (a TOTP secret, recovery codes, a session or device token).
async fn headers_and_limits(request: Request, next: Next) -> Response {
    let too_large = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > BODY_LIMIT as u64);
    let mut response = if too_large {
        extract::payload_too_large().into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    // Room for the five below at once: growing the map one insert at a time was a fifth of the
    // allocations of a verification.
    h.reserve(5);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages set their own (self-only) policy; everything else gets the strictest one.
    h.entry(HeaderName::from_static("content-security-policy"))
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    response
}
