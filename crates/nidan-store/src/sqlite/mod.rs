//! SQLite backend: one file under the data directory, WAL mode.
//!
//! SQLite allows one writer at a time, so every write goes to one writer thread that commits
//! waiting writes together, and reads run on the caller's thread from a pool that WAL lets run
//! alongside the writer (see `engine.rs` for why this is not an async driver). The store's
//! operations run here through `lite.rs`. `synchronous = NORMAL` with WAL keeps every committed
//! transaction across a crash of the process (kill -9); only a power loss can drop the last
//! commits, never corrupt the file.
//!
//! Migrations run with rusqlite too (`migrate.rs`), keeping sqlx's `_sqlx_migrations`
//! bookkeeping of existing databases as it is.

mod backup;
mod checkpoint;
mod engine;
mod import;
mod lite;
mod migrate;

use crate::StoreOptions;
use crate::error::OpenError;
pub(crate) use backup::backup;
use engine::Engine;
pub(crate) use engine::map;
pub(crate) use lite::Lite;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if missing) the database at `url` (`sqlite://path`).
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<Lite, OpenError> {
    let path = engine::path_of(url)?;
    let timeout = options.connect_timeout;
    let engine = tokio::task::spawn_blocking(move || Engine::open(path, timeout))
        .await
        .map_err(|e| OpenError::Connect(format!("opening the database: {e}")))??;
    Ok(Lite { engine })
}

/// Applies pending migrations (creating the database file if missing); returns how many ran.
pub(crate) async fn migrate(url: &str, options: &StoreOptions) -> Result<usize, OpenError> {
    let path = engine::path_of(url)?;
    let timeout = options.connect_timeout;
    tokio::task::spawn_blocking(move || migrate::run(&path, timeout, &MIGRATOR))
        .await
        .map_err(|e| OpenError::Migrate(format!("migrating the database: {e}")))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rusqlite::Connection;

    use crate::ops::check::{ACCOUNT_FOR_CHECK, ACCOUNT_FOR_CHECK_BY_ID, CHECK_TOTP};
    use crate::records::{USER_FIELDS, select_user};

    /// Every statement whose rows `records::user` decodes names its columns in `USER_FIELDS`'
    /// order (decoding is by position, so a reordered list would swap fields silently).
    #[test]
    fn user_statements_select_user_fields() {
        let c = Connection::open_in_memory().unwrap();
        for migration in super::MIGRATOR.iter() {
            c.execute_batch(migration.sql.as_str()).unwrap();
        }
        for sql in [
            select_user!("WHERE email = $1"),
            select_user!("WHERE id = $1"),
            ACCOUNT_FOR_CHECK,
            ACCOUNT_FOR_CHECK_BY_ID,
        ] {
            let statement = c.prepare(sql.lite).unwrap();
            let names = statement.column_names();
            assert_eq!(names[..USER_FIELDS.len()], USER_FIELDS, "{}", sql.lite);
            if names.len() > USER_FIELDS.len() {
                assert_eq!(
                    names[CHECK_TOTP..],
                    [
                        "t_id",
                        "t_sealed_secret",
                        "t_last_used_step",
                        "t_confirmed_at",
                        "t_created_at",
                        "recovery_left",
                        "has_oob",
                        "webauthn_keys"
                    ]
                );
            }
        }
    }
}
