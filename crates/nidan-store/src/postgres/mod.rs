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
//! - The conditional updates are the same statements as on SQLite (`failed_attempts = $seen`,
//!   `attempts < max`, `last_used_step < $step`, `used_at IS NULL`; the operations are written
//!   once, in `ops/`), so even without the lock a second writer would re-check the condition on
//!   the committed row and lose.
//! - The caps of `issue_code` on sends to destinations not yet confirmed span accounts, so they
//!   are guarded by a transaction-scoped advisory lock per channel.
//! - Serialization failures (SQLSTATE 40001) and deadlocks (40P01) are retried inside the store a
//!   few times with a short growing pause; a caller never sees them unless they persist.
//! - Every connection gets a `statement_timeout`, and the pool an acquire timeout, so a database
//!   that hangs or restarts makes requests fail fast ("unavailable", a 503) instead of piling up;
//!   the pool tests connections before handing them out and reconnects by itself.

mod import;
mod pg;

use std::str::FromStr;
use std::time::Duration;

use nidan_service::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::StoreOptions;
use crate::error::OpenError;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How often a transaction that hit a serialization failure or a deadlock is tried again.
pub(crate) const RETRIES: u32 = 5;

pub(crate) use pg::Pg;

/// Connects to the database at `url` (`postgres://…` or `postgresql://…`). Fails with
/// [`OpenError::Connect`] when the server cannot be reached, so the caller can retry.
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<Pg, OpenError> {
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
    Ok(Pg { pool })
}

/// Applies pending migrations; returns how many ran. Safe to run from several nodes at once
/// (the migrator takes an advisory lock).
pub(crate) async fn migrate(pg: &Pg) -> Result<usize, OpenError> {
    let failed = |e: sqlx::Error| OpenError::Migrate(e.to_string());
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&pg.pool)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))?;
    if has_table {
        for (current, version, earlier) in
            crate::reworded::updates(&MIGRATOR, crate::reworded::POSTGRES)
        {
            sqlx::query(crate::reworded::UPDATE.pg)
                .bind(current)
                .bind(version)
                .bind(earlier)
                .execute(&pg.pool)
                .await
                .map_err(failed)?;
        }
    }
    let before = applied(&pg.pool).await;
    MIGRATOR.run(&pg.pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => {
            OpenError::Connect(e.to_string())
        }
        _ => OpenError::Migrate(e.to_string()),
    })?;
    Ok(applied(&pg.pool).await.saturating_sub(before))
}

async fn applied(pool: &PgPool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
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
