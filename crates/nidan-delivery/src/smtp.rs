//! Email over SMTP with `lettre` (rustls, the system CA store). The URL scheme is in the crate
//! docs; this module parses it strictly, so a typo in `?tls=` stops the start instead of silently
//! sending codes in clear text.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use nidan_service::courier::DeliveryError;
use zeroize::Zeroizing;

use crate::messages::RenderedEmail;
use crate::retry::{Failure, describe, with_retries};

/// Connect, command and data timeout for one SMTP exchange.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// No TLS (`smtp://host`): only for a relay on the same host or a test server.
    Plain,
    /// STARTTLS, refusing to go on without it (`smtp://host?tls=required`).
    StartTlsRequired,
    /// STARTTLS when the server offers it (`smtp://host?tls=opportunistic`).
    StartTlsOpportunistic,
    /// TLS from the first byte (`smtps://host`).
    Implicit,
}

/// A parsed `[email] smtp_url`.
pub(crate) struct SmtpSettings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<Zeroizing<String>>,
}

fn bad(reason: impl std::fmt::Display) -> DeliveryError {
    DeliveryError(format!("[email] smtp_url: {reason}"))
}

/// Parses `smtp://[user:password@]host[:port][?tls=required|opportunistic|none]` (also
/// `?starttls=1`) and `smtps://[user:password@]host[:port]`.
pub(crate) fn parse_smtp_url(raw: &str) -> Result<SmtpSettings, DeliveryError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(format!("not a URL ({e})")))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if !(url.path().is_empty() || url.path() == "/") {
        return Err(bad("a path is not allowed"));
    }
    let mut tls: Option<String> = None;
    for (key, value) in url.query_pairs() {
        let value = value.to_ascii_lowercase();
        let wanted = match (key.as_ref(), value.as_str()) {
            ("tls", "required" | "starttls") => "required",
            ("tls", "opportunistic") => "opportunistic",
            ("tls", "none" | "off") => "none",
            ("starttls", "1" | "true" | "yes" | "required") => "required",
            ("starttls", "0" | "false" | "no") => "none",
            ("tls" | "starttls", other) => {
                return Err(bad(format!(
                    "`{key}={other}` is not `tls=required`, `tls=opportunistic`, `tls=none` or `starttls=1`"
                )));
            }
            (other, _) => return Err(bad(format!("unknown parameter `{other}`"))),
        };
        if tls.as_deref().is_some_and(|t| t != wanted) {
            return Err(bad("conflicting TLS parameters"));
        }
        tls = Some(wanted.to_owned());
    }
    let (security, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("none")) => (Security::Plain, 25),
        ("smtp", Some("required")) => (Security::StartTlsRequired, 587),
        ("smtp", Some("opportunistic")) => (Security::StartTlsOpportunistic, 587),
        ("smtps", None) => (Security::Implicit, 465),
        ("smtps", Some(_)) => {
            return Err(bad("`smtps://` is always TLS; drop the `tls` parameter"));
        }
        (scheme, _) => {
            return Err(bad(format!("scheme `{scheme}` is not `smtp` or `smtps`")));
        }
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad("the user or password is not UTF-8 once percent-decoded"))
    };
    let user = if url.username().is_empty() {
        None
    } else {
        Some(decode(url.username())?)
    };
    let password = match url.password() {
        Some(p) => Some(Zeroizing::new(decode(p)?)),
        None => None,
    };
    if user.is_some() != password.is_some() {
        return Err(bad(
            "give both user and password (`user:password@host`) or neither",
        ));
    }
    Ok(SmtpSettings {
        host,
        port: url.port().unwrap_or(default_port),
        security,
        user,
        password,
    })
}

/// Sends rendered emails through one SMTP server.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `smtp://host:port (starttls)`, for logs; no credentials.
    description: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.description)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Parses the `[email] from` setting.
pub(crate) fn parse_from(raw: &str) -> Result<Mailbox, DeliveryError> {
    raw.trim().parse::<Mailbox>().map_err(|e| {
        DeliveryError(format!(
            "[email] from: `{raw}` is not an email address ({e})"
        ))
    })
}

impl Mailer {
    /// A mailer for `smtp_url`, sending as `from`.
    pub(crate) fn new(smtp_url: &str, from: Mailbox) -> Result<Mailer, DeliveryError> {
        let settings = parse_smtp_url(smtp_url)?;
        let tls_parameters = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| bad(format!("cannot set up TLS: {}", describe(&e))))
        };
        let (tls, label) = match settings.security {
            Security::Plain => (Tls::None, "plain"),
            Security::StartTlsRequired => (Tls::Required(tls_parameters()?), "starttls"),
            Security::StartTlsOpportunistic => {
                (Tls::Opportunistic(tls_parameters()?), "starttls if offered")
            }
            Security::Implicit => (Tls::Wrapper(tls_parameters()?), "tls"),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            if settings.security == Security::Plain && !is_loopback(&settings.host) {
                tracing::warn!(
                    host = %settings.host,
                    "[email] smtp_url sends the SMTP password without TLS to a remote host; \
                     use `?tls=required` or `smtps://`"
                );
            }
            builder = builder
                .credentials(Credentials::new(user.clone(), password.to_string()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        let scheme = if settings.security == Security::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        Ok(Mailer {
            transport: builder.build(),
            from,
            description: format!("{scheme}://{}:{} ({label})", settings.host, settings.port),
        })
    }

    /// `smtp://host:port (starttls)`.
    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    /// Sends `email` to `to`, with up to `tries` tries.
    pub(crate) async fn send(
        &self,
        to: &str,
        email: &RenderedEmail,
        tries: usize,
    ) -> Result<(), DeliveryError> {
        let recipient: Mailbox = to.trim().parse().map_err(|_| {
            DeliveryError("smtp: the recipient is not a valid email address".into())
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(email.subject.clone())
            .message_id(None);
        // Without an HTML part (it could not be rendered) the text goes alone.
        let message = if email.html.is_empty() {
            builder.singlepart(SinglePart::plain(email.text.clone()))
        } else {
            builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
        }
        .map_err(|e| DeliveryError(format!("smtp: cannot build the message: {e}")))?;
        with_retries("smtp", tries, || async {
            match self.transport.send(message.clone()).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() || e.is_client() || e.is_tls() => {
                    Err(Failure::Permanent(describe(&e)))
                }
                Err(e) => Err(Failure::Transient(describe(&e))),
            }
        })
        .await
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = parse_smtp_url("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.security),
            ("127.0.0.1", 2525, Security::Plain)
        );
        assert!(s.user.is_none());

        let s = parse_smtp_url("smtp://me%40x.jp:p%3Ass@mail.example.com?tls=required").unwrap();
        assert_eq!(s.port, 587);
        assert_eq!(s.security, Security::StartTlsRequired);
        assert_eq!(s.user.as_deref(), Some("me@x.jp"));
        assert_eq!(s.password.as_deref().map(String::as_str), Some("p:ss"));

        let s = parse_smtp_url("smtp://mail.example.com:2587?starttls=1").unwrap();
        assert_eq!((s.port, s.security), (2587, Security::StartTlsRequired));
        let s = parse_smtp_url("smtp://mail.example.com?tls=opportunistic").unwrap();
        assert_eq!(s.security, Security::StartTlsOpportunistic);
        let s = parse_smtp_url("smtps://u:p@mail.example.com").unwrap();
        assert_eq!((s.port, s.security), (465, Security::Implicit));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (url, needle) in [
            ("http://mail.example.com", "scheme `http`"),
            ("smtp://mail.example.com?tls=yes", "tls=yes"),
            ("smtp://mail.example.com?foo=1", "unknown parameter `foo`"),
            ("smtps://mail.example.com?tls=required", "always TLS"),
            ("smtp://user@mail.example.com", "both user and password"),
            ("smtp://mail.example.com/x", "path"),
            ("mail.example.com", "not a URL"),
        ] {
            let err = parse_smtp_url(url).err().unwrap().0;
            assert!(err.contains(needle), "{url}: {err}");
            assert!(err.starts_with("[email] smtp_url"), "{err}");
        }
    }
}
