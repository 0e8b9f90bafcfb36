//! Fresh PostgreSQL schemas for tests, shared by the PostgreSQL tests of every crate (nidan and
//! nidan-web include this file by path): `NIDAN_TEST_DATABASE_URL` names the database, each test
//! gets its own schema `nidan_t_<random>` through the connection's `search_path`, and each test
//! that really ran against PostgreSQL leaves the marker `.ci/run` checks.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The PostgreSQL URL, or `None` (with a message) when PostgreSQL tests are not wanted. Panics
/// when `NIDAN_REQUIRE_POSTGRES=1` (set by `.ci/run`) and the URL is missing.
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

/// A new empty schema `nidan_t_<random>` in the database at `base`; returns its name.
pub async fn create_schema(base: &str) -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let schema = format!("nidan_t_{:016x}", h.finish());
    let mut conn = PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {base}: {e}"));
    // The name is ours (hex digits), not input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    schema
}

/// `url` with the connection option that makes `schema` the only schema searched.
pub fn url_in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Drops a schema made by [`create_schema`].
pub async fn drop_schema(base: &str, schema: &str) {
    if let Ok(mut conn) = PgConnection::connect(base).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
}
