//! Checks for settings whose values need more than a range: URLs and the TOTP issuer.

use super::ConfigError;
use super::redact::redact_url;
use super::source::invalid;

pub(super) fn check_database_url(url: String) -> Result<String, ConfigError> {
    let ok = ["sqlite://", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if ok {
        Ok(url)
    } else {
        Err(invalid(
            "database.url",
            format!(
                "`{}` must start with sqlite://, postgres:// or postgresql://",
                redact_url(&url)
            ),
        ))
    }
}

pub(super) fn check_smtp_url(url: String) -> Result<String, ConfigError> {
    let ok = ["smtp://", "smtps://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if ok && !url.chars().any(char::is_whitespace) {
        Ok(url)
    } else {
        Err(invalid(
            "email.smtp_url",
            format!(
                "`{}` must look like smtp://host:port or smtps://user:password@host",
                redact_url(&url)
            ),
        ))
    }
}

/// Checks an `http://` or `https://` URL with a host (a simple check: scheme, non-empty host,
/// numeric port if any, no whitespace) and returns it without a trailing `/`.
pub(super) fn check_http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let bad = || {
        invalid(
            key,
            format!(
                "`{}` is not an http:// or https:// URL with a host",
                redact_url(url)
            ),
        )
    };
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url["http://".len()..]
    } else if lower.starts_with("https://") {
        &url["https://".len()..]
    } else {
        return Err(bad());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err(bad()),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub(super) fn check_issuer(issuer: &str) -> Result<(), ConfigError> {
    let len = issuer.chars().count();
    let problem = if !(1..=64).contains(&len) {
        format!("must be 1 to 64 characters, not {len}")
    } else if issuer.contains(':') {
        format!("`{issuer}` must not contain `:` (it would break the otpauth:// label)")
    } else if issuer.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(invalid("totp.issuer", problem))
}
