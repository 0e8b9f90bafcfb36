//! Each backend adds its own series to the metrics registry: SQLite its writer's batches and
//! COMMIT times, PostgreSQL its pool's connections.

use nidan_service::Store;
use prometheus_client::registry::Registry;

fn render(store: &dyn Store) -> String {
    let mut registry = Registry::default();
    store.register_metrics(&mut registry);
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
    out
}

/// The value of the series `name` (without labels).
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reports_its_writer_batches_and_commits() {
    let (_dir, store) = crate::sqlite::store().await;
    let before = value(&render(&*store), "nidan_sqlite_writer_commit_seconds_count");
    for _ in 0..3 {
        store.pending_notices().await.unwrap();
        store
            .purge(nidan_service::ports::Purge {
                activity_before: 0,
                sessions_seen_before: 0,
                sessions_started_before: 0,
                challenges_before: 0,
                codes_before: 0,
                resets_before: 0,
                devices_before: 0,
                notices_before: 0,
                oidc_before: 0,
                batch: 1,
            })
            .await
            .unwrap();
    }
    let text = render(&*store);
    assert!(
        value(&text, "nidan_sqlite_writer_commit_seconds_count") >= before + 3.0,
        "{text}"
    );
    assert!(
        value(&text, "nidan_sqlite_writer_batch_jobs_sum") >= 3.0,
        "{text}"
    );
    assert!(!text.contains("nidan_postgres_pool"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reports_its_pool() {
    let Some(fresh) = crate::pg::FreshPg::new("backend_metrics::postgres_reports_its_pool").await
    else {
        return;
    };
    let store = fresh.store().await;
    store.ping().await.unwrap();
    let text = render(&*store);
    assert!(
        value(&text, "nidan_postgres_pool_connections") >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, "nidan_postgres_pool_idle_connections") >= 0.0,
        "{text}"
    );
    assert!(
        value(&text, "nidan_postgres_pool_max_connections") >= 1.0,
        "{text}"
    );
    assert!(!text.contains("nidan_sqlite_writer"), "{text}");
    drop(store);
    fresh.finish().await;
}
