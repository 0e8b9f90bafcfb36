//! SQLite backend: one file under the data directory, WAL mode.
//!
//! SQLite allows one writer at a time, so writes go through a pool of exactly one connection
//! (no lock contention, no SQLITE_BUSY between our own connections), and reads through a
//! separate pool that WAL lets run alongside it. `synchronous = NORMAL` with WAL keeps every
//! committed transaction across a crash of the process (kill -9); only a power loss can drop the
//! last commits, never corrupt the file.

mod codes;
mod import;
mod rows;
mod store_impl;
mod transactions;

use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreOptions;
use crate::error::OpenError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::Connect(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.connect_timeout)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self { writer, reader })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let before = applied(&self.writer).await;
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        Ok(applied(&self.writer).await.saturating_sub(before))
    }
}

async fn applied(pool: &SqlitePool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}
