//! The seed import at sizes that span several batched statements, on SQLite and (when
//! `NIDAN_TEST_DATABASE_URL` is set) PostgreSQL.
//!
//! Why: the conformance suite checks the import's promises with two or three rows, which fit in
//! one statement. The store writes an import as multi-row statements (hundreds or thousands of
//! rows each), so these checks use more rows than one statement takes, mix new and existing
//! accounts, and put the failing row in the last statement: every row must still be stored
//! exactly as given (the sealed blob byte for byte, two-step on, the old app gone), and a
//! failure anywhere must leave nothing behind.

use std::collections::HashMap;
use std::sync::Arc;

use nidan_service::ports::{ImportRow, NewUser, TotpCredential};
use nidan_service::{CredentialId, Store, StoreError, UserId};

/// More than one statement's worth on both backends (SQLite: 500 rows, PostgreSQL: 10,000).
const FIRST: usize = 1_200;
const SECOND_NEW: usize = 10_300;
const NOW: i64 = 1_700_000_000;

fn new_user(tag: &str, i: usize) -> NewUser {
    NewUser {
        id: UserId::new(format!("u-{tag}-{i}")),
        email: format!("{tag}-{i}@import.test"),
        password_hash: None,
        locale: Default::default(),
        created_at: NOW,
    }
}

/// A row for `user`; the "sealed" blob is unique per credential so a mix-up would show.
fn row(user: &UserId, new_user: Option<NewUser>, tag: &str, i: usize) -> ImportRow {
    let id = CredentialId::new(format!("c-{tag}-{i}"));
    ImportRow {
        new_user,
        credential: TotpCredential {
            sealed_secret: format!("sealed {tag} {i}").into_bytes(),
            id,
            user_id: user.clone(),
            last_used_step: None,
            confirmed_at: Some(NOW),
            created_at: NOW,
        },
    }
}

fn fresh_rows(tag: &str, n: usize) -> Vec<ImportRow> {
    (0..n)
        .map(|i| {
            let u = new_user(tag, i);
            row(&u.id.clone(), Some(u), tag, i)
        })
        .collect()
}

async fn sealed(store: &Arc<dyn Store>) -> HashMap<CredentialId, (UserId, Vec<u8>)> {
    store
        .all_sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|(c, u, b)| (c, (u, b)))
        .collect()
}

/// A second import for `first`: a new app for each of its accounts, then `SECOND_NEW` new ones.
fn again_and_more(first: &[ImportRow]) -> Vec<ImportRow> {
    let mut second: Vec<ImportRow> = first
        .iter()
        .enumerate()
        .map(|(i, r)| row(&r.credential.user_id, None, "again", i))
        .collect();
    second.extend(fresh_rows("b", SECOND_NEW));
    second
}

/// A first import creates accounts; a second one replaces their apps and adds more accounts.
async fn many_rows_are_stored_exactly(store: Arc<dyn Store>) {
    let first = fresh_rows("a", FIRST);
    store.import_totp(first.clone()).await.unwrap();

    let second = again_and_more(&first);
    store.import_totp(second.clone()).await.unwrap();

    let stored = sealed(&store).await;
    assert_eq!(
        stored.len(),
        second.len(),
        "one app per account: the replaced ones are gone"
    );
    for r in &second {
        let c = &r.credential;
        assert_eq!(
            stored.get(&c.id),
            Some(&(c.user_id.clone(), c.sealed_secret.clone())),
            "credential {} stored as given",
            c.id
        );
    }
    for r in [
        &first[0],
        &first[FIRST - 1],
        &second[FIRST + SECOND_NEW - 1],
    ] {
        let u = store
            .user_by_id(&r.credential.user_id)
            .await
            .unwrap()
            .unwrap();
        assert!(u.two_step_enabled && u.password_hash.is_none());
        assert_eq!(u.default_method, Some(nidan_domain::Method::Totp));
        let active = store.active_totp(&u.id).await.unwrap().unwrap();
        assert_eq!(
            (active.confirmed_at, active.last_used_step),
            (Some(NOW), None)
        );
    }
}

/// A conflict in the last statement (a new account with a taken email) undoes every earlier
/// statement of the import: no account, no credential, no replaced app.
async fn a_late_conflict_leaves_nothing(store: Arc<dyn Store>) {
    let first = fresh_rows("a", FIRST);
    store.import_totp(first.clone()).await.unwrap();
    let before = sealed(&store).await;

    let mut second = again_and_more(&first);
    let clash = NewUser {
        id: UserId::new("u-clash"),
        ..new_user("a", 7)
    };
    second.push(row(&clash.id.clone(), Some(clash), "clash", 0));
    assert!(matches!(
        store.import_totp(second).await,
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(sealed(&store).await, before, "no credential changed");
    for i in [0, SECOND_NEW - 1] {
        assert!(
            store
                .user_by_email(&new_user("b", i).email)
                .await
                .unwrap()
                .is_none(),
            "no account created"
        );
    }
    assert!(
        store
            .user_by_id(&UserId::new("u-clash"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Two rows for one account are refused as a whole (batched writes cannot apply them in order).
async fn an_account_twice_is_refused(store: Arc<dyn Store>) {
    let first = fresh_rows("a", 3);
    store.import_totp(first.clone()).await.unwrap();
    let before = sealed(&store).await;
    let user = &first[1].credential.user_id;
    let rows = vec![
        row(user, None, "x", 0),
        fresh_rows("b", 1).remove(0),
        row(user, None, "x", 1),
    ];
    assert!(matches!(
        store.import_totp(rows).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(sealed(&store).await, before);
    assert!(
        store
            .user_by_email("b-0@import.test")
            .await
            .unwrap()
            .is_none()
    );
}

macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let (_dir, store) = crate::sqlite::store().await;
                    super::$check(store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let name = concat!("import_batches::", stringify!($check));
                    let Some(fresh) = crate::pg::FreshPg::new(name).await else {
                        return;
                    };
                    super::$check(fresh.store().await).await;
                    fresh.finish().await;
                }
            )*
        }
    };
}

on_both!(
    many_rows_are_stored_exactly,
    a_late_conflict_leaves_nothing,
    an_account_twice_is_refused,
);
