//! The SQLite store against the storage conformance suite (`nidan_service::conformance`).
//!
//! Every check gets a fresh database file in its own temporary directory (architecture habit 13).
//! The race checks and the regressions also run one by one, so a failure names itself in the
//! test list.

use std::sync::{Arc, Mutex};

use nidan_service::Store;
use nidan_service::conformance;
use tempfile::TempDir;

/// Makes fresh SQLite stores and keeps their directories alive until it is dropped.
#[derive(Default)]
struct FreshSqlite {
    dirs: Mutex<Vec<TempDir>>,
}

impl FreshSqlite {
    async fn store(&self) -> Arc<dyn Store> {
        let (dir, store) = crate::sqlite::store().await;
        self.dirs
            .lock()
            .expect("the directory list is not poisoned")
            .push(dir);
        store
    }
}

macro_rules! one_check {
    ($($(#[$doc:meta])* $check:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let fresh = FreshSqlite::default();
                conformance::$check(fresh.store().await).await;
            }
        )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_conformance_suite() {
    let fresh = FreshSqlite::default();
    conformance::run_all(|| fresh.store()).await;
}

one_check!(
    race_same_totp_step_accepted_once,
    race_same_recovery_code_accepted_once,
    race_wrong_codes_on_one_challenge_evaluated_max_attempts_times,
    race_right_codes_on_one_challenge_grant_one_session,
    /// Regression: a remembered device forgotten (or expired) between the service's lookup and
    /// the sign-in still produced a session (read-check-write).
    device_sign_in_needs_a_live_device,
    /// Regression: `delete_totp` (two-step becomes `none`) kept the failure count, unlike
    /// `remove_two_step`.
    delete_totp_removes_app_codes_devices_and_failures,
);
