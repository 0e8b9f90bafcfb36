//! Prometheus metrics with `prometheus-client` (the Prometheus project's own Rust client: typed
//! counters, gauges, histograms and label sets, and the text format), rendered at `/metrics`.
//!
//! The web layer's own series: requests by route, method and status; latency histograms by
//! route; verifications by path, method and result; codes sent by channel; throttled requests;
//! notices waiting. The service, the store and the couriers add theirs
//! ([`nidan_service::Service::register_metrics`]), and [`process`] the process's own under the
//! standard names.
//!
//! Labels are bounded: routes are the router's templates (`/api/v1/me/sessions/{id}`, or
//! `unmatched`), never raw paths, and methods are the seven standard ones or `other`, so a
//! client cannot blow up the label space. Every other label comes from a fixed set of names.

mod process;

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use nidan_service::{Service, ServiceError};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

/// Request latency buckets, in seconds: 0.5 ms to 2.5 s.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A route template (or none: `unmatched`), kept as the router's own shared string so that
/// counting a request copies no text.
#[derive(Clone, Debug)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: Route,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerificationLabels {
    path: &'static str,
    method: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    channel: &'static str,
    result: &'static str,
}

/// Makes each route's latency histogram.
#[derive(Clone, Copy, Debug)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(BUCKETS)
    }
}

/// The registry and the web layer's series.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, LatencyBuckets>,
    verifications: Family<VerificationLabels, Counter>,
    codes: Family<CodeLabels, Counter>,
    throttled: Counter,
    notices_waiting: Gauge,
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
    /// The registry with every series: the web layer's, `service`'s (and through it the
    /// store's and the couriers'), and the process's.
    pub fn new(service: &Service) -> Self {
        let mut metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
            verifications: Family::default(),
            codes: Family::default(),
            throttled: Counter::default(),
            notices_waiting: Gauge::default(),
        };
        metrics.registry.register(
            "nidan_http_requests",
            "HTTP requests by route template, method and status",
            metrics.requests.clone(),
        );
        metrics.registry.register(
            "nidan_http_request_duration_seconds",
            "Time to answer, by route template",
            metrics.latency.clone(),
        );
        metrics.registry.register(
            "nidan_verifications",
            "Code and password checks by path (sign_in, app, enrolment, password), method and result",
            metrics.verifications.clone(),
        );
        metrics.registry.register(
            "nidan_code_deliveries",
            "Codes asked for by email and SMS, by channel and result (sent, throttled, failed)",
            metrics.codes.clone(),
        );
        metrics.registry.register(
            "nidan_throttled_requests",
            "Requests answered 429",
            metrics.throttled.clone(),
        );
        metrics.registry.register(
            "nidan_notices_waiting",
            "Security notices queued for email and not yet sent (read at each scrape)",
            metrics.notices_waiting.clone(),
        );
        service.register_metrics(&mut metrics.registry);
        metrics
            .registry
            .register_collector(Box::new(process::Process));
        metrics
    }

    /// Counts a verification.
    pub fn verification(&self, path: &'static str, method: &'static str, result: &'static str) {
        self.verifications
            .get_or_create(&VerificationLabels {
                path,
                method,
                result,
            })
            .inc();
    }

    /// Counts a verification from a use-case result.
    pub fn verification_result<T>(
        &self,
        path: &'static str,
        method: &'static str,
        result: &Result<T, ServiceError>,
    ) {
        let label = match result {
            Ok(_) => "success",
            Err(e) => error_result(e),
        };
        self.verification(path, method, label);
    }

    /// Counts a code delivery (sent, throttled, failed) by channel.
    pub fn delivery<T>(&self, channel: &'static str, result: &Result<T, ServiceError>) {
        let result = match result {
            Ok(_) => "sent",
            Err(ServiceError::DeliveryFailed) => "failed",
            Err(ServiceError::RateLimited { .. }) => "throttled",
            Err(_) => return,
        };
        self.codes
            .get_or_create(&CodeLabels { channel, result })
            .inc();
    }

    fn request(&self, route: Route, method: &'static str, status: u16, seconds: f64) {
        let labels = RouteLabel { route };
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                route: labels.route,
                method,
                status,
            })
            .inc();
        if status == 429 {
            self.throttled.inc();
        }
    }

    /// The text exposition format, after reading what is read at each scrape.
    pub async fn render(&self, service: &Service) -> String {
        match service.notices_waiting().await {
            Ok(n) => {
                self.notices_waiting
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count the waiting notices"),
        }
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "metrics: cannot encode the registry");
        }
        out
    }
}

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

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

/// Runs the request, timed and counted (inside the request-id middleware, as one layer).
pub async fn timed(app: &AppState, request: Request, next: Next) -> Response {
    let route = Route(request.extensions().get::<MatchedPath>().cloned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics.request(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
