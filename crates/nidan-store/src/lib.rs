//! Storage for nidan: the `Store` port of `nidan-service`, on SQLite (rusqlite, one writer
//! thread) or PostgreSQL (sqlx, several nodes).
//!
//! The backend is chosen at run time from the database URL. Each store operation is written
//! once (`ops/`, over the one-connection-in-one-transaction trait of `db.rs`), each SQL
//! statement once (`sql!` turns PostgreSQL's `$N` into SQLite's `?N` at compile time), and the
//! `Store` port once (`store.rs`); per backend is only what really differs: SQLite's writer
//! engine and checkpoints, PostgreSQL's pool and retries, bulk import and the notice queue's
//! claims. Anything one-time or counted is settled by conditional updates inside one
//! transaction, so the database — not the memory of one process — decides who wins a race.
#![warn(missing_docs)]

mod account_check;
mod db;
mod error;
mod import_rows;
mod ops;
mod postgres;
mod records;
mod reworded;
mod send_caps;
mod sqlite;
mod store;

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
        sqlite::migrate(url, options).await?;
        Ok(Arc::new(store::Db(sqlite::open(url, options).await?)))
    } else if is_postgres(url) {
        let pg = postgres::open(url, options).await?;
        postgres::migrate(&pg).await?;
        Ok(Arc::new(store::Db(pg)))
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
        sqlite::migrate(url, options).await
    } else if is_postgres(url) {
        postgres::migrate(&postgres::open(url, options).await?).await
    } else {
        Err(OpenError::Unsupported(format!(
            "cannot migrate `{}`",
            redact_url(url)
        )))
    }
}

/// Copies the SQLite database named by `url` into the file `to`, consistent while a server
/// writes to it: SQLite's online backup API copies every page in one step, inside one read
/// snapshot (the WAL keeps writers going meanwhile, and the copy never restarts). The copy is
/// written beside `to` first and renamed into place once `PRAGMA integrity_check` passes on it,
/// readable by its owner only (it holds sealed seeds and keyed hashes; the key file is not in
/// it). PostgreSQL is backed up with its own tools (docs/deploy.md). Answers the copy's size.
pub fn backup_sqlite(url: &str, to: &std::path::Path) -> Result<u64, OpenError> {
    if !url.starts_with("sqlite:") {
        return Err(OpenError::Unsupported(
            "the backup command copies SQLite databases; back PostgreSQL up with pg_dump \
             (docs/deploy.md)"
                .into(),
        ));
    }
    sqlite::backup(url, to)
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
