//! The PostgreSQL store against the storage conformance suite (`nidan_service::conformance`).
//!
//! Runs when `NIDAN_TEST_DATABASE_URL` names a PostgreSQL database (on this project's machines:
//! `postgres://postgres@127.0.0.1:5432/test`). Every check gets a fresh schema `nidan_t_<random>`
//! (the pool's connections use it through `search_path`), so tests run in parallel and never see
//! each other's rows; the schemas are dropped at the end.
//!
//! Without the variable the tests say "skipped" and pass — unless `NIDAN_REQUIRE_POSTGRES=1`
//! (set by `.ci/run`), then they fail. When they really ran against PostgreSQL they leave a
//! marker file in `$NIDAN_POSTGRES_MARKER_DIR`, which `.ci/run` checks after the tests.

use nidan_service::conformance;

use crate::pg::FreshPg;

macro_rules! one_check {
    ($($(#[$doc:meta])* $check:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(fresh) = FreshPg::new(concat!("conformance_postgres::", stringify!($check))).await else {
                    return;
                };
                conformance::$check(fresh.store().await).await;
                fresh.finish().await;
            }
        )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_suite() {
    let Some(fresh) =
        FreshPg::new("conformance_postgres::postgres_passes_the_conformance_suite").await
    else {
        return;
    };
    conformance::run_all(|| fresh.store()).await;
    fresh.finish().await;
}

one_check!(
    race_same_totp_step_accepted_once,
    race_same_recovery_code_accepted_once,
    race_wrong_codes_on_one_challenge_evaluated_max_attempts_times,
    race_right_codes_on_one_challenge_grant_one_session,
    device_sign_in_needs_a_live_device,
    delete_totp_removes_app_codes_devices_and_failures,
);
