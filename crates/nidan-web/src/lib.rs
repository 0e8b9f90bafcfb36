//! nidan's HTTP layer (stub: replaced by the real router in the next commit; the signature of
//! [`app`] and [`WebOptions`] is stable).

use std::net::IpAddr;

use axum::Router;
use nidan_service::Service;

/// HTTP-level settings.
#[derive(Clone, Debug, Default)]
pub struct WebOptions {
    /// Peers whose `X-Forwarded-For` is believed: (network address, prefix length).
    pub trusted_proxies: Vec<(IpAddr, u8)>,
    /// Sign-in requests allowed per client IP per minute (0 = no limit).
    pub login_per_ip_per_minute: u32,
    /// Verify calls allowed per API key per minute (0 = no limit).
    pub verify_per_key_per_minute: u32,
    /// The public base URL (cookie `Secure` flag when https).
    pub public_url: String,
}

/// The whole HTTP surface. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn app(_service: Service, _options: WebOptions) -> Router {
    Router::new()
}
