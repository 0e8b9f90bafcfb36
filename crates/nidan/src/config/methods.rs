//! `[methods]`: which second-step methods people may enrol. Email codes are weaker than the
//! others (NIST SP 800-63B rev. 4 does not accept email as an out-of-band channel) and SMS is
//! "restricted"; an operator who does not want them turns them off here.

use nidan_domain::Method;

use super::ConfigError;
use super::source::{Sources, invalid};

/// `[methods]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodsConfig {
    /// Methods people may enrol: any of `webauthn`, `totp`, `sms`, `email` (default all four). Turning one
    /// off stops new enrolments; what is already enrolled keeps working, so a config change
    /// locks nobody out.
    pub enabled: Vec<Method>,
}

pub(super) fn build_methods(src: &Sources) -> Result<MethodsConfig, ConfigError> {
    let Some(names) = src.list("methods.enabled")? else {
        return Ok(MethodsConfig {
            enabled: vec![Method::Webauthn, Method::Totp, Method::Sms, Method::Email],
        });
    };
    let mut enabled = Vec::new();
    for name in names {
        let method = match name.trim().to_ascii_lowercase().as_str() {
            "webauthn" => Method::Webauthn,
            "totp" => Method::Totp,
            "sms" => Method::Sms,
            "email" => Method::Email,
            _ => {
                return Err(invalid(
                    "methods.enabled",
                    format!("`{name}` is not one of webauthn, totp, sms, email"),
                ));
            }
        };
        if !enabled.contains(&method) {
            enabled.push(method);
        }
    }
    if enabled.is_empty() {
        return Err(invalid(
            "methods.enabled",
            "at least one of webauthn, totp, sms, email must stay on",
        ));
    }
    Ok(MethodsConfig { enabled })
}
