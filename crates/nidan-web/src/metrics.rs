//! Prometheus metrics, kept in process and rendered in the text format at `/metrics`:
//! requests by route, method and status; latency histograms by route; verifications by path,
//! method and result; throttled requests.
//!
//! Labels are bounded: routes are the router's templates (`/api/v1/me/sessions/{id}`, or
//! `unmatched`), never raw paths, and methods are the seven standard ones or `other`, so a
//! client cannot blow up the label space.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use nidan_service::ServiceError;

use crate::AppState;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    verifications: Mutex<BTreeMap<(&'static str, String, String), u64>>,
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    throttled: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The result label for a failed use case.
pub fn error_result(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::InvalidCode { .. } => "invalid_code",
        ServiceError::RateLimited { .. } => "throttled",
        ServiceError::ChallengeExpired => "expired",
        ServiceError::InvalidRequest(_) => "malformed",
        ServiceError::Busy { .. } | ServiceError::Unavailable(_) => "unavailable",
        ServiceError::DeliveryFailed => "delivery_failed",
        _ => "error",
    }
}

impl Metrics {
    /// Counts a verification.
    pub fn verification(&self, path: &'static str, method: &str, result: &str) {
        *lock(&self.verifications)
            .entry((path, method.to_owned(), result.to_owned()))
            .or_insert(0) += 1;
    }

    /// Counts a verification from a use-case result.
    pub fn verification_result<T>(
        &self,
        path: &'static str,
        method: &str,
        result: &Result<T, ServiceError>,
    ) {
        let label = match result {
            Ok(_) => "success",
            Err(e) => error_result(e),
        };
        self.verification(path, method, label);
    }

    /// Counts a code delivery (sent, throttled, failed) by channel.
    pub fn delivery<T>(&self, channel: &str, result: &Result<T, ServiceError>) {
        let label = match result {
            Ok(_) => "sent",
            Err(ServiceError::DeliveryFailed) => "failed",
            Err(ServiceError::RateLimited { .. }) => "throttled",
            Err(_) => return,
        };
        *lock(&self.deliveries)
            .entry((channel.to_owned(), label))
            .or_insert(0) += 1;
    }

    fn request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        *lock(&self.requests)
            .entry((route.to_owned(), method, status))
            .or_insert(0) += 1;
        let mut latency = lock(&self.latency);
        let h = latency.entry(route.to_owned()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition format, with the service's own counters.
    pub fn render(&self, service: &nidan_service::Service) -> String {
        let mut out = String::new();
        out.push_str("# HELP nidan_http_requests_total HTTP requests by route template, method and status.\n# TYPE nidan_http_requests_total counter\n");
        for ((route, method, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "nidan_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP nidan_http_request_duration_seconds Time to answer, by route template.\n# TYPE nidan_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "nidan_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "nidan_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "nidan_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "nidan_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP nidan_verifications_total Code and password checks by path (sign_in, app, enrolment, password), method and result.\n# TYPE nidan_verifications_total counter\n");
        for ((path, method, result), n) in lock(&self.verifications).iter() {
            let _ = writeln!(
                out,
                "nidan_verifications_total{{path=\"{path}\",method=\"{method}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP nidan_code_deliveries_total Codes sent by email and SMS, by channel and result (sent, throttled, failed).\n# TYPE nidan_code_deliveries_total counter\n");
        for ((channel, result), n) in lock(&self.deliveries).iter() {
            let _ = writeln!(
                out,
                "nidan_code_deliveries_total{{channel=\"{channel}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP nidan_throttled_requests_total Requests answered 429.\n# TYPE nidan_throttled_requests_total counter\n");
        let _ = writeln!(
            out,
            "nidan_throttled_requests_total {}",
            self.throttled.load(Ordering::Relaxed)
        );
        out.push_str("# HELP nidan_send_caps_hit_total Codes refused by a sending limit, by limit (interval, account, destination, unconfirmed_account, unconfirmed_client, unconfirmed_global).\n# TYPE nidan_send_caps_hit_total counter\n");
        for (cap, n) in service.send_caps_hit() {
            let _ = writeln!(out, "nidan_send_caps_hit_total{{cap=\"{cap}\"}} {n}");
        }
        out.push_str("# HELP nidan_password_limit_refusals_total Sign-ins refused by the per-account limit on wrong passwords.\n# TYPE nidan_password_limit_refusals_total counter\n");
        let _ = writeln!(
            out,
            "nidan_password_limit_refusals_total {}",
            service.password_limit_hits()
        );
        out
    }
}

/// The method label: one of the standard methods, or `other` for anything a client invents (the
/// label set stays fixed whatever is sent).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    [
        M::GET,
        M::HEAD,
        M::POST,
        M::PUT,
        M::DELETE,
        M::PATCH,
        M::OPTIONS,
    ]
    .into_iter()
    .zip(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    .find(|(m, _)| m == method)
    .map_or("other", |(_, label)| label)
}

/// Middleware: times and counts every request.
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics.request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
