//! SMS through an HTTP gateway: a generic JSON webhook or the Twilio Messages REST API. Both are
//! plain HTTPS calls (reqwest, rustls, the system CA store) with a 10 s timeout and the code
//! retries of [`crate::retry`]. Redirects are not followed: a POST carrying a token must not be
//! replayed to wherever a gateway points. Gateway answers are not copied into errors or logs,
//! since they may echo the phone number or the body.

use std::sync::Arc;
use std::time::Duration;

use nidan_service::courier::DeliveryError;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use zeroize::Zeroizing;

use crate::config::{SmsConfig, redact_url};
use crate::retry::{Failure, describe, with_retries};

/// Timeout of one HTTP call (connect, send, answer).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The configured SMS gateway.
pub(crate) enum SmsTransport {
    /// Messages go to the outbox.
    Outbox,
    /// `POST {"to", "body"}` to a URL.
    Webhook {
        client: reqwest::Client,
        url: url::Url,
        authorization: Option<HeaderValue>,
    },
    /// Twilio's `Messages.json`.
    Twilio {
        client: reqwest::Client,
        url: url::Url,
        account_sid: String,
        auth_token: Zeroizing<String>,
        from: String,
    },
}

impl std::fmt::Debug for SmsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmsTransport::Outbox => f.write_str("Outbox"),
            SmsTransport::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("url", &redact_url(url.as_str()))
                .finish_non_exhaustive(),
            SmsTransport::Twilio {
                url, account_sid, ..
            } => f
                .debug_struct("Twilio")
                .field("url", &redact_url(url.as_str()))
                .field("account_sid", account_sid)
                .finish_non_exhaustive(),
        }
    }
}

pub(crate) fn http_client() -> Result<reqwest::Client, DeliveryError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| DeliveryError(format!("cannot set up TLS for HTTP calls: {e}")))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nidan/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DeliveryError(format!("cannot set up the HTTP client: {}", describe(&e))))
}

fn parse_http_url(setting: &str, raw: &str) -> Result<url::Url, DeliveryError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| DeliveryError(format!("[sms] {setting}: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(DeliveryError(format!(
            "[sms] {setting}: must be an http:// or https:// URL with a host"
        )));
    }
    Ok(url)
}

impl SmsTransport {
    /// The transport for `[sms]`; an error names the setting that is wrong.
    pub(crate) fn new(config: &SmsConfig) -> Result<SmsTransport, DeliveryError> {
        Ok(match config {
            SmsConfig::Outbox => SmsTransport::Outbox,
            SmsConfig::Webhook { url, authorization } => {
                let url = parse_http_url("url", url)?;
                let authorization = match authorization {
                    Some(a) => {
                        let mut value = HeaderValue::from_str(a.trim()).map_err(|_| {
                            DeliveryError(
                                "[sms] authorization: not a valid HTTP header value".into(),
                            )
                        })?;
                        value.set_sensitive(true);
                        Some(value)
                    }
                    None => None,
                };
                SmsTransport::Webhook {
                    client: http_client()?,
                    url,
                    authorization,
                }
            }
            SmsConfig::Twilio {
                account_sid,
                auth_token,
                from,
                base_url,
            } => {
                for (name, value) in [
                    ("account_sid", account_sid),
                    ("auth_token", auth_token),
                    ("from", from),
                ] {
                    if value.trim().is_empty() {
                        return Err(DeliveryError(format!(
                            "[sms] {name}: required for the twilio provider"
                        )));
                    }
                }
                let mut url = parse_http_url("base_url", base_url)?;
                url.path_segments_mut()
                    .map_err(|_| DeliveryError("[sms] base_url: cannot hold a path".into()))?
                    .pop_if_empty()
                    .extend([
                        "2010-04-01",
                        "Accounts",
                        account_sid.trim(),
                        "Messages.json",
                    ]);
                SmsTransport::Twilio {
                    client: http_client()?,
                    url,
                    account_sid: account_sid.trim().to_owned(),
                    auth_token: Zeroizing::new(auth_token.trim().to_owned()),
                    from: from.trim().to_owned(),
                }
            }
        })
    }

    /// `outbox`, `webhook` or `twilio`.
    pub(crate) fn provider(&self) -> &'static str {
        match self {
            SmsTransport::Outbox => "outbox",
            SmsTransport::Webhook { .. } => "webhook",
            SmsTransport::Twilio { .. } => "twilio",
        }
    }

    /// Sends `body` to `to` through the gateway, with up to `tries` tries. The outbox is the
    /// caller's business: here it is an error.
    pub(crate) async fn send(
        &self,
        to: &str,
        body: &str,
        tries: usize,
    ) -> Result<(), DeliveryError> {
        match self {
            SmsTransport::Outbox => Err(DeliveryError("sms: no gateway configured".into())),
            SmsTransport::Webhook {
                client,
                url,
                authorization,
            } => {
                let payload = serde_json::json!({ "to": to, "body": body });
                with_retries("sms webhook", tries, || {
                    let mut request = client.post(url.clone()).json(&payload);
                    if let Some(value) = authorization {
                        request = request.header(AUTHORIZATION, value.clone());
                    }
                    attempt(request)
                })
                .await
            }
            SmsTransport::Twilio {
                client,
                url,
                account_sid,
                auth_token,
                from,
            } => {
                let form = [("To", to), ("From", from.as_str()), ("Body", body)];
                with_retries("sms twilio", tries, || {
                    let request = client
                        .post(url.clone())
                        .basic_auth(account_sid, Some(auth_token.as_str()))
                        .form(&form);
                    attempt(request)
                })
                .await
            }
        }
    }
}

/// One HTTP try: 2xx is sent, 5xx and transport failures may pass, anything else is refused.
async fn attempt(request: reqwest::RequestBuilder) -> Result<(), Failure> {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() {
                Err(Failure::Transient(format!("the gateway answered {status}")))
            } else {
                Err(Failure::Permanent(format!("the gateway answered {status}")))
            }
        }
        Err(e) => {
            let transient = e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
            let reason = describe(&e.without_url());
            if transient {
                Err(Failure::Transient(reason))
            } else {
                Err(Failure::Permanent(reason))
            }
        }
    }
}
