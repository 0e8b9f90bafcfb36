//! A PostgreSQL database that applied migration 4 before its comment was reworded migrates on:
//! the earlier checksum is accepted and the current one recorded.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::pg::FreshPg;

/// SHA-384 of the text of `migrations/postgres/0004_active_credential_index.sql` that shipped
/// first.
const EARLIER: &str = "b7d5b44844baa19da9c311f0cab65a9824ff4b323f5f392aae06bc7145ed7fad89fcd1f481bf48c11b06a3c79edf8fdd";

#[tokio::test]
async fn a_reworded_migration_applied_earlier_is_accepted_on_postgres() {
    const TEST: &str =
        "reworded_migrations::a_reworded_migration_applied_earlier_is_accepted_on_postgres";
    let Some(fresh) = FreshPg::new(TEST).await else {
        return;
    };
    let url = fresh.schema_url().await;
    nidan_store::migrate(&url, &fresh.options).await.unwrap();
    let earlier: Vec<u8> = (0..EARLIER.len() / 2)
        .map(|i| u8::from_str_radix(&EARLIER[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 4")
        .bind(&earlier)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        nidan_store::migrate(&url, &fresh.options).await.unwrap(),
        0,
        "nothing to apply, and no refusal"
    );
    let now: Vec<u8> =
        sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 4")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_ne!(now, earlier, "the current checksum is recorded");
    conn.close().await.unwrap();
    fresh.finish().await;
}
