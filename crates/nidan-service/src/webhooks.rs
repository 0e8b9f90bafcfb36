//! The operator's webhooks (`[[webhooks]]`): every security event of the accounts' history that a
//! webhook asks for is POSTed to it as JSON, signed (`Nidan-Signature`, see
//! [`nidan_domain::webhook_signature`]), in order, at least once.
//!
//! Why a cursor over the history and not a queue of its own: every security event is already a
//! line of the `activity` table, written in the same transaction as what it records (the sign-in
//! check included). Each webhook keeps the id of the last line it delivered (`webhook_cursors`),
//! so nothing is lost across restarts or while a receiver is down, nothing is written on the
//! request path, and a request never waits for a receiver. A webhook added later starts from the
//! newest line, not from the whole history. Delivery runs in `serve`'s background loop; a failure
//! holds that webhook (never the others) and is retried after 5 s, doubling to 10 minutes. On
//! several nodes the cursor moves by compare-and-swap, so a line is delivered more than once only
//! when two nodes sent it at the same moment: receivers dedupe by `Nidan-Event-Id`.

use std::sync::Arc;

use async_trait::async_trait;
use nidan_domain::webhook_signature;
use serde_json::json;
use zeroize::Zeroizing;

use crate::Service;
use crate::ports::ActivityRecord;

/// Lines read per webhook per round.
const BATCH: u32 = 50;
/// First wait after a failure; doubles up to [`RETRY_MAX_SECS`].
const RETRY_FIRST_SECS: i64 = 5;
const RETRY_MAX_SECS: i64 = 600;

/// One `[[webhooks]]` entry.
#[derive(Clone)]
pub struct Webhook {
    /// Its name (the cursor's key; in logs).
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event names it wants (`sign_in`, `method_added`, …); `*` for all.
    pub events: Vec<String>,
    /// The HMAC key of the signature.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Webhook {
    fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// Sends one POST and says whether the receiver took it (a 2xx answer).
#[async_trait]
pub trait HookSender: Send + Sync + 'static {
    /// POSTs `body` (JSON) to `url` with `headers`; `Err` with the reason otherwise.
    async fn post(&self, url: &str, headers: &[(&str, String)], body: String)
    -> Result<(), String>;
}

/// The configured webhooks and how they are sent.
pub(crate) struct Hooks {
    hooks: Vec<Webhook>,
    sender: Arc<dyn HookSender>,
}

/// One event of an account's history as JSON: a webhook's body, and a line of
/// `nidan admin audit export`.
pub fn event_json(e: &ActivityRecord, email: &str) -> serde_json::Value {
    json!({
        "id": e.id.to_string(),
        "event": e.kind,
        "at": crate::notices::utc_text(e.at),
        "result": e.result,
        "user": {"id": e.user_id.as_str(), "email": email},
        "method": e.method,
        "ip": e.ip,
        "country": e.country,
        "user_agent": e.user_agent,
        "detail": e.detail,
    })
}

impl Service {
    /// Sets the webhooks, at start; later calls are ignored.
    pub fn with_webhooks(self, hooks: Vec<Webhook>, sender: Arc<dyn HookSender>) -> Self {
        if !hooks.is_empty() {
            let _ = self.inner.hooks.set(Hooks { hooks, sender });
        }
        self
    }

    /// Gives every new webhook its place (after the newest event), before the server takes
    /// requests: no event of this run is older than a webhook's start.
    pub async fn prepare_webhooks(&self) -> Result<(), crate::StoreError> {
        if let Some(hooks) = self.inner.hooks.get() {
            for hook in &hooks.hooks {
                self.store_ref().webhook_cursor(&hook.name).await?;
            }
        }
        Ok(())
    }

    /// One round of delivery for every webhook that is due (`serve` calls it every 5 s).
    pub async fn deliver_webhooks(&self) {
        let Some(hooks) = self.inner.hooks.get() else {
            return;
        };
        for hook in &hooks.hooks {
            if let Err(e) = self.deliver_webhook(hook, hooks.sender.as_ref()).await {
                tracing::warn!(webhook = %hook.name, error = %e, "webhook delivery failed; it will be retried");
            }
        }
    }

    async fn deliver_webhook(&self, hook: &Webhook, sender: &dyn HookSender) -> Result<(), String> {
        let now = self.now();
        let cursor = self
            .store_ref()
            .webhook_cursor(&hook.name)
            .await
            .map_err(|e| e.to_string())?;
        if cursor.next_at > now {
            return Ok(());
        }
        let lines = self
            .store_ref()
            .activity_between(0, i64::MAX, cursor.last_id, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let mut at = cursor.last_id;
        for (line, email) in &lines {
            if hook.wants(&line.kind) {
                let body = event_json(line, email).to_string();
                let sent_at = self.now();
                let headers = [
                    (
                        "nidan-signature",
                        webhook_signature(hook.secret.as_bytes(), sent_at, body.as_bytes()),
                    ),
                    ("nidan-event-id", line.id.to_string()),
                    ("nidan-event", line.kind.clone()),
                ];
                if let Err(why) = sender.post(&hook.url, &headers, body).await {
                    // What was delivered stays delivered; this line is tried again later.
                    self.advance(hook, cursor.last_id, at).await?;
                    let attempts = cursor.attempts + 1;
                    let wait = (RETRY_FIRST_SECS << (attempts - 1).min(10)).min(RETRY_MAX_SECS);
                    self.store_ref()
                        .webhook_failed(&hook.name, attempts, now + wait, &why)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Err(why);
                }
            }
            at = line.id;
        }
        self.advance(hook, cursor.last_id, at).await
    }

    async fn advance(&self, hook: &Webhook, from: i64, to: i64) -> Result<(), String> {
        if to == from {
            return Ok(());
        }
        let moved = self
            .store_ref()
            .advance_webhook(&hook.name, from, to)
            .await
            .map_err(|e| e.to_string())?;
        if !moved {
            tracing::info!(webhook = %hook.name, "another node delivered these events too");
        }
        Ok(())
    }
}
