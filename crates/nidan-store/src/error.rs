//! Mapping backend errors to the service's `StoreError`, in one place.

use nidan_service::StoreError;

/// Why the store could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names a backend this build does not support.
    #[error("{0}")]
    Unsupported(String),
    /// The database could not be opened.
    #[error("could not open the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("could not apply migrations: {0}")]
    Migrate(String),
}

/// Maps a sqlx error: uniqueness violations are conflicts, connection trouble is
/// "unavailable", everything else is an internal error.
pub(crate) fn map(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("unique constraint")
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}
