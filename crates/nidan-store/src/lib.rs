//! Storage for nidan: the `Store` port of `nidan-service`, implemented with sqlx.
//!
//! The backend is chosen at run time from the database URL. Every implementation keeps the
//! same promise: anything one-time or counted is settled by conditional updates inside one
//! transaction, so the database — not the memory of one process — decides who wins a race.
#![warn(missing_docs)]

mod account_check;
mod error;
mod import_rows;
mod password_failures;
pub mod postgres;
mod send_caps;
mod sql;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use nidan_service::Store;

pub use error::OpenError;

/// How to connect.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections for reads (SQLite) or in total (PostgreSQL).
    pub max_connections: u32,
    /// How long to wait for a connection (from the pool, or a new one) before answering
    /// "unavailable".
    pub connect_timeout: Duration,
    /// Longest a single SQL statement may run (PostgreSQL `statement_timeout`); a statement that
    /// takes longer is cancelled and the request answered "unavailable".
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the store named by `url` and applies pending migrations.
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, OpenError> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open(url, options).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if is_postgres(url) {
        let store = postgres::PgStore::open(url, options).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        Err(OpenError::Unsupported(format!(
            "unknown database URL scheme in `{}`",
            redact_url(url)
        )))
    }
}

/// Applies pending migrations to the database named by `url`; returns how many ran.
pub async fn migrate(url: &str, options: &StoreOptions) -> Result<usize, OpenError> {
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open(url, options).await?;
        store.migrate().await
    } else if is_postgres(url) {
        let store = postgres::PgStore::open(url, options).await?;
        store.migrate().await
    } else {
        Err(OpenError::Unsupported(format!(
            "cannot migrate `{}`",
            redact_url(url)
        )))
    }
}

/// Whether `url` names a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
