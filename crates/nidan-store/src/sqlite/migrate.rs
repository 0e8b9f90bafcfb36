//! Applies the SQLite migrations with rusqlite, keeping sqlx's bookkeeping table
//! (`_sqlx_migrations`) as it is, so databases made by earlier versions go on without a step.
//!
//! Why not sqlx's migrator: it needs sqlx's own SQLite driver, a second SQLite binding beside
//! rusqlite compiled into every build for one statement at start. The migrations themselves are
//! still embedded by `sqlx::migrate!` (which only reads the files), and the rules are sqlx's: each
//! migration once, in its own transaction with its bookkeeping row; a migration whose file changed
//! after it was applied, or one that failed half-way, stops the start with a clear error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::OpenError;

/// Applies what `migrator` has that the database at `path` lacks; returns how many ran.
pub(crate) fn run(
    path: &std::path::Path,
    busy_timeout: Duration,
    migrator: &sqlx::migrate::Migrator,
) -> Result<usize, OpenError> {
    let failed = |e: rusqlite::Error| OpenError::Migrate(e.to_string());
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(busy_timeout).map_err(failed)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL,
             execution_time BIGINT NOT NULL
         );",
    )
    .map_err(failed)?;
    for (current, version, earlier) in crate::reworded::updates(migrator, crate::reworded::SQLITE) {
        conn.execute(
            crate::reworded::UPDATE.lite,
            params![current, version, earlier],
        )
        .map_err(failed)?;
    }
    let dirty: Option<i64> = conn
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(failed)?;
    if let Some(version) = dirty {
        return Err(OpenError::Migrate(format!(
            "migration {version} failed part-way earlier; restore the database from a backup"
        )));
    }
    let applied: HashMap<i64, Vec<u8>> = conn
        .prepare("SELECT version, checksum FROM _sqlx_migrations")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(failed)?;
    let mut ran = 0;
    for m in migrator.iter() {
        if m.migration_type.is_down_migration() {
            continue;
        }
        if let Some(checksum) = applied.get(&m.version) {
            if checksum.as_slice() != &*m.checksum {
                return Err(OpenError::Migrate(format!(
                    "migration {} was applied, but its file has changed since",
                    m.version
                )));
            }
            continue;
        }
        let started = Instant::now();
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(m.sql.as_str())
            .map_err(|e| OpenError::Migrate(format!("migration {}: {e}", m.version)))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?1, ?2, TRUE, ?3, -1)",
            params![m.version, &*m.description, &*m.checksum],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        conn.execute(
            "UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2",
            params![started.elapsed().as_nanos() as i64, m.version],
        )
        .map_err(failed)?;
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        (dir, path)
    }

    #[test]
    fn each_migration_runs_once_and_is_recorded_as_sqlx_records_it() {
        let (_dir, path) = fresh();
        let all = super::super::MIGRATOR.iter().count();
        let timeout = Duration::from_secs(5);
        assert_eq!(run(&path, timeout, &super::super::MIGRATOR).unwrap(), all);
        assert_eq!(run(&path, timeout, &super::super::MIGRATOR).unwrap(), 0);
        let c = Connection::open(&path).unwrap();
        let rows: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1 AND execution_time >= 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows as usize, all);
    }

    /// A database that applied migration 4 before its comment was reworded migrates on.
    #[test]
    fn a_reworded_migration_applied_earlier_is_accepted() {
        let (_dir, path) = fresh();
        let timeout = Duration::from_secs(5);
        run(&path, timeout, &super::super::MIGRATOR).unwrap();
        let c = Connection::open(&path).unwrap();
        let earlier = crate::reworded::updates(&super::super::MIGRATOR, crate::reworded::SQLITE)
            .pop()
            .unwrap()
            .2;
        c.execute(
            "UPDATE _sqlx_migrations SET checksum = ?1 WHERE version = 4",
            [&earlier],
        )
        .unwrap();
        assert_eq!(run(&path, timeout, &super::super::MIGRATOR).unwrap(), 0);
        let now: Vec<u8> = c
            .query_row(
                "SELECT checksum FROM _sqlx_migrations WHERE version = 4",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_ne!(now, earlier, "the current checksum is recorded");
    }

    #[test]
    fn a_changed_or_half_applied_migration_stops_the_start() {
        let (_dir, path) = fresh();
        let timeout = Duration::from_secs(5);
        run(&path, timeout, &super::super::MIGRATOR).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1",
            [],
        )
        .unwrap();
        let e = run(&path, timeout, &super::super::MIGRATOR).unwrap_err();
        assert!(e.to_string().contains("has changed"), "{e}");
        c.execute(
            "UPDATE _sqlx_migrations SET success = false WHERE version = 2",
            [],
        )
        .unwrap();
        let e = run(&path, timeout, &super::super::MIGRATOR).unwrap_err();
        assert!(e.to_string().contains("failed part-way"), "{e}");
    }
}
