//! The delivery port: how codes and security notices leave nidan (email, SMS, or the outbox).
//!
//! The service decides *what* to say (a typed [`CodeMessage`] or [`Notice`], with the
//! recipient's language); the courier renders it (templates in Japanese and English) and
//! delivers it, retrying a few times. Codes are sent while the request waits, so a failure can be
//! reported (502 `delivery_failed`); notices go through a durable queue so that neither a restart
//! nor a mail-server outage loses one, and never block the request that caused them.

use async_trait::async_trait;
use nidan_domain::Method;
use zeroize::Zeroizing;

use crate::UnixTime;

/// The language of a message.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl Locale {
    /// `en` or `ja`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ja => "ja",
        }
    }

    /// Parses `en`/`ja` (case-insensitive, region ignored: `ja-JP` is Japanese).
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "ja" => Some(Locale::Ja),
            _ => None,
        }
    }

    /// The best match for an `Accept-Language` header, by quality; English when nothing fits.
    pub fn from_accept_language(header: &str) -> Locale {
        let mut best: Option<(f32, Locale)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|v| v.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            if let Some(locale) = Locale::parse(tag).filter(|_| best.is_none_or(|(bq, _)| q > bq)) {
                best = Some((q, locale));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

/// The channel a message goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email.
    Email,
    /// SMS.
    Sms,
}

impl Channel {
    /// `email` or `sms`, as stored and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Why a code is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodePurpose {
    /// The second step of a sign-in.
    SignIn,
    /// Confirming a new email address or phone number for codes.
    Enrolment,
    /// A sign-in from outside the operator's home countries (the code asked for even without
    /// two-step; see `[risk]`).
    NewCountry,
    /// Confirming a new sign-in email.
    NewSignInEmail,
    /// A password reset: the message's `code` is the reset link (as secret as a code).
    PasswordReset,
}

/// A one-time code to deliver now.
pub struct CodeMessage {
    /// Email or SMS.
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub to: String,
    /// The code (6 digits), or the link of a password reset. Never logged.
    pub code: Zeroizing<String>,
    /// Why it is sent (changes the wording).
    pub purpose: CodePurpose,
    /// The recipient's language.
    pub locale: Locale,
    /// The operator's name for the service (`[totp] issuer`): `[<issuer>] Verification code`.
    pub issuer: String,
    /// Minutes the code stays valid.
    pub valid_minutes: u32,
}

impl std::fmt::Debug for CodeMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeMessage")
            .field("channel", &self.channel)
            .field("purpose", &self.purpose)
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

/// What happened, for a security notice to the account's email address. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    /// A method was added.
    MethodAdded {
        /// Which.
        method: String,
        /// A masked hint (`+81 ***-****-5678`, `t***@example.com`), when there is one.
        hint: Option<String>,
    },
    /// A method was removed.
    MethodRemoved {
        /// Which.
        method: String,
        /// A masked hint.
        hint: Option<String>,
    },
    /// Two-step verification was turned temporarily off (until a time, when it turns back on
    /// by itself, or until turned on).
    TwoStepOff {
        /// When it turns back on by itself.
        #[serde(default)]
        until: Option<UnixTime>,
    },
    /// Two-step verification turned back on by itself: the time it was off for ended.
    TwoStepBackOn,
    /// Support turned two-step verification off for a while, methods kept.
    SupportTwoStepOff {
        /// The reason support gave.
        reason: String,
        /// When it turns back on by itself.
        until: UnixTime,
    },
    /// Support disabled the account.
    AccountDisabled {
        /// The reason support gave.
        reason: String,
    },
    /// Support enabled the account again.
    AccountEnabled,
    /// An app had a code sent to the account for the first time.
    AppSentCode {
        /// The app's name (its API key's).
        app: String,
        /// `sms` or `email`.
        method: String,
    },
    /// Two-step verification was turned (back) on.
    TwoStepOn,
    /// Two-step verification was removed.
    TwoStepRemoved,
    /// A new set of recovery codes was made; the old set stopped working.
    RecoveryCodesRecreated,
    /// A recovery code was used.
    RecoveryCodeUsed {
        /// How many are left.
        left: u32,
    },
    /// A device was remembered.
    DeviceRemembered {
        /// Its label ("Firefox on Linux").
        device: String,
    },
    /// Support reset the account's two-step verification.
    SupportReset {
        /// The reason support gave.
        reason: String,
    },
    /// The right password was entered but no second step followed within 10 minutes.
    UnfinishedSignIn,
    /// The password was changed (by its owner, signed in).
    PasswordChanged,
    /// The password was set with a reset link.
    PasswordReset,
    /// The sign-in email was changed (sent to the old address).
    SignInEmailChanged {
        /// The new address, masked.
        hint: String,
    },
    /// The account was deleted (the last notice, to its address): by its owner, or by support
    /// with a reason.
    AccountDeleted {
        /// The reason support gave, when support deleted it.
        #[serde(default)]
        reason: Option<String>,
    },
}

/// A notice to send to an account's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Queue id.
    pub id: i64,
    /// Recipient (the account's sign-in email).
    pub to: String,
    /// Language.
    pub locale: Locale,
    /// The operator's name for the service.
    pub issuer: String,
    /// What happened.
    pub kind: NoticeKind,
    /// When it happened.
    pub at: UnixTime,
    /// Where from (client address), when known.
    pub ip: Option<String>,
    /// With what (user agent), when known.
    pub user_agent: Option<String>,
    /// Country of the client, when known (ISO 3166-1 alpha-2, or "unknown").
    pub country: Option<String>,
    /// How to reach support (a URL, or `mailto:` and an address), when the operator set it.
    pub support: Option<String>,
}

/// A delivery that failed after its retries.
#[derive(Debug, thiserror::Error)]
#[error("delivery failed: {0}")]
pub struct DeliveryError(pub String);

/// Sends codes and notices. Implemented in `nidan-delivery`.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    /// Delivers a code now (with a few retries and timeouts); an error after the retries.
    async fn send_code(&self, message: &CodeMessage) -> Result<(), DeliveryError>;
    /// Delivers one queued notice (one try; the queue retries later).
    async fn send_notice(&self, notice: &Notice) -> Result<(), DeliveryError>;
    /// Which SMS channel is configured (for logs and `/readyz`-like reporting): `outbox`, `webhook`, `twilio`.
    fn sms_provider(&self) -> &'static str;
    /// Adds the courier's series (deliveries by channel and result) to `registry`.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// Which methods a code channel belongs to.
pub fn channel_of(method: Method) -> Option<Channel> {
    match method {
        Method::Email => Some(Channel::Email),
        Method::Sms => Some(Channel::Sms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(
            Locale::from_accept_language("ja-JP,ja;q=0.9,en;q=0.8"),
            Locale::Ja
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR, en;q=0.5, ja;q=0.7"),
            Locale::Ja
        );
        assert_eq!(Locale::from_accept_language("de"), Locale::En);
        assert_eq!(Locale::from_accept_language(""), Locale::En);
        assert_eq!(Locale::parse("JA_jp"), Some(Locale::Ja));
    }
}
