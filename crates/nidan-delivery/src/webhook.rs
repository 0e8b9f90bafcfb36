//! The operator's webhooks, sent: one POST per event with the signature headers the service
//! made, over the same HTTP client as SMS (rustls with the system CA store, 10 s timeouts, no
//! redirects followed). A 2xx answer is a delivery; anything else is retried by the service.

use async_trait::async_trait;
use nidan_service::webhooks::HookSender;

use crate::sms::http_client;

/// POSTs webhook events.
pub struct HttpHookSender {
    client: reqwest::Client,
}

impl HttpHookSender {
    /// A sender; fails when TLS cannot be set up.
    pub fn new() -> Result<HttpHookSender, nidan_service::courier::DeliveryError> {
        Ok(HttpHookSender {
            client: http_client()?,
        })
    }
}

#[async_trait]
impl HookSender for HttpHookSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<(), String> {
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let answer = req.body(body).send().await.map_err(|e| {
            format!(
                "could not reach the receiver: {}",
                crate::retry::describe(&e)
            )
        })?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }
}
