//! `[[webhooks]]`: where the security events go (name, url, events, secret), checked at start
//! with errors naming the entry. In the environment, `NIDAN_WEBHOOKS` holds the same as an inline
//! TOML array of tables.

use std::fmt;

use super::ConfigError;
use super::check::check_http_url;
use super::source::Sources;

/// The keys an entry may have.
const KEYS: [&str; 4] = ["name", "url", "events", "secret"];

/// One `[[webhooks]]` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// A name (letters, digits, `-`, `_`): where it is in the history is kept under it, so
    /// renaming one starts it afresh from the newest event.
    pub name: String,
    /// Where the events are POSTed (`http://` or `https://`).
    pub url: String,
    /// The event names it wants (`sign_in`, `second_step`, `method_added`, `support_reset`, …),
    /// or `["*"]` for all.
    pub events: Vec<String>,
    /// The HMAC-SHA256 key of `Nidan-Signature` (at least 16 characters). Secret.
    pub secret: String,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &super::redact::redact_url(&self.url))
            .field("events", &self.events)
            .field("secret", &super::redact::REDACTED)
            .finish()
    }
}

/// Reads `[[webhooks]]`.
pub(super) fn build(src: &Sources) -> Result<Vec<WebhookConfig>, ConfigError> {
    let tables = src.tables("webhooks")?.unwrap_or_default();
    let mut out: Vec<WebhookConfig> = Vec::with_capacity(tables.len());
    for (i, table) in tables.iter().enumerate() {
        let key = format!("webhooks[{}]", i + 1);
        let bad = |problem: String| ConfigError::Invalid {
            key: key.clone(),
            env: "NIDAN_WEBHOOKS".into(),
            problem,
        };
        if let Some(unknown) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown key `{unknown}` (a webhook has {})",
                KEYS.join(", ")
            )));
        }
        let text = |k: &str| -> Result<String, ConfigError> {
            match table.get(k) {
                Some(toml::Value::String(s)) => Ok(s.trim().to_owned()),
                Some(other) => Err(bad(format!(
                    "`{k}` must be a string, not {}",
                    other.type_str()
                ))),
                None => Err(bad(format!("`{k}` is missing"))),
            }
        };
        let name = text("name")?;
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(bad(format!(
                "name `{name}` must be 1 to 64 letters, digits, `-` or `_`"
            )));
        }
        if out.iter().any(|w| w.name == name) {
            return Err(bad(format!("another webhook is named `{name}`")));
        }
        let url = check_http_url(&key, &text("url")?)?;
        let secret = text("secret")?;
        if secret.chars().count() < 16 {
            return Err(bad("`secret` must be at least 16 characters".into()));
        }
        let events = match table.get("events") {
            Some(toml::Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    _ => Err(bad("`events` must list event names (or \"*\")".into())),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(bad(
                    "`events` must be a non-empty list of event names (or [\"*\"])".into(),
                ));
            }
        };
        out.push(WebhookConfig {
            name,
            url,
            events,
            secret,
        });
    }
    Ok(out)
}
