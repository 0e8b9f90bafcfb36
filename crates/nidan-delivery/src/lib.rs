//! Delivery of one-time codes and security notices: the `nidan-delivery` side of the service's
//! [`Courier`](nidan_service::courier::Courier) port.
//!
//! The service decides what to say; this crate says it in the user's language (English or
//! Japanese, see [`messages`]) and gets it out:
//!
//! - **Email** over SMTP (`lettre`, rustls with the system CA store, no OpenSSL) when
//!   `[email] smtp_url` is set, otherwise into the outbox.
//! - **SMS** through a JSON webhook or the Twilio Messages REST API (`reqwest`, rustls), or into
//!   the outbox (the default).
//! - **Operator webhooks** ([`HttpHookSender`]): signed security events POSTed over the same
//!   HTTP client.
//! - **The outbox** ([`outbox`]): `<data_dir>/outbox.jsonl`, mode 0600, one JSON object a line,
//!   so a fresh `nidan serve` works without any gateway and a developer can read the codes.
//!
//! # The `smtp_url` scheme
//!
//! | URL | connection | default port |
//! | --- | --- | --- |
//! | `smtp://host[:port]` | no TLS: for a relay on the same host or a test server | 25 |
//! | `smtp://host[:port]?tls=required` (or `?starttls=1`) | STARTTLS, refused without it | 587 |
//! | `smtp://host[:port]?tls=opportunistic` | STARTTLS when the server offers it | 587 |
//! | `smtps://host[:port]` | TLS from the first byte (implicit TLS) | 465 |
//!
//! Credentials go before the host, percent-encoded: `smtps://user%40example.com:pa%3Ass@host`.
//! They are sent with AUTH PLAIN or LOGIN. Any other parameter, a path, or a user without a
//! password is an error at start, naming the problem. A password over plain `smtp://` to a
//! non-loopback host is allowed (some networks need it) but logged as a warning.
//!
//! # Failures and retries
//!
//! A code is awaited by a user, so it gets 3 tries (pauses of ~200 ms and ~800 ms) on failures
//! that may pass (connection errors, timeouts, HTTP 5xx, SMTP 4xx), then an error the service
//! turns into 502 `delivery_failed`. A notice gets one try: the service's durable queue retries
//! it later. Every call has a 10 s timeout.
//!
//! # Secrets
//!
//! Codes appear only in message bodies (and in the outbox file, which is 0600). Logs name the
//! channel, a masked recipient and the subject, never a body; `Debug` of the config and of the
//! courier redacts the SMTP password, the Twilio token and the webhook `Authorization`.
#![warn(missing_docs)]

mod config;
mod mask;
pub mod messages;
mod metrics;
pub mod outbox;
mod retry;
mod sms;
mod smtp;
#[cfg(feature = "test-smtp")]
pub mod testing;
mod webhook;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use nidan_service::Clock;
use nidan_service::courier::{self, Channel, CodeMessage, DeliveryError, Notice};
use nidan_service::system::SystemClock;

pub use config::{DeliveryConfig, SmsConfig};
pub use mask::mask_recipient;
pub use webhook::HttpHookSender;

use metrics::DeliveryCounts;
use outbox::Outbox;
use retry::CODE_TRIES;
use sms::SmsTransport;
use smtp::Mailer;

/// Sends codes and notices by SMTP, SMS gateway or the outbox, as configured.
pub struct Courier {
    mailer: Option<Mailer>,
    sms: SmsTransport,
    outbox: Outbox,
    counts: DeliveryCounts,
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courier")
            .field("email", &self.mailer)
            .field("sms", &self.sms)
            .field("outbox", &self.outbox)
            .finish()
    }
}

impl Courier {
    /// A courier for `config`, stamping outbox lines with the system clock. An error names the
    /// setting that is wrong (`[email] smtp_url: …`, `[sms] url: …`).
    pub fn new(config: DeliveryConfig) -> Result<Courier, DeliveryError> {
        Courier::with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`Courier::new`], with the clock that stamps outbox lines.
    pub fn with_clock(
        config: DeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Courier, DeliveryError> {
        let from = smtp::parse_from(&config.email_from)?;
        let mailer = match config.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Some(Mailer::new(url, from)?),
            _ => None,
        };
        let sms = SmsTransport::new(&config.sms)?;
        Ok(Courier {
            mailer,
            sms,
            outbox: Outbox::new(&config.data_dir, clock),
            counts: DeliveryCounts::default(),
        })
    }

    /// Where the outbox file is (`<data_dir>/outbox.jsonl`).
    pub fn outbox_path(&self) -> &Path {
        self.outbox.path()
    }

    /// How email leaves: `smtp://host:port (starttls)` and the like, or `outbox`. No credentials.
    pub fn email_transport(&self) -> &str {
        self.mailer.as_ref().map_or("outbox", Mailer::description)
    }

    /// Deliveries so far by channel (`email`, `sms`) and result (`sent`, `failed`); all four
    /// rows, always in that order. Outbox writes count as sent.
    pub fn delivery_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.counts.snapshot()
    }

    async fn send_email(
        &self,
        to: &str,
        email: &messages::RenderedEmail,
        tries: usize,
    ) -> Result<(), DeliveryError> {
        match &self.mailer {
            Some(mailer) => mailer.send(to, email, tries).await,
            None => {
                self.outbox
                    .write(Channel::Email, to, Some(&email.subject), &email.text)
                    .await
            }
        }
    }

    fn record(
        &self,
        channel: Channel,
        what: &'static str,
        to: &str,
        result: &Result<(), DeliveryError>,
    ) {
        self.counts.record(channel, what, result.is_ok());
        let channel = match channel {
            Channel::Email => "email",
            Channel::Sms => "sms",
        };
        match result {
            Ok(()) => tracing::debug!(channel, what, to = %mask_recipient(to), "delivered"),
            Err(e) => tracing::warn!(
                channel,
                what,
                to = %mask_recipient(to),
                error = %e.0,
                "delivery failed"
            ),
        }
    }
}

#[async_trait]
impl courier::Courier for Courier {
    async fn send_code(&self, message: &CodeMessage) -> Result<(), DeliveryError> {
        let result = match message.channel {
            Channel::Email => {
                let email = messages::code_email(message);
                self.send_email(&message.to, &email, CODE_TRIES).await
            }
            Channel::Sms => {
                let body = messages::code_sms(message);
                match self.sms {
                    SmsTransport::Outbox => {
                        self.outbox
                            .write(Channel::Sms, &message.to, None, &body)
                            .await
                    }
                    _ => self.sms.send(&message.to, &body, CODE_TRIES).await,
                }
            }
        };
        self.record(message.channel, "code", &message.to, &result);
        result
    }

    async fn send_notice(&self, notice: &Notice) -> Result<(), DeliveryError> {
        let email = messages::notice_email(notice);
        let result = self.send_email(&notice.to, &email, 1).await;
        self.record(Channel::Email, "notice", &notice.to, &result);
        result
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.counts.register(registry);
    }

    fn sms_provider(&self) -> &'static str {
        self.sms.provider()
    }
}
