//! PostgreSQL backend: for several nidan nodes on one database.
//!
//! Why it is shaped this way: with several nodes, the database is the only place that can decide
//! a race, so every one-time or counted operation is one transaction that settles it there.
//!
//! - Transactions run at READ COMMITTED. Each one that reads-then-writes an account's state
//!   (`settle_attempt`, `issue_code`, enrolment and removal of methods, …) first takes the row lock
//!   of the account (`SELECT … FOR NO KEY UPDATE` on `users`), so concurrent attempts and sends for
//!   one account queue up behind each other on every node, and every later statement of the
//!   transaction sees what the previous holder committed. `NO KEY UPDATE` rather than `UPDATE`:
//!   it serialises the same writers but does not block unrelated inserts that only reference the
//!   account (sessions, challenges). Taking the account lock first, always, also gives the
//!   transactions one lock order, so they do not deadlock each other.
//! - The conditional updates are the same as on SQLite (`failed_attempts = $seen`,
//!   `attempts < max`, `last_used_step < $step`, `used_at IS NULL`), so even without the lock a
//!   second writer would re-check the condition on the committed row and lose.
//! - The per-destination daily cap of `issue_code` spans accounts, so it is guarded by a
//!   transaction-scoped advisory lock on the destination.
//! - Serialization failures (SQLSTATE 40001) and deadlocks (40P01) are retried inside the store a
//!   few times with a short growing pause; a caller never sees them unless they persist.
//! - Every connection gets a `statement_timeout`, and the pool an acquire timeout, so a database
//!   that hangs or restarts makes requests fail fast ("unavailable", a 503) instead of piling up;
//!   the pool tests connections before handing them out and reconnects by itself.

mod codes;
mod import;
mod rows;
mod store_impl;
mod transactions;

use std::str::FromStr;
use std::time::Duration;

use nidan_service::{StoreError, UserId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::StoreOptions;
use crate::error::OpenError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How often a transaction that hit a serialization failure or a deadlock is tried again.
const RETRIES: u32 = 5;

/// The PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…` or `postgresql://…`). Fails with
    /// [`OpenError::Connect`] when the server cannot be reached, so the caller can retry.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, OpenError> {
        let timeout_ms = options.statement_timeout.as_millis().max(1).to_string();
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| OpenError::Unsupported(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("nidan")
            .options([
                ("statement_timeout", timeout_ms.as_str()),
                ("idle_in_transaction_session_timeout", timeout_ms.as_str()),
                // Server NOTICEs ("relation already exists, skipping") are not news for the log.
                ("client_min_messages", "warning"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .test_before_acquire(true)
            .connect_with(connect)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Applies pending migrations; returns how many ran. Safe to run from several nodes at once
    /// (the migrator takes an advisory lock).
    pub async fn migrate(&self) -> Result<usize, OpenError> {
        let before = applied(&self.pool).await;
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut,
            ) => OpenError::Connect(e.to_string()),
            _ => OpenError::Migrate(e.to_string()),
        })?;
        Ok(applied(&self.pool).await.saturating_sub(before))
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Postgres>, TxError> {
        Ok(self.pool.begin().await?)
    }
}

async fn applied(pool: &PgPool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

/// Takes the account's row lock for the rest of the transaction (see the module docs).
pub(crate) async fn lock_user(
    tx: &mut Transaction<'_, Postgres>,
    user: &UserId,
) -> Result<bool, TxError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(user.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.is_some())
}

/// What a transaction body fails with: a database error (maybe worth a retry) or a decided one.
#[derive(Debug)]
pub(crate) enum TxError {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl TxError {
    /// A serialization failure or a deadlock: the transaction was rolled back and may simply run
    /// again.
    fn retryable(&self) -> bool {
        matches!(self, TxError::Sql(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("40001" | "40P01")))
    }

    fn into_store(self) -> StoreError {
        match self {
            TxError::Sql(e) => map(e),
            TxError::Store(e) => e,
        }
    }
}

/// Maps a PostgreSQL error: statement timeouts, shutdowns and connection failures are
/// "unavailable" (a 503 that says nothing internal); the rest as for every backend.
pub(crate) fn map(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        // 57014 query_canceled (statement_timeout), 57P0x shutdown/cannot connect now,
        // 08xxx connection exceptions, 53xxx insufficient resources, 40xxx that kept failing.
        if code == "57014"
            || code.starts_with("57P")
            || code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("40")
        {
            return StoreError::Unavailable(e.to_string());
        }
    }
    crate::error::map(e)
}

/// The pause before retry number `n` (1-based): 5, 10, 20, 40 ms …
pub(crate) async fn pause(n: u32) {
    tokio::time::sleep(Duration::from_millis(5u64 << n.min(6))).await;
}

/// Runs a transaction body (an expression producing a future of `Result<T, TxError>`) and retries
/// it on serialization failures and deadlocks.
macro_rules! retrying {
    ($body:expr) => {{
        let mut tries = 0u32;
        loop {
            match $body.await {
                Ok(v) => break Ok(v),
                Err(e) if e.retryable() && tries < $crate::postgres::RETRIES => {
                    tries += 1;
                    tracing::debug!(tries, "PostgreSQL transaction conflict; retrying");
                    $crate::postgres::pause(tries).await;
                }
                Err(e) => break Err(e.into_store()),
            }
        }
    }};
}
pub(crate) use retrying;
