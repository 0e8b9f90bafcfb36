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

/// A new request id: this process's random prefix and a counter.
fn new_id() -> String {
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        if getrandom::fill(&mut bytes).is_err() {
            bytes = [0; 6];
        }
        data_encoding::HEXLOWER.encode(&bytes)
    });
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A request id as a proxy may pass it on.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Middleware: the request id, its span, the access line. When the access log is off (a level
/// above `info` for `nidan::access`), only the id is made: nothing else is read or formatted.
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let offered = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v));
    let id = match offered {
        Some(v)
            if request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .is_some_and(|c| is_trusted_proxy(c.0.ip(), &app.options.trusted_proxies)) =>
        {
            v.to_owned()
        }
        _ => new_id(),
    };
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
        let span = tracing::info_span!("request", request_id = %id);
        let started = Instant::now();
        let response = next.run(request).instrument(span).await;
        tracing::info!(
            target: "nidan::access",
            request_id = %id,
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            client = %client,
            "request"
        );
        response
    } else {
        next.run(request)
            .instrument(tracing::info_span!("request", request_id = %id))
            .await
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}
