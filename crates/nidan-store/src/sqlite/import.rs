//! Bulk import of TOTP seeds (`nidan admin totp import`) on SQLite.
//!
//! Why it is shaped this way (a million accounts must go in well under a minute):
//!
//! - The import is one job on the writer thread, so one transaction: all rows or none.
//! - Statements are prepared once and run per row: with rusqlite a statement costs SQLite's own
//!   work only (with the earlier async driver every statement crossed to a worker thread and
//!   back, which made row-by-row imports slow and multi-row statements necessary).
//! - A new account is inserted with two-step already on, so it needs no `DELETE` of an old app
//!   and no `UPDATE` afterwards; only accounts that already existed get those.
//! - The writer's page cache is raised for the import (and put back afterwards): the indexes on
//!   random ids (`users.id`, `totp_credentials.id`, `totp_credentials.user_id`) take inserts at
//!   random places, so their pages should stay in memory for the whole transaction (not
//!   measured separately on this engine; 1,000,000 rows take about 17 s in all). Rows keep the
//!   file's order.
//! - Closing the store (the end of the `nidan admin` process) checkpoints the WAL into the
//!   database file and removes it, so the next server start does not read a WAL as large as the
//!   import to rebuild its index.

use std::future::Future;

use nidan_service::ports::{ImportRow, QueuedNotice};
use nidan_service::{StoreError, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::lite::{Lite, LiteConn, into_rusqlite};
use crate::db::{Native, drive};
use crate::records;
use crate::{args, sql};

/// The writer's page cache during an import, in KiB (SQLite's negative `cache_size`).
const IMPORT_CACHE_KIB: i64 = 256 * 1024;

impl Native for Lite {
    /// Looked up one by one inside one read transaction (one snapshot).
    fn user_ids_by_email(
        &self,
        emails: &[String],
    ) -> impl Future<Output = Result<Vec<(String, UserId)>, StoreError>> + Send {
        std::future::ready(self.engine.read_snapshot(|c| {
            let mut out = Vec::new();
            for email in emails {
                let id: Option<String> = c
                    .prepare_cached("SELECT id FROM users WHERE email = ?1")?
                    .query_row([email], |r| r.get(0))
                    .optional()?;
                if let Some(id) = id {
                    out.push((email.clone(), UserId::new(id)));
                }
            }
            Ok(out)
        }))
    }

    /// Writes the import in one writer job (see the module docs).
    fn import_totp(
        &self,
        rows: Vec<ImportRow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.engine.write(move |c| {
            let before: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
            c.execute_batch(&format!("PRAGMA cache_size = -{IMPORT_CACHE_KIB}"))?;
            let written = write_all(&c, &rows);
            // Put the cache back whatever happened: the writer serves other jobs next.
            let restored = c.execute_batch(&format!("PRAGMA cache_size = {before}"));
            written.and(restored)
        })
    }

    /// One node serves a SQLite database: the due notices are simply read.
    fn due_notices(
        &self,
        now: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<QueuedNotice>, StoreError>> + Send {
        std::future::ready(self.engine.read(|c| {
            let mut conn = LiteConn(c);
            drive(crate::db::Conn::rows(
                &mut conn,
                sql!(
                    "SELECT n.id, COALESCE(n.email, u.email) AS email, COALESCE(n.locale, u.locale) AS locale,
                         n.kind, n.at, n.ip, n.user_agent, n.country, n.attempts
                     FROM notices n LEFT JOIN users u ON u.id = n.user_id
                     WHERE n.sent_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= $1
                     ORDER BY n.next_attempt_at, n.id LIMIT $2"
                ),
                args![now, i64::from(limit)],
                &records::queued_notice,
            ))
            .map_err(into_rusqlite)
        }))
    }
}

fn exec(c: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

fn write_all(c: &Connection, rows: &[ImportRow]) -> rusqlite::Result<()> {
    for row in rows {
        let t = &row.credential;
        match &row.new_user {
            Some(u) => {
                exec(
                    c,
                    "INSERT INTO users (id, email, password_hash, locale, created_at, two_step_enabled, default_method) VALUES (?1, ?2, ?3, ?4, ?5, 1, 'totp')",
                    params![
                        u.id.as_str(),
                        u.email,
                        u.password_hash,
                        u.locale.as_str(),
                        u.created_at
                    ],
                )?;
            }
            None => {
                exec(
                    c,
                    "DELETE FROM totp_credentials WHERE user_id = ?1",
                    [t.user_id.as_str()],
                )?;
                exec(
                    c,
                    "UPDATE users SET two_step_enabled = 1, default_method = COALESCE(default_method, 'totp') WHERE id = ?1",
                    [t.user_id.as_str()],
                )?;
            }
        }
        exec(
            c,
            "INSERT INTO totp_credentials (id, user_id, sealed_secret, last_used_step, confirmed_at, created_at) VALUES (?1, ?2, ?3, -1, ?4, ?5)",
            params![
                t.id.as_str(),
                t.user_id.as_str(),
                t.sealed_secret,
                t.confirmed_at,
                t.created_at
            ],
        )?;
    }
    Ok(())
}
