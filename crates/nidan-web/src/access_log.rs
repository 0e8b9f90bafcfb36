//! Request ids and the access log.
//!
//! Every request gets an id: the `X-Request-Id` a trusted proxy sent (when it is 1 to 64
//! letters, digits, `-`, `_` or `.`), or a new one (a random prefix chosen at start and a
//! counter: unique, and cheaper than randomness per request). It is answered in `X-Request-Id`
//! and carried by a tracing span around the request, so every log line the request causes names
//! it. When the request is done one line goes to the target `nidan::access` (at `info`): method,
//! route template (never the raw path, which may carry tokens in a query), status, duration,
//! client address and request id; as JSON with `log.format = "json"`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::AppState;
use crate::extract::{client_ip, is_trusted_proxy};

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

static PREFIX: OnceLock<String> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new request id: this process's random prefix and a counter, written into the header
/// value directly (it is made for every request: no `format!`, no second copy).
fn new_id() -> HeaderValue {
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        if getrandom::fill(&mut bytes).is_err() {
            bytes = [0; 6];
        }
        data_encoding::HEXLOWER.encode(&bytes)
    });
    let mut counter = itoa::Buffer::new();
    let counter = counter.format(NEXT.fetch_add(1, Ordering::Relaxed));
    let mut id = [0u8; 12 + 1 + 20];
    let (p, c) = (prefix.len(), counter.len());
    id[..p].copy_from_slice(prefix.as_bytes());
    id[p] = b'-';
    id[p + 1..p + 1 + c].copy_from_slice(counter.as_bytes());
    HeaderValue::from_bytes(&id[..p + 1 + c]).unwrap_or(HeaderValue::from_static("-"))
}

/// A request id as a proxy may pass it on.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Middleware: the request id, its span, the access line, and inside them the request's
/// metrics (one layer: each layer of its own clones the services below it for every request).
/// When the access log is off (a level above `info` for `nidan::access`), only the id is made:
/// nothing else is read or formatted.
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let offered = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(acceptable));
    let id = match offered {
        Some(v)
            if request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|c| is_trusted_proxy(c.0.ip(), &app.options.trusted_proxies)) =>
        {
            v.clone()
        }
        _ => new_id(),
    };
    // Only read where a span or the access line is recorded.
    let text = || id.to_str().unwrap_or_default();
    let mut response = if tracing::enabled!(target: "nidan::access", tracing::Level::INFO) {
        let (parts, body) = request.into_parts();
        let client = client_ip(&parts, &app.options.trusted_proxies);
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_owned();
        let method = parts.method.clone();
        let request = Request::from_parts(parts, body);
        let span = tracing::info_span!("request", request_id = %text());
        let started = Instant::now();
        let response = crate::metrics::timed(&app, request, next)
            .instrument(span)
            .await;
        tracing::info!(
            target: "nidan::access",
            request_id = %text(),
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            client = %client,
            "request"
        );
        response
    } else {
        crate::metrics::timed(&app, request, next)
            .instrument(tracing::info_span!("request", request_id = %text()))
            .await
    };
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
