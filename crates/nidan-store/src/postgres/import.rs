//! Bulk import of TOTP seeds (`nidan admin totp import`) on PostgreSQL.
//!
//! Why it is shaped this way: row by row, an import paid four or five round trips per account
//! (insert, lock, delete, insert, update), ≈ 1,200 accounts a second. Here every statement takes
//! whole columns as arrays (`INSERT … SELECT … FROM unnest($1::text[], …)`, `WHERE id =
//! ANY($1)`), [`ROWS_PER_STATEMENT`] rows at a time, so a million accounts are a few hundred
//! statements. It stays one transaction: all rows or none.
//!
//! Locking follows the module rules of `postgres`: the accounts that already existed are locked
//! (`FOR NO KEY UPDATE`) before their app is replaced, in id order so that two imports cannot
//! deadlock each other. New accounts are invisible to everyone else until the commit, so they
//! need no lock.

use nidan_service::ports::{ImportRow, QueuedNotice};
use nidan_service::{StoreError, UserId};
use sqlx::{PgConnection, Postgres, Transaction};

use super::pg::{Pg, PgConn};
use super::{RETRIES, map, pause};
use crate::db::{Conn, DbError, Native};
use crate::records;
use crate::{args, sql};

/// Rows per statement: large enough that round trips stop mattering, small enough that one
/// statement stays far below `statement_timeout`.
const ROWS_PER_STATEMENT: usize = 10_000;

/// Seconds a node holds the notices it took from the queue before another node may take them.
const NOTICE_LEASE: i64 = 300;

impl Native for Pg {
    /// In one statement per [`ROWS_PER_STATEMENT`] emails.
    async fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, UserId)>, StoreError> {
        let mut out = Vec::new();
        for chunk in emails.chunks(ROWS_PER_STATEMENT) {
            let found: Vec<(String, String)> =
                sqlx::query_as("SELECT email, id FROM users WHERE email = ANY($1)")
                    .bind(chunk)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map)?;
            out.extend(
                found
                    .into_iter()
                    .map(|(email, id)| (email, UserId::new(id))),
            );
        }
        Ok(out)
    }

    /// In one transaction, retried on serialization failures and deadlocks.
    async fn import_totp(&self, rows: Vec<ImportRow>) -> Result<(), StoreError> {
        let mut tries = 0u32;
        loop {
            let attempt = async {
                let mut tx = self.pool.begin().await?;
                import_once(&mut tx, &rows).await?;
                tx.commit().await
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(sqlx::Error::Database(db))
                    if matches!(db.code().as_deref(), Some("40001" | "40P01"))
                        && tries < RETRIES =>
                {
                    tries += 1;
                    pause(tries).await;
                }
                Err(e) => return Err(map(e)),
            }
        }
    }

    /// Due notices, claimed for this node: several nodes run the notice worker, so the rows
    /// handed out are leased (their next attempt moved [`NOTICE_LEASE`] ahead, rows another node
    /// is claiming skipped) and two nodes never send the same notice at once. A notice whose
    /// node dies before marking it comes due again when the lease ends.
    async fn due_notices(&self, now: i64, limit: u32) -> Result<Vec<QueuedNotice>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map)?;
        PgConn(&mut conn)
                .rows(
                    sql!(
                        "WITH claimed AS (
                             UPDATE notices SET next_attempt_at = $1 + $3
                             WHERE id IN (
                                 SELECT id FROM notices
                                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                                 ORDER BY next_attempt_at, id LIMIT $2
                                 FOR UPDATE SKIP LOCKED)
                             RETURNING id, user_id, email, locale, kind, at, ip, user_agent, country, attempts)
                         SELECT c.id, COALESCE(c.email, u.email) AS email, COALESCE(c.locale, u.locale) AS locale,
                             c.kind, c.at, c.ip, c.user_agent, c.country, c.attempts
                         FROM claimed c LEFT JOIN users u ON u.id = c.user_id
                         ORDER BY c.id"
                    ),
                    args![now, i64::from(limit), NOTICE_LEASE],
                    &records::queued_notice,
                )
                .await
                .map_err(DbError::into_store)
    }
}

/// One try of the import (see the module docs).
async fn import_once(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[ImportRow],
) -> Result<(), sqlx::Error> {
    let tx: &mut PgConnection = tx;
    let new_users: Vec<_> = rows.iter().filter_map(|r| r.new_user.as_ref()).collect();
    for chunk in new_users.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|u| u.id.as_str()).collect();
        let emails: Vec<&str> = chunk.iter().map(|u| u.email.as_str()).collect();
        let hashes: Vec<Option<&str>> = chunk.iter().map(|u| u.password_hash.as_deref()).collect();
        let locales: Vec<&str> = chunk.iter().map(|u| u.locale.as_str()).collect();
        let created: Vec<i64> = chunk.iter().map(|u| u.created_at).collect();
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, locale, created_at, \
                 two_step_enabled, default_method) \
                 SELECT id, email, password_hash, locale, created_at, TRUE, 'totp' \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[]) \
                 AS t(id, email, password_hash, locale, created_at)",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(&hashes)
        .bind(&locales)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
    }

    let mut existing: Vec<&str> = rows
        .iter()
        .filter(|r| r.new_user.is_none())
        .map(|r| r.credential.user_id.as_str())
        .collect();
    existing.sort_unstable(); // the lock order
    for chunk in existing.chunks(ROWS_PER_STATEMENT) {
        sqlx::query("SELECT 1 FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM totp_credentials WHERE user_id = ANY($1)")
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE users SET two_step_enabled = TRUE, \
                 default_method = COALESCE(default_method, 'totp') WHERE id = ANY($1)",
        )
        .bind(chunk)
        .execute(&mut *tx)
        .await?;
    }

    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.credential.id.as_str()).collect();
        let users: Vec<&str> = chunk
            .iter()
            .map(|r| r.credential.user_id.as_str())
            .collect();
        let sealed: Vec<&[u8]> = chunk
            .iter()
            .map(|r| r.credential.sealed_secret.as_slice())
            .collect();
        let confirmed: Vec<Option<i64>> = chunk.iter().map(|r| r.credential.confirmed_at).collect();
        let created: Vec<i64> = chunk.iter().map(|r| r.credential.created_at).collect();
        sqlx::query(
            "INSERT INTO totp_credentials (id, user_id, sealed_secret, confirmed_at, created_at) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::int8[])",
        )
        .bind(&ids)
        .bind(&users)
        .bind(&sealed)
        .bind(&confirmed)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
