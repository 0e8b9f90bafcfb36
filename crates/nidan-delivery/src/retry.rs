//! Retries for codes: a user is waiting on the sign-in page, so a code gets a few quick tries
//! (3, with about 200 ms and then 800 ms between them) and then an honest error, rather than
//! hanging or failing on the first dropped connection. Only failures that may pass are retried
//! (connection errors, timeouts, 5xx, SMTP 4xx); a refusal (HTTP 4xx, SMTP 5xx) fails at once.

use std::future::Future;
use std::time::Duration;

use nidan_service::courier::DeliveryError;

/// Tries for a code.
pub(crate) const CODE_TRIES: usize = 3;

/// Pauses between tries: after the first failure, after the second.
const BACKOFF: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(800)];

/// How one try failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Might work next time (connection, timeout, server error).
    Transient(String),
    /// Will not work however often it is tried (refused, bad request).
    Permanent(String),
}

/// Runs `attempt` up to `tries` times, pausing between tries, until it succeeds or fails
/// permanently. The error names the last failure and how many tries were made.
pub(crate) async fn with_retries<F, Fut>(
    what: &str,
    tries: usize,
    mut attempt: F,
) -> Result<(), DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let tries = tries.max(1);
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(Failure::Permanent(reason)) => {
                return Err(DeliveryError(format!("{what}: {reason}")));
            }
            Err(Failure::Transient(reason)) if n >= tries => {
                let plural = if n == 1 { "try" } else { "tries" };
                return Err(DeliveryError(format!(
                    "{what}: {reason} (after {n} {plural})"
                )));
            }
            Err(Failure::Transient(reason)) => {
                tracing::debug!(what, attempt = n, %reason, "delivery failed; retrying");
                let pause = BACKOFF
                    .get(n - 1)
                    .or(BACKOFF.last())
                    .copied()
                    .unwrap_or_default();
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// An error and its sources, joined (`error sending request: connection refused`).
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}
