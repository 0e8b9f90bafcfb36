//! The two-step lifecycle: enrolment, activation, removal, support reset, imports and key
//! rotation.

use std::sync::Arc;

use nidan_domain::Method;

use super::fixture::{Fixture, NOW, expect_conflict};
use crate::ports::{Candidate, FirstMethod, ImportRow, NewDevice, NewSession, NewUser, Store};
use crate::{CredentialId, UserId};

/// One account with its whole two-step state, to see what a removal removes.
struct Enrolled {
    user: UserId,
    session: NewSession,
    device: NewDevice,
}

/// An account with an app, 8 recovery codes, a session, a remembered device, a pending credential
/// and two recorded failures.
async fn enrolled_with_everything(fx: &Fixture) -> Enrolled {
    let user = fx.user().await;
    let (cred, _) = fx.enrolled(&user, 8).await;
    let session = fx.session(&user, NOW - 500).await;
    let device = fx.device(&user, &cred, NOW - 400).await;
    fx.store
        .put_pending_totp(fx.credential(&user, None))
        .await
        .expect("put_pending_totp failed");
    fx.settle_fresh(&user, NOW - 300, Candidate::Wrong, None)
        .await;
    fx.settle_fresh(&user, NOW - 200, Candidate::Wrong, None)
        .await;
    assert_eq!(fx.failures(&user).await, 2, "setup: two failures recorded");
    Enrolled {
        user,
        session,
        device,
    }
}

/// What must hold for an account whose two-step was removed (by any path).
async fn assert_two_step_gone(fx: &Fixture, e: &Enrolled, how: &str) {
    let u = fx.user_record(&e.user).await;
    assert!(!u.two_step_enabled, "{how}: two-step must be off");
    assert_eq!(u.default_method, None, "{how}: no default method is left");
    assert!(
        fx.active(&e.user).await.is_none(),
        "{how}: the authenticator app must be gone"
    );
    assert!(
        fx.pending(&e.user).await.is_none(),
        "{how}: a pending authenticator app must be gone"
    );
    assert_eq!(
        fx.codes_left(&e.user).await,
        0,
        "{how}: recovery codes must not outlive the last method"
    );
    assert!(
        !fx.device_exists(&e.device.digest).await,
        "{how}: remembered devices must not outlive the last method"
    );
    assert_eq!(
        (u.failed_attempts, u.last_failure_at),
        (0, None),
        "{how}: the failure count must start again from zero"
    );
}

/// A new pending credential replaces an earlier pending one (whose seed is destroyed) and leaves
/// the active one alone.
pub async fn pending_totp_is_replaced_by_newer_pending(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    assert!(
        fx.pending(&a).await.is_none(),
        "a new account has no pending credential"
    );
    let (active, _) = fx.enrolled(&a, 0).await;
    let p1 = fx.credential(&a, None);
    fx.store
        .put_pending_totp(p1.clone())
        .await
        .expect("put_pending_totp failed");
    let found = fx
        .pending(&a)
        .await
        .expect("pending_totp must find the pending credential");
    assert_eq!(
        (found.id, found.user_id, found.sealed_secret),
        (p1.id.clone(), a.clone(), p1.sealed_secret.clone()),
        "pending_totp: fields"
    );
    assert_eq!(
        (found.confirmed_at, found.last_used_step),
        (None, None),
        "a pending credential is unconfirmed and unused"
    );

    let p2 = fx.credential(&a, None);
    fx.store
        .put_pending_totp(p2.clone())
        .await
        .expect("put_pending_totp failed");
    assert_eq!(
        fx.pending(&a).await.map(|c| c.id),
        Some(p2.id.clone()),
        "the newer pending credential replaces the older"
    );
    let sealed = fx.sealed_ids().await;
    assert!(
        !sealed.contains(&p1.id),
        "a replaced pending credential's seed must be destroyed"
    );
    assert_eq!(
        fx.active(&a).await.map(|c| c.id),
        Some(active),
        "a pending credential must not replace the active one"
    );
}

/// Activating the first method: the credential becomes active, two-step turns on with the default
/// method, the recovery codes are stored, and every session but `keep_session` ends.
pub async fn activate_totp_first_method_turns_two_step_on_and_ends_other_sessions(
    store: Arc<dyn Store>,
) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let keep = fx.session(&a, NOW - 300).await;
    let other = fx.session(&a, NOW - 200).await;
    let theirs = fx.session(&b, NOW - 100).await;
    let pending = fx.credential(&a, None);
    fx.store
        .put_pending_totp(pending.clone())
        .await
        .expect("put_pending_totp failed");
    // The enrolment code is checked against the pending credential; its step counts.
    let step = Candidate::TotpStep {
        credential_id: pending.id.clone(),
        step: 1_000,
    };
    assert!(
        matches!(
            fx.settle_fresh(&a, NOW - 1, step, None).await,
            crate::ports::Settled::Accepted { .. }
        ),
        "an enrolment code is settled against the pending credential"
    );

    let codes = fx.digests(8);
    let first = FirstMethod {
        default_method: Method::Totp,
        recovery_digests: codes,
        keep_session: Some(keep.record.id.clone()),
    };
    assert!(
        fx.store
            .activate_totp(&a, &pending.id, NOW, Some(first))
            .await
            .expect("activate_totp failed"),
        "activate_totp of a pending credential answers true"
    );

    let active = fx
        .active(&a)
        .await
        .expect("activate_totp must make the credential active");
    assert_eq!(
        (active.id, active.confirmed_at),
        (pending.id.clone(), Some(NOW)),
        "the activated credential is confirmed now"
    );
    assert_eq!(
        active.last_used_step,
        Some(1_000),
        "the enrolment code's step stays used after activation"
    );
    assert!(
        fx.pending(&a).await.is_none(),
        "an activated credential is no longer pending"
    );
    let u = fx.user_record(&a).await;
    assert!(u.two_step_enabled, "the first method turns two-step on");
    assert_eq!(
        u.default_method,
        Some(Method::Totp),
        "the first method becomes the default"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "the first method stores the recovery codes"
    );
    assert!(
        fx.session_exists(&keep.digest).await,
        "the session that enrolled must be kept"
    );
    assert!(
        !fx.session_exists(&other.digest).await,
        "every other session must end when two-step turns on"
    );
    assert!(
        fx.session_exists(&theirs.digest).await,
        "other users' sessions are untouched"
    );

    // Without a session to keep, every session ends; remembered devices are forgotten.
    let c = fx.user().await;
    let app = fx.active_totp(&c, None).await;
    let device = fx.device(&c, &app, NOW - 20).await;
    let s = fx.session(&c, NOW - 10).await;
    fx.enrolled(&c, 8).await;
    assert!(
        !fx.session_exists(&s.digest).await,
        "with keep_session None every session ends"
    );
    assert!(
        !fx.device_exists(&device.digest).await,
        "every remembered device must be forgotten when two-step turns on"
    );
}

/// Activating a new app replaces the older active one (its seed is destroyed) and keeps
/// two-step, the default method, the recovery codes and the sessions as they were.
pub async fn activate_totp_replaces_older_active_credential(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (old, _) = fx.enrolled(&a, 8).await;
    let s = fx.session(&a, NOW - 50).await;
    let new = fx.active_totp(&a, None).await;
    assert_eq!(
        fx.active(&a).await.map(|c| c.id),
        Some(new.clone()),
        "the newly activated credential is the active one"
    );
    assert!(
        !fx.sealed_ids().await.contains(&old),
        "the replaced credential's seed must be destroyed"
    );
    let stale = fx
        .settle_fresh(
            &a,
            NOW,
            Candidate::TotpStep {
                credential_id: old,
                step: u64::MAX >> 2,
            },
            None,
        )
        .await;
    assert!(
        !matches!(stale, crate::ports::Settled::Accepted { .. }),
        "a replaced credential must never accept a code, got {stale:?}"
    );
    let u = fx.user_record(&a).await;
    assert!(
        u.two_step_enabled && u.default_method == Some(Method::Totp),
        "replacing the app keeps two-step on"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "replacing the app keeps the recovery codes"
    );
    assert!(
        fx.session_exists(&s.digest).await,
        "replacing the app without FirstMethod keeps sessions"
    );
}

/// `activate_totp` answers false, and changes nothing, for a credential that is not (or no longer)
/// pending or not the user's.
pub async fn activate_totp_needs_a_pending_credential(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let (active, _) = fx.enrolled(&a, 8).await;
    let first = || {
        Some(FirstMethod {
            default_method: Method::Totp,
            recovery_digests: fx.digests(8),
            keep_session: None,
        })
    };

    assert!(
        !fx.store
            .activate_totp(&a, &active, NOW, first())
            .await
            .expect("activate_totp failed"),
        "activating an already active credential must answer false"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.confirmed_at),
        Some(NOW - 60),
        "a refused activation must not re-confirm"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "a refused activation must not replace the recovery codes"
    );
    assert!(
        !fx.store
            .activate_totp(&a, &CredentialId::new("no-such-credential"), NOW, first())
            .await
            .expect("activate_totp failed"),
        "activating an unknown credential must answer false"
    );

    let pending_b = fx.credential(&b, None);
    fx.store
        .put_pending_totp(pending_b.clone())
        .await
        .expect("put_pending_totp failed");
    assert!(
        !fx.store
            .activate_totp(&a, &pending_b.id, NOW, first())
            .await
            .expect("activate_totp failed"),
        "activating another user's pending credential must answer false"
    );
    assert_eq!(
        fx.pending(&b).await.map(|c| c.id),
        Some(pending_b.id),
        "another user's pending credential stays pending"
    );
    assert_eq!(
        fx.active(&a).await.map(|c| c.id),
        Some(active),
        "a refused activation keeps the active credential"
    );
}

/// Deleting the app (the last method) removes it with the recovery codes and remembered devices,
/// turns two-step to `none` and resets the failure count; sessions and other users stay.
pub async fn delete_totp_removes_app_codes_devices_and_failures(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let e = enrolled_with_everything(&fx).await;
    let other = enrolled_with_everything(&fx).await;
    fx.store
        .delete_totp(&e.user)
        .await
        .expect("delete_totp failed");
    assert_two_step_gone(&fx, &e, "delete_totp").await;
    assert!(
        fx.session_exists(&e.session.digest).await,
        "delete_totp must not end sessions"
    );
    assert_other_untouched(&fx, &other).await;
}

/// Removing two-step removes every method, code and device and resets the failure count; it ends
/// sessions only when asked (a support reset).
pub async fn remove_two_step_ends_sessions_only_when_asked(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let e = enrolled_with_everything(&fx).await;
    let other = enrolled_with_everything(&fx).await;
    fx.store
        .remove_two_step(&e.user, false)
        .await
        .expect("remove_two_step failed");
    assert_two_step_gone(&fx, &e, "remove_two_step(false)").await;
    assert!(
        fx.session_exists(&e.session.digest).await,
        "remove_two_step(end_sessions: false) must keep sessions"
    );

    let r = enrolled_with_everything(&fx).await;
    fx.store
        .remove_two_step(&r.user, true)
        .await
        .expect("remove_two_step failed");
    assert_two_step_gone(&fx, &r, "remove_two_step(true)").await;
    assert!(
        fx.session_ids(&r.user).await.is_empty(),
        "remove_two_step(end_sessions: true) must end every session"
    );
    assert_other_untouched(&fx, &other).await;
}

async fn assert_other_untouched(fx: &Fixture, other: &Enrolled) {
    let u = fx.user_record(&other.user).await;
    assert!(
        u.two_step_enabled && u.failed_attempts == 2,
        "another user's two-step state must be untouched"
    );
    assert!(
        fx.active(&other.user).await.is_some(),
        "another user's app must be untouched"
    );
    assert_eq!(
        fx.codes_left(&other.user).await,
        8,
        "another user's recovery codes must be untouched"
    );
    assert!(
        fx.device_exists(&other.device.digest).await,
        "another user's devices must be untouched"
    );
    assert!(
        fx.session_exists(&other.session.digest).await,
        "another user's sessions must be untouched"
    );
}

fn import_row(fx: &Fixture, user: &UserId, new_user: Option<NewUser>) -> ImportRow {
    ImportRow {
        new_user,
        credential: fx.credential(user, Some(NOW)),
    }
}

/// An import creates missing accounts (without a password), replaces an existing account's app,
/// and turns two-step on.
pub async fn import_totp_creates_users_and_replaces_credentials(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let existing = fx.user().await;
    let (old, _) = fx.enrolled(&existing, 8).await;
    let mut fresh = fx.new_user();
    fresh.password_hash = None;
    let rows = vec![
        import_row(&fx, &existing, None),
        import_row(&fx, &fresh.id, Some(fresh.clone())),
    ];
    let (cred_existing, cred_fresh) = (rows[0].credential.clone(), rows[1].credential.clone());
    fx.store
        .import_totp(rows)
        .await
        .expect("import_totp failed");

    let created = fx
        .store
        .user_by_email(&fresh.email)
        .await
        .expect("user_by_email failed")
        .expect("import_totp must create a missing account");
    assert_eq!(
        (created.id, created.password_hash),
        (fresh.id.clone(), None),
        "an imported account has no password"
    );
    for (user, cred) in [(&existing, &cred_existing), (&fresh.id, &cred_fresh)] {
        let active = fx
            .active(user)
            .await
            .expect("an imported credential is active");
        assert_eq!(
            (active.id, active.sealed_secret, active.confirmed_at),
            (cred.id.clone(), cred.sealed_secret.clone(), Some(NOW)),
            "import: the credential as given"
        );
        assert_eq!(
            active.last_used_step, None,
            "import: a new seed has no used step"
        );
        let u = fx.user_record(user).await;
        assert!(u.two_step_enabled, "import turns two-step on");
        assert_eq!(
            u.default_method,
            Some(Method::Totp),
            "import makes the app the default method"
        );
    }
    assert!(
        !fx.sealed_ids().await.contains(&old),
        "import must replace (destroy) the account's previous app"
    );
}

/// An import is all or nothing: a row that conflicts (a new account with a taken email) is
/// `Conflict`, and no row of the batch is stored — not the accounts, not the credentials, not the
/// replacements.
pub async fn import_totp_is_all_or_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let existing = fx.new_user();
    fx.store
        .create_user(existing.clone())
        .await
        .expect("create_user failed");
    let (old, _) = fx.enrolled(&existing.id, 8).await;

    let fresh = fx.new_user();
    let clash = NewUser {
        id: UserId::new(fx.id()),
        ..existing.clone()
    };
    let rows = vec![
        import_row(&fx, &fresh.id, Some(fresh.clone())),
        import_row(&fx, &existing.id, None),
        import_row(&fx, &clash.id, Some(clash.clone())),
    ];
    let ids: Vec<_> = rows.iter().map(|r| r.credential.id.clone()).collect();
    expect_conflict(
        fx.store.import_totp(rows).await,
        "import_totp with a new account whose email is taken",
    );

    assert!(
        fx.store
            .user_by_id(&fresh.id)
            .await
            .expect("user_by_id failed")
            .is_none(),
        "a failed import must not create any account"
    );
    assert!(
        fx.store
            .user_by_id(&clash.id)
            .await
            .expect("user_by_id failed")
            .is_none(),
        "the conflicting account must not exist"
    );
    let sealed = fx.sealed_ids().await;
    assert!(
        ids.iter().all(|id| !sealed.contains(id)),
        "a failed import must not store any credential"
    );
    assert_eq!(
        fx.active(&existing.id).await.map(|c| c.id),
        Some(old),
        "a failed import must not replace an existing app"
    );
    let u = fx.user_record(&existing.id).await;
    assert_eq!(
        u.email, existing.email,
        "the existing account keeps its email"
    );
}

/// `all_sealed_secrets` lists every seed (pending ones too) with its owner; `reseal_secrets`
/// replaces the blobs and nothing else.
pub async fn reseal_secrets_round_trip(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let (cred_a, _) = fx.enrolled(&a, 0).await;
    fx.settle_fresh(
        &a,
        NOW,
        Candidate::TotpStep {
            credential_id: cred_a.clone(),
            step: 7_777,
        },
        None,
    )
    .await;
    let pending_b = fx.credential(&b, None);
    fx.store
        .put_pending_totp(pending_b.clone())
        .await
        .expect("put_pending_totp failed");

    let mut all = fx
        .store
        .all_sealed_secrets()
        .await
        .expect("all_sealed_secrets failed");
    all.sort();
    let blob_a = fx.active(&a).await.expect("a has an app").sealed_secret;
    let mut expected = vec![
        (cred_a.clone(), a.clone(), blob_a),
        (
            pending_b.id.clone(),
            b.clone(),
            pending_b.sealed_secret.clone(),
        ),
    ];
    expected.sort();
    assert_eq!(
        all, expected,
        "all_sealed_secrets lists every seed, pending ones too, with its owner"
    );

    let (new_a, new_b) = (b"resealed-a".to_vec(), b"resealed-b".to_vec());
    fx.store
        .reseal_secrets(vec![
            (cred_a.clone(), new_a.clone()),
            (pending_b.id.clone(), new_b.clone()),
        ])
        .await
        .expect("reseal_secrets failed");
    let active = fx.active(&a).await.expect("a still has an app");
    assert_eq!(
        active.sealed_secret, new_a,
        "reseal_secrets replaces the active seed's blob"
    );
    assert_eq!(
        (active.last_used_step, active.confirmed_at.is_some()),
        (Some(7_777), true),
        "reseal_secrets changes nothing but the blob"
    );
    assert_eq!(
        fx.pending(&b).await.map(|c| c.sealed_secret),
        Some(new_b),
        "reseal_secrets replaces a pending seed's blob"
    );
    fx.store
        .reseal_secrets(Vec::new())
        .await
        .expect("reseal_secrets of nothing succeeds");
}
