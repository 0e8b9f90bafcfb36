//! Fresh SQLite stores for tests, each in a new temporary directory.

use std::sync::Arc;

use nidan_service::Store;
use nidan_store::StoreOptions;
use tempfile::TempDir;

/// A new, migrated store; it lives in the returned directory, which must outlive it.
pub async fn store() -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("nidan.db").display());
    let store = nidan_store::open(&url, &StoreOptions::default())
        .await
        .expect("open a fresh SQLite store");
    (dir, store)
}
