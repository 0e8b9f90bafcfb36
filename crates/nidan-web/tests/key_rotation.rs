//! Seed-key rotation on both backends: a new key version seals, old versions still open, and
//! `Service::admin_reseal_all` (what `nidan admin rotate-key` runs) re-seals every seed under the
//! newest key — after which the old key can go and every code still verifies.
//!
//! SQLite always; PostgreSQL when `NIDAN_TEST_DATABASE_URL` is set (see `tests/multinode.rs`).

use axum::http::StatusCode;
use nidan_domain::Keyring;

use crate::nodes::{Node, Shared, database_url, drop_schema, fresh_schema, mark_ran, small_pool};

/// Every sealed seed's key version, read straight from the store.
async fn versions(url: &str) -> Vec<u32> {
    let store = nidan_store::open(url, &small_pool()).await.unwrap();
    store
        .all_sealed_secrets()
        .await
        .unwrap()
        .iter()
        .map(|(_, _, blob)| Keyring::blob_version(blob).unwrap())
        .collect()
}

/// Signs in with the current code of `secret` on `node` (password step and second step).
async fn signs_in(node: &Node, shared: &Shared, email: &str, secret: &nidan_domain::TotpSecret) {
    shared.advance(30);
    let challenge = node.challenge(email).await;
    let r = node.verify(&challenge, "totp", &shared.code(secret)).await;
    assert_eq!(r.status, StatusCode::OK, "{email}: {}", r.text);
}

async fn rotation(url: &str) {
    // Two accounts enrolled under key version 1.
    let v1 = Shared::new();
    let node = Node::start(url, &v1, &small_pool()).await;
    let (_, s1, _) = node.enrolled(&v1, "rotate-1@example.com").await;
    let (_, s2, _) = node.enrolled(&v1, "rotate-2@example.com").await;
    assert_eq!(versions(url).await, vec![1, 1]);

    // Key version 2 added (as `nidan admin rotate-key` does to the key file): old seeds still
    // open, and a new enrolment is sealed under version 2.
    let mut k2 = [0u8; 32];
    getrandom::fill(&mut k2).unwrap();
    let mut v12 = v1.clone();
    v12.seal_keys.push((2, k2));
    let node = Node::start(url, &v12, &small_pool()).await;
    signs_in(&node, &v12, "rotate-1@example.com", &s1).await;
    let (_, s3, _) = node.enrolled(&v12, "rotate-3@example.com").await;
    let mut seen = versions(url).await;
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 1, 2], "the new key seals new seeds");

    // Re-seal: the two old seeds move to version 2; running it again has nothing to do.
    assert_eq!(node.service.admin_reseal_all().await.unwrap(), 2);
    assert_eq!(
        versions(url).await,
        vec![2, 2, 2],
        "every seed under the newest key"
    );
    assert_eq!(
        node.service.admin_reseal_all().await.unwrap(),
        0,
        "idempotent"
    );

    // The old key removed: every code still verifies.
    let mut v2 = v12.clone();
    v2.seal_keys.retain(|(v, _)| *v == 2);
    let node = Node::start(url, &v2, &small_pool()).await;
    signs_in(&node, &v2, "rotate-1@example.com", &s1).await;
    signs_in(&node, &v2, "rotate-2@example.com", &s2).await;
    signs_in(&node, &v2, "rotate-3@example.com", &s3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reseal_all_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nidan.db").display());
    rotation(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reseal_all_on_postgres() {
    const TEST: &str = "key_rotation::reseal_all_on_postgres";
    let Some(base) = database_url(TEST) else {
        return;
    };
    let (schema, url) = fresh_schema(&base).await;
    rotation(&url).await;
    drop_schema(&base, &schema).await;
    mark_ran(TEST);
}
