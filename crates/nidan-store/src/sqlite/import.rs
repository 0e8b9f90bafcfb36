//! Bulk import of TOTP seeds (`nidan admin totp import`) on SQLite.
//!
//! Why it is shaped this way (a million accounts must go in well under a minute):
//!
//! - The import is one `BEGIN IMMEDIATE` transaction: all rows or none.
//! - Rows are written with multi-row statements, a few hundred rows each. Row-by-row, four
//!   statements per account each crossing to sqlx's SQLite worker thread and back cost far more
//!   than SQLite's own work; batched, that overhead is paid once per few hundred rows.
//! - A new account is inserted with two-step already on, so it needs no `DELETE` of an old app
//!   and no `UPDATE` afterwards; only accounts that already existed get those, batched as well.
//! - The connection's page cache is raised for the import (and put back afterwards): the
//!   indexes on random ids (`users.id`, `totp_credentials.id`, `totp_credentials.user_id`)
//!   take inserts at random places, and with the default 2,000-page cache their pages would be
//!   written out and read back over and over. Rows keep the file's order: sorting them by
//!   account id was tried and made the import no measurably faster, while it scattered
//!   neighbouring lines of the file over the whole table (the benchmark, which uses accounts in
//!   file order, saw verify p99 at a million accounts nearly double).
//! - Statement journals are kept in memory for the import (see `IMPORT_PRAGMAS`).
//! - After the commit the WAL is checkpointed and truncated. Otherwise it keeps the whole import
//!   (hundreds of megabytes at a million accounts), and the next process to open the database
//!   has to read all of it to rebuild the WAL index before its first query: that was what made
//!   the server's start to ready grow with the number of accounts.

use nidan_service::StoreError;
use nidan_service::UserId;
use nidan_service::ports::ImportRow;
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Connection, SqlitePool};

use super::SqliteStore;
use crate::error::map;

/// Accounts per `INSERT INTO users` (7 parameters each; SQLite allows 32,766 per statement).
const USERS_PER_STATEMENT: usize = 500;
/// Credentials per `INSERT INTO totp_credentials` (5 parameters each).
const CREDENTIALS_PER_STATEMENT: usize = 500;
/// Ids per `… WHERE id IN (…)` for accounts that already existed, and emails per lookup.
const IDS_PER_STATEMENT: usize = 500;
/// Settings of the writer connection for the import only: a 256 MiB page cache (negative
/// `cache_size` = KiB), and statement journals in memory (`temp_store = 2`). Each multi-row
/// insert copies every page it changes into a statement journal (so that the statement alone can
/// be undone); with the default settings that journal spills to a temporary file after 64 KiB,
/// so the import wrote gigabytes to temporary files that nothing ever read.
const IMPORT_PRAGMAS: [(&str, i64); 2] = [("cache_size", -256 * 1024), ("temp_store", 2)];

/// Sets `PRAGMA name = value` (both ours, never input).
async fn pragma(conn: &mut SqliteConnection, name: &str, value: i64) -> Result<(), StoreError> {
    sqlx::query(AssertSqlSafe(format!("PRAGMA {name} = {value}")))
        .execute(&mut *conn)
        .await
        .map_err(map)?;
    Ok(())
}

/// `(?, ?, …)` repeated `rows` times, `columns` placeholders each, comma-separated.
fn placeholders(rows: usize, columns: usize) -> String {
    let one = format!("({})", vec!["?"; columns].join(", "));
    vec![one; rows].join(", ")
}

/// The ids of the accounts with these emails, in statements of [`IDS_PER_STATEMENT`] emails.
pub(crate) async fn user_ids_by_email(
    pool: &SqlitePool,
    emails: &[String],
) -> Result<Vec<(String, UserId)>, StoreError> {
    let mut out = Vec::new();
    for chunk in emails.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "SELECT email, id FROM users WHERE email IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
        for email in chunk {
            query = query.bind(email);
        }
        for (email, id) in query.fetch_all(pool).await.map_err(map)? {
            out.push((email, UserId::new(id)));
        }
    }
    Ok(out)
}

impl SqliteStore {
    /// Writes the import in one transaction (see the module docs), then checkpoints the WAL.
    pub(crate) async fn import(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
        crate::import_rows::each_account_once(&rows)?;
        let mut conn = self.writer.acquire().await.map_err(map)?;
        let mut before = Vec::with_capacity(IMPORT_PRAGMAS.len());
        for (name, value) in IMPORT_PRAGMAS {
            let current: i64 = sqlx::query_scalar(AssertSqlSafe(format!("PRAGMA {name}")))
                .fetch_one(&mut *conn)
                .await
                .map_err(map)?;
            before.push((name, current));
            pragma(&mut conn, name, value).await?;
        }
        let written = write_all(&mut conn, &rows).await;
        // Put the settings back whatever happened: this connection serves other writes later.
        let mut restored = Ok(());
        for (name, value) in before {
            restored = restored.and(pragma(&mut conn, name, value).await);
        }
        written?;
        restored?;
        let checkpoint = std::time::Instant::now();
        // Not part of the transaction: a checkpoint that cannot finish (a reader holds an old
        // snapshot) only leaves the WAL longer; the import is committed either way.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint after the import failed");
        }
        tracing::debug!(
            elapsed_ms = checkpoint.elapsed().as_millis() as u64,
            "import: WAL checkpointed"
        );
        Ok(())
    }
}

/// The transaction: new accounts, then the replaced apps of existing accounts, then every
/// credential. Any error rolls everything back (the transaction is dropped uncommitted).
async fn write_all(conn: &mut SqliteConnection, rows: &[ImportRow]) -> Result<(), StoreError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map)?;

    let started = std::time::Instant::now();
    let new_users: Vec<_> = rows.iter().filter_map(|r| r.new_user.as_ref()).collect();
    for chunk in new_users.chunks(USERS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO users (id, email, password_hash, locale, created_at, two_step_enabled, \
             default_method) VALUES {}",
            placeholders(chunk.len(), 7)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for u in chunk {
            query = query
                .bind(u.id.as_str())
                .bind(u.email.as_str())
                .bind(u.password_hash.as_deref())
                .bind(u.locale.as_str())
                .bind(u.created_at)
                .bind(1_i64)
                .bind("totp");
        }
        query.execute(&mut *tx).await.map_err(map)?;
    }

    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: accounts inserted"
    );
    let existing: Vec<&str> = rows
        .iter()
        .filter(|r| r.new_user.is_none())
        .map(|r| r.credential.user_id.as_str())
        .collect();
    for chunk in existing.chunks(IDS_PER_STATEMENT) {
        let list = vec!["?"; chunk.len()].join(", ");
        for sql in [
            format!("DELETE FROM totp_credentials WHERE user_id IN ({list})"),
            format!(
                "UPDATE users SET two_step_enabled = 1, \
                 default_method = COALESCE(default_method, 'totp') WHERE id IN ({list})"
            ),
        ] {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await.map_err(map)?;
        }
    }

    for chunk in rows.chunks(CREDENTIALS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO totp_credentials (id, user_id, sealed_secret, confirmed_at, created_at) \
             VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            let c = &r.credential;
            query = query
                .bind(c.id.as_str())
                .bind(c.user_id.as_str())
                .bind(c.sealed_secret.as_slice())
                .bind(c.confirmed_at)
                .bind(c.created_at);
        }
        query.execute(&mut *tx).await.map_err(map)?;
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: credentials inserted"
    );
    tx.commit().await.map_err(map)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "import: committed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_have_the_asked_shape() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }
}
