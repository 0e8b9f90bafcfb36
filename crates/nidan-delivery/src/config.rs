//! What the binary hands the courier: where the data directory is, how to reach the mail server,
//! and which SMS provider to use. `Debug` never shows a secret (SMTP password, Twilio token,
//! webhook `Authorization`), because configs end up in start-up logs.

use std::fmt;
use std::path::PathBuf;

/// Delivery settings (`[email]`, `[sms]` and `data_dir` of the config file).
#[derive(Clone)]
pub struct DeliveryConfig {
    /// The data directory; the outbox is `<data_dir>/outbox.jsonl`.
    pub data_dir: PathBuf,
    /// `[email] smtp_url`; `None` sends email to the outbox. See the crate docs for the scheme.
    pub smtp_url: Option<String>,
    /// `[email] from`: `nidan <nidan@example.com>` or a bare address.
    pub email_from: String,
    /// `[sms]`.
    pub sms: SmsConfig,
}

/// How SMS codes leave nidan (`[sms] provider`).
#[derive(Clone, Default)]
pub enum SmsConfig {
    /// Written to the outbox file (the default).
    #[default]
    Outbox,
    /// POST `{"to", "body"}` as JSON to `url`.
    Webhook {
        /// Where to POST.
        url: String,
        /// Sent as the `Authorization` header when set (`Bearer …`). Secret.
        authorization: Option<String>,
    },
    /// The Twilio Messages REST API.
    Twilio {
        /// `AC…`; also the basic-auth user.
        account_sid: String,
        /// The basic-auth password. Secret.
        auth_token: String,
        /// The sending number (E.164) or messaging service sender.
        from: String,
        /// `https://api.twilio.com`, or another host speaking the same API.
        base_url: String,
    },
}

impl SmsConfig {
    /// The config spelling of the provider: `outbox`, `webhook` or `twilio`.
    pub fn provider(&self) -> &'static str {
        match self {
            SmsConfig::Outbox => "outbox",
            SmsConfig::Webhook { .. } => "webhook",
            SmsConfig::Twilio { .. } => "twilio",
        }
    }
}

/// A URL with its password (and query, which may hold a token) replaced by `***`; an
/// unparsable URL is hidden whole.
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

impl fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("data_dir", &self.data_dir)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_smtp_url))
            .field("email_from", &self.email_from)
            .field("sms", &self.sms)
            .finish()
    }
}

/// Like [`redact_url`] but keeps the query: `?tls=required` is no secret and matters when
/// reading a start-up log.
pub(crate) fn redact_smtp_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmsConfig::Outbox => f.write_str("Outbox"),
            SmsConfig::Webhook { url, authorization } => f
                .debug_struct("Webhook")
                .field("url", &redact_url(url))
                .field("authorization", &authorization.as_ref().map(|_| "***"))
                .finish(),
            SmsConfig::Twilio {
                account_sid,
                auth_token: _,
                from,
                base_url,
            } => f
                .debug_struct("Twilio")
                .field("account_sid", account_sid)
                .field("auth_token", &"***")
                .field("from", from)
                .field("base_url", &redact_url(base_url))
                .finish(),
        }
    }
}
