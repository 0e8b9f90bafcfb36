//! SQLite backend: one file under the data directory, WAL mode.
//!
//! SQLite allows one writer at a time, so every write goes to one writer thread that commits
//! waiting writes together, and reads run on the caller's thread from a pool that WAL lets run
//! alongside the writer (see `engine.rs` for why this is not an async driver).
//! `synchronous = NORMAL` with WAL keeps every committed transaction across a crash of the
//! process (kill -9); only a power loss can drop the last commits, never corrupt the file.
//!
//! Migrations still run through sqlx's migrator (one short-lived connection at start), so the
//! `_sqlx_migrations` bookkeeping of existing databases stays as it is.

mod checkpoint;
mod codes;
mod engine;
mod import;
mod reads;
mod rows;
mod store_impl;
mod transactions;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::StoreOptions;
use crate::error::OpenError;
use engine::Engine;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    engine: Arc<Engine>,
    url: String,
    options: StoreOptions,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let path = engine::path_of(url)?;
        let timeout = options.connect_timeout;
        let engine = tokio::task::spawn_blocking(move || Engine::open(path, timeout))
            .await
            .map_err(|e| OpenError::Connect(format!("opening the database: {e}")))??;
        Ok(Self {
            engine,
            url: url.to_owned(),
            options: options.clone(),
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let connect = SqliteConnectOptions::from_str(&self.url)
            .map_err(|e| OpenError::Connect(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(self.options.connect_timeout)
            .foreign_keys(true);
        let mut conn = SqliteConnection::connect_with(&connect)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let before = applied(&mut conn).await;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let ran = applied(&mut conn).await.saturating_sub(before);
        let _ = conn.close().await;
        Ok(ran)
    }
}

async fn applied(conn: &mut SqliteConnection) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
        .fetch_one(conn)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}
