//! The storage conformance suite: the promises of [`Store`] written down as executable checks.
//!
//! Why it exists: the use cases trust the store to settle everything one-time or counted (TOTP
//! steps, recovery codes, challenge attempts, the account's failure count) atomically, on one node
//! or many (architecture habit 6). That promise is easy to break in one backend and not another,
//! so every backend runs this same suite (habit 8): SQLite in `nidan-store/tests`, PostgreSQL when
//! it lands. A check that fails names the rule that broke.
//!
//! It is compiled always (not `cfg(test)`) because other crates' tests call it, and it uses no test
//! framework: every check is a plain `async fn` that panics with a message when the store breaks
//! the contract. Each check takes a fresh, empty store (habit 13), so checks never depend on one
//! another or on their order. The race checks spawn tasks with `tokio::spawn`: run them on a
//! multi-thread runtime, or they prove nothing.
//!
//! The data is fake but shaped like the real thing: ids from a counter, any 32 bytes as digests,
//! and opaque bytes as sealed seeds. Nothing here needs a key, a clock or a random source.

mod accounts;
mod attempts;
mod challenges;
mod fixture;
mod lifecycle;
mod oidc;
mod own_life;
mod races;
mod sessions;
mod webauthn;

use std::future::Future;
use std::sync::Arc;

use crate::ports::Store;

pub use accounts::{
    account_for_check_reads_account_and_methods, api_keys_found_by_digest_until_revoked,
    challenge_for_check_reads_challenge_and_account, clear_code_failures_forgets_the_count,
    user_ids_by_email_finds_only_existing_accounts, users_create_find_and_reject_duplicates,
};
pub use attempts::{
    recovery_code_of_another_user_is_not_accepted,
    recovery_code_works_once_and_recreate_kills_old_set,
    settle_attempt_records_activity_with_its_outcome,
    settle_attempt_with_stale_failures_races_and_writes_nothing,
    totp_step_accepted_only_forward_and_failures_counted,
    totp_step_of_another_users_credential_is_not_accepted,
};
pub use challenges::{
    challenge_dies_after_max_attempts, challenge_dies_when_expired, challenge_is_bound_to_its_user,
    challenge_success_creates_session_and_device_then_is_consumed,
};
pub use lifecycle::{
    activate_totp_first_method_turns_two_step_on_and_ends_other_sessions,
    activate_totp_needs_a_pending_credential, activate_totp_replaces_older_active_credential,
    delete_totp_removes_app_codes_devices_and_failures,
    import_totp_creates_users_and_replaces_credentials, import_totp_is_all_or_nothing,
    pending_totp_is_replaced_by_newer_pending, remove_two_step_ends_sessions_only_when_asked,
    reseal_secrets_round_trip,
};
pub use oidc::{
    oidc_apps_keep_consent_and_removal_revokes_tokens, oidc_clients_and_keys,
    oidc_code_works_once_and_a_replay_revokes_its_tokens,
    oidc_refresh_rotates_and_reuse_revokes_the_family, race_same_oidc_code_redeemed_once,
};
pub use own_life::{
    delete_user_removes_everything_and_queues_the_last_notice,
    disabling_ends_sessions_challenges_and_devices, list_users_and_groups,
    password_change_ends_sessions_devices_and_reset_links,
    pending_notices_count_what_is_neither_sent_nor_given_up, purge_deletes_what_is_over_in_batches,
    race_same_reset_link_used_once, reset_link_works_once_newest_only_until_it_expires,
    reset_links_are_capped_per_account_and_hour,
    set_email_changes_the_sign_in_email_and_refuses_a_taken_one,
    two_step_off_until_turns_back_on_once_when_due,
    webhook_cursors_start_at_the_newest_line_and_move_once,
};
pub use races::{
    race_right_codes_on_one_challenge_grant_one_session, race_same_recovery_code_accepted_once,
    race_same_totp_step_accepted_once,
    race_wrong_codes_on_one_challenge_evaluated_max_attempts_times,
};
pub use sessions::{
    activity_lists_newest_first_with_cursor, device_sign_in_needs_a_live_device,
    device_sign_in_records_use_and_creates_session, devices_list_newest_first_and_delete_only_own,
    devices_revoked_by_password_change_and_two_step_off,
    gate_session_reads_session_user_and_groups, sessions_list_newest_first_and_delete_only_own,
};
pub use webauthn::{
    race_same_webauthn_ceremony_taken_once, security_key_use_needs_a_rising_counter,
    webauthn_ceremony_is_taken_once, webauthn_keys_are_added_found_and_removed,
};

/// Runs every conformance check against fresh stores made by `fresh` (one fresh store per check,
/// so checks are independent). Panics at the first broken promise; the check's name is printed to
/// stderr before it runs, so a failure says which one it was.
///
/// Needs a multi-thread tokio runtime (the race checks spawn tasks).
pub async fn run_all<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {
            $(
                eprintln!("conformance: {}", stringify!($check));
                $check(fresh().await).await;
            )*
        };
    }
    run!(
        // accounts, sessions, devices, activity, API keys
        users_create_find_and_reject_duplicates,
        user_ids_by_email_finds_only_existing_accounts,
        sessions_list_newest_first_and_delete_only_own,
        devices_list_newest_first_and_delete_only_own,
        device_sign_in_records_use_and_creates_session,
        device_sign_in_needs_a_live_device,
        devices_revoked_by_password_change_and_two_step_off,
        activity_lists_newest_first_with_cursor,
        gate_session_reads_session_user_and_groups,
        api_keys_found_by_digest_until_revoked,
        account_for_check_reads_account_and_methods,
        challenge_for_check_reads_challenge_and_account,
        clear_code_failures_forgets_the_count,
        // settling attempts
        settle_attempt_with_stale_failures_races_and_writes_nothing,
        settle_attempt_records_activity_with_its_outcome,
        totp_step_accepted_only_forward_and_failures_counted,
        totp_step_of_another_users_credential_is_not_accepted,
        challenge_dies_after_max_attempts,
        challenge_dies_when_expired,
        challenge_is_bound_to_its_user,
        challenge_success_creates_session_and_device_then_is_consumed,
        recovery_code_works_once_and_recreate_kills_old_set,
        recovery_code_of_another_user_is_not_accepted,
        // two-step lifecycle
        pending_totp_is_replaced_by_newer_pending,
        activate_totp_first_method_turns_two_step_on_and_ends_other_sessions,
        activate_totp_replaces_older_active_credential,
        activate_totp_needs_a_pending_credential,
        delete_totp_removes_app_codes_devices_and_failures,
        remove_two_step_ends_sessions_only_when_asked,
        import_totp_creates_users_and_replaces_credentials,
        import_totp_is_all_or_nothing,
        reseal_secrets_round_trip,
        // the account's own life
        password_change_ends_sessions_devices_and_reset_links,
        reset_link_works_once_newest_only_until_it_expires,
        reset_links_are_capped_per_account_and_hour,
        set_email_changes_the_sign_in_email_and_refuses_a_taken_one,
        delete_user_removes_everything_and_queues_the_last_notice,
        disabling_ends_sessions_challenges_and_devices,
        two_step_off_until_turns_back_on_once_when_due,
        list_users_and_groups,
        purge_deletes_what_is_over_in_batches,
        pending_notices_count_what_is_neither_sent_nor_given_up,
        webhook_cursors_start_at_the_newest_line_and_move_once,
        // the OpenID Connect provider
        oidc_clients_and_keys,
        oidc_code_works_once_and_a_replay_revokes_its_tokens,
        oidc_refresh_rotates_and_reuse_revokes_the_family,
        oidc_apps_keep_consent_and_removal_revokes_tokens,
        race_same_oidc_code_redeemed_once,
        // security keys and passkeys
        webauthn_keys_are_added_found_and_removed,
        webauthn_ceremony_is_taken_once,
        race_same_webauthn_ceremony_taken_once,
        security_key_use_needs_a_rising_counter,
        // races
        race_same_totp_step_accepted_once,
        race_same_recovery_code_accepted_once,
        race_wrong_codes_on_one_challenge_evaluated_max_attempts_times,
        race_right_codes_on_one_challenge_grant_one_session,
        race_same_reset_link_used_once,
    );
}
