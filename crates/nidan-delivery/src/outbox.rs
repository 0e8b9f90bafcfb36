//! The outbox: the channel of last resort and the default. Every message that no real channel
//! sends is appended, one JSON object a line, to `outbox.jsonl` in the data directory
//! (`{"at", "channel", "to", "subject"?, "body"}`), so `nidan serve` works out of the box and a
//! developer can read the codes.
//!
//! The file holds live codes, so it is created with mode 0600 (and tightened if it was looser).
//! Writes are serialised by a mutex and each line goes out in one `write` on an append-mode file,
//! so concurrent sends never interleave. The log line names the channel, a masked recipient and
//! the subject, never the body: the body holds the code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nidan_service::Clock;
use nidan_service::courier::{Channel, DeliveryError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::mask::mask_recipient;

/// The outbox file's name inside the data directory.
pub const FILE_NAME: &str = "outbox.jsonl";

/// One line of the outbox.
#[derive(serde::Serialize)]
struct Entry<'a> {
    at: String,
    channel: Channel,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    body: &'a str,
}

/// Appends messages to `<data_dir>/outbox.jsonl`.
pub(crate) struct Outbox {
    path: PathBuf,
    lock: Mutex<()>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// An outbox in `data_dir` (the file is created on the first message).
    pub(crate) fn new(data_dir: &Path, clock: Arc<dyn Clock>) -> Outbox {
        Outbox {
            path: data_dir.join(FILE_NAME),
            lock: Mutex::new(()),
            clock,
        }
    }

    /// Where the file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one message and logs it (without the body).
    pub(crate) async fn write(
        &self,
        channel: Channel,
        to: &str,
        subject: Option<&str>,
        body: &str,
    ) -> Result<(), DeliveryError> {
        let now = self.clock.now();
        let at = OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| now.to_string());
        let entry = Entry {
            at,
            channel,
            to,
            subject,
            body,
        };
        let mut line = serde_json::to_vec(&entry)
            .map_err(|e| DeliveryError(format!("outbox: cannot encode the message: {e}")))?;
        line.push(b'\n');

        let _guard = self.lock.lock().await;
        self.append(&line).await.map_err(|e| {
            DeliveryError(format!("outbox: cannot write {}: {e}", self.path.display()))
        })?;
        let channel_name = match channel {
            Channel::Email => "email",
            Channel::Sms => "sms",
        };
        tracing::info!(
            channel = channel_name,
            to = %mask_recipient(to),
            subject = subject.unwrap_or(""),
            "message written to the outbox"
        );
        Ok(())
    }

    async fn append(&self, line: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&self.path).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata().await?.permissions().mode();
            if mode & 0o077 != 0 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .await?;
            }
        }
        file.write_all(line).await?;
        file.flush().await?;
        Ok(())
    }
}

/// Every message in an outbox file, oldest first; lines that are not JSON are skipped and a
/// missing file reads as empty. Meant for tests and tools, not for the serving path.
pub fn read_all(path: impl AsRef<Path>) -> Vec<serde_json::Value> {
    let Ok(content) = std::fs::read_to_string(path.as_ref()) else {
        return Vec::new();
    };
    content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
