//! Fresh PostgreSQL schemas for tests: `NIDAN_TEST_DATABASE_URL` names the database, each store
//! gets its own schema `nidan_t_<random>` through the connection's `search_path`.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use nidan_service::Store;
use nidan_store::StoreOptions;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub mod schemas;
pub use schemas::{database_url, mark_ran, url_in_schema};

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
        let schema = schemas::create_schema(&self.base).await;
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
        let made = std::mem::take(&mut *self.schemas.lock().unwrap());
        for s in made {
            schemas::drop_schema(&self.base, &s).await;
        }
        mark_ran(&self.test);
    }
}
