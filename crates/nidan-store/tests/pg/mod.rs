//! Fresh PostgreSQL schemas for tests: `NIDAN_TEST_DATABASE_URL` names the database, each store
//! gets its own schema `nidan_t_<random>` through the connection's `search_path`.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use nidan_service::Store;
use nidan_store::StoreOptions;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The database URL, or `None` (with a message) when PostgreSQL tests are not wanted. Panics
/// when `NIDAN_REQUIRE_POSTGRES=1` and the URL is missing.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("NIDAN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("NIDAN_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{test}: NIDAN_REQUIRE_POSTGRES=1 but NIDAN_TEST_DATABASE_URL is not set"
            );
            eprintln!("{test}: skipped: NIDAN_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// Records that `test` really ran against PostgreSQL (checked by `.ci/run`).
pub fn mark_ran(test: &str) {
    if let Ok(dir) = std::env::var("NIDAN_POSTGRES_MARKER_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(test), b"ran\n").unwrap();
    }
}

/// A random schema name.
pub fn schema_name() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("nidan_t_{:016x}", h.finish())
}

/// `base` with the connection option that makes `schema` the only schema searched.
pub fn url_in_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Makes fresh stores, each in its own new schema, and drops the schemas at the end.
pub struct FreshPg {
    pub base: String,
    test: String,
    schemas: Mutex<Vec<String>>,
    pub options: StoreOptions,
}

impl FreshPg {
    pub async fn new(test: &str) -> Option<Arc<Self>> {
        let base = database_url(test)?;
        // Reachable? (Fail loudly: the variable says PostgreSQL is there.)
        let conn = PgConnection::connect(&base).await;
        let conn = conn.unwrap_or_else(|e| panic!("{test}: cannot reach {base}: {e}"));
        conn.close().await.unwrap();
        Some(Arc::new(Self {
            base,
            test: test.to_owned(),
            schemas: Mutex::new(Vec::new()),
            options: StoreOptions::default(),
        }))
    }

    /// A new, empty schema; returns the URL that uses it.
    pub async fn schema_url(&self) -> String {
        let schema = schema_name();
        let mut conn = PgConnection::connect(&self.base).await.unwrap();
        // The name is ours (hex digits), not input: safe to put in the statement text.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        self.schemas.lock().unwrap().push(schema.clone());
        url_in_schema(&self.base, &schema)
    }

    /// A fresh store in a new schema, migrated.
    pub async fn store(&self) -> Arc<dyn Store> {
        let url = self.schema_url().await;
        nidan_store::open(&url, &self.options).await.unwrap()
    }

    /// Drops the schemas and leaves the marker.
    pub async fn finish(&self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap());
        if let Ok(mut conn) = PgConnection::connect(&self.base).await {
            for s in schemas {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {s} CASCADE"
                )))
                .execute(&mut conn)
                .await;
            }
            let _ = conn.close().await;
        }
        mark_ran(&self.test);
    }
}
