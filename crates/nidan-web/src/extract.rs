//! Extractors: a handler only ever sees a verified identity and well-formed input.
//!
//! - [`ApiJson`]: JSON bodies with strict types (unknown fields refused); every rejection is a
//!   4xx in the API's error format, never axum's plain-text default.
//! - [`Session`]: `Authorization: Bearer <session token>`; cookies are never read by the API.
//! - [`AppKey`]: `Authorization: Bearer <api key>`.
//! - [`Client`]: the client's address (through trusted proxies only) and user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{
    ConnectInfo, FromRef, FromRequest, FromRequestParts, Request, rejection::JsonRejection,
};
use axum::http::{StatusCode, header, request::Parts};
use ipnet::IpNet;
use nidan_service::ClientInfo;
use nidan_service::ports::ApiKeyRecord;
use nidan_service::session::AuthContext;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body, strictly typed.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            payload_too_large()
        }
        JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
            "the body does not fit this call: {}",
            e.body_text()
        )),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// 413 in the API's format.
pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than 64 KiB",
    )
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 512)
        .then_some(token)
}

/// The signed-in user behind a session token.
pub struct Session(pub AuthContext);

impl<S: Send + Sync> FromRequestParts<S> for Session
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        Ok(Session(app.service.authenticate(token).await?))
    }
}

/// The app behind an API key.
pub struct AppKey(pub ApiKeyRecord);

impl<S: Send + Sync> FromRequestParts<S> for AppKey
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let key = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send the API key as `Authorization: Bearer <key>`",
            )
        })?;
        app.service
            .authenticate_api_key(key)
            .await
            .map(AppKey)
            .map_err(|e| match e {
                nidan_service::ServiceError::Unauthenticated => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "unknown or revoked API key",
                ),
                other => ApiError::from(other),
            })
    }
}

/// Who is calling.
pub struct Client(pub ClientInfo, pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Client
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let ip = client_ip(parts, &app.options.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect();
        Ok(Client(
            ClientInfo {
                ip: ip.to_string(),
                user_agent,
            },
            ip,
        ))
    }
}

/// The peer address, or — when the peer is a trusted proxy — the nearest address in
/// `X-Forwarded-For` that is not one of ours. From anyone else the header is ignored.
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !is_trusted_proxy(peer, trusted) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted_proxy(*ip, trusted))
        .unwrap_or(peer)
}

/// Whether `ip` is in one of the trusted proxies' networks — the one definition of the rule
/// (`[server] trusted_proxies` reaches it as `ipnet` networks, which do the prefix matching). An
/// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4
/// peer) is matched as the IPv4 address it carries; otherwise an address only matches networks
/// of its own family.
pub fn is_trusted_proxy(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&ip))
}

/// The language a request asks for (`Accept-Language`), English when none fits.
pub fn locale(headers: &axum::http::HeaderMap) -> nidan_service::courier::Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(nidan_service::courier::Locale::from_accept_language)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    #[test]
    fn cidr_prefixes_match_as_expected() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.0/24"]);
        assert!(is_trusted_proxy(IpAddr::from([10, 9, 8, 7]), &trusted));
        assert!(is_trusted_proxy(IpAddr::from([192, 168, 1, 200]), &trusted));
        assert!(!is_trusted_proxy(IpAddr::from([192, 168, 2, 1]), &trusted));
        assert!(!is_trusted_proxy(IpAddr::from([11, 0, 0, 1]), &trusted));
    }

    #[test]
    fn prefixes_families_and_mapped_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let n = nets(&["10.1.0.0/16"]);
        assert!(is_trusted_proxy(ip("10.1.255.3"), &n));
        assert!(!is_trusted_proxy(ip("10.2.0.1"), &n));
        assert!(!is_trusted_proxy(ip("fd00::1"), &n));
        assert!(
            is_trusted_proxy(ip("::ffff:10.1.2.3"), &n),
            "IPv4-mapped peers match IPv4 networks"
        );
        assert!(is_trusted_proxy(ip("203.0.113.9"), &nets(&["0.0.0.0/0"])));
        assert!(is_trusted_proxy(ip("10.1.2.3"), &nets(&["10.1.2.3/32"])));
        assert!(!is_trusted_proxy(ip("10.1.2.4"), &nets(&["10.1.2.3/32"])));
        let v6 = nets(&["2001:db8::/32"]);
        assert!(is_trusted_proxy(ip("2001:db8:1::5"), &v6));
        assert!(!is_trusted_proxy(ip("2001:db9::5"), &v6));
        assert!(!is_trusted_proxy(ip("10.0.0.1"), &v6));
    }
}
