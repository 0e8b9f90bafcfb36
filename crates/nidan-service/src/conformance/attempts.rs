//! Settling code attempts, one at a time: the compare-and-swap on the failure count, TOTP replay
//! and recovery codes.

use std::sync::Arc;

use super::fixture::{Fixture, NOW, STEP, rejected};
use nidan_domain::Method;

use crate::ports::{Attempt, Candidate, NewActivity, Settled, Store};

/// An attempt whose `seen_failures` is stale answers `Raced` and writes nothing: no failure, no
/// consumed step or code, no challenge attempt, no session or device.
pub async fn settle_attempt_with_stale_failures_races_and_writes_nothing(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, codes) = fx.enrolled(&a, 8).await;
    let first = fx
        .settle(Attempt {
            user_id: a.clone(),
            seen_failures: 0,
            now: NOW - 10,
            candidate: Candidate::Wrong,
            challenge: None,
            record: None,
        })
        .await;
    assert_eq!(
        first,
        rejected(1, None, false),
        "a wrong code with the right seen_failures is counted"
    );
    let before = fx.user_record(&a).await;
    let challenge = fx.challenge(&a, NOW - 5).await;

    let candidates = [
        Candidate::TotpStep {
            credential_id: cred.clone(),
            step: STEP,
        },
        Candidate::RecoveryDigest(codes[0]),
        Candidate::Wrong,
    ];
    for candidate in candidates {
        for stale in [0, 2] {
            let at = fx.at_challenge(&a, challenge, NOW, Some(fx.new_device(&a, NOW)));
            let grant = at.grant.clone();
            let attempt = Attempt {
                user_id: a.clone(),
                seen_failures: stale,
                now: NOW,
                candidate: candidate.clone(),
                challenge: Some(at),
                record: None,
            };
            assert_eq!(
                fx.settle(attempt).await,
                Settled::Raced,
                "seen_failures {stale} while the account has 1 must answer Raced ({candidate:?})"
            );
            assert!(
                !fx.session_exists(&grant.session.digest).await,
                "a Raced attempt must not create a session"
            );
            let device = grant.device.expect("the grant has a device");
            assert!(
                !fx.device_exists(&device.digest).await,
                "a Raced attempt must not remember a device"
            );
        }
    }

    let after = fx.user_record(&a).await;
    assert_eq!(
        (after.failed_attempts, after.last_failure_at),
        (before.failed_attempts, before.last_failure_at),
        "a Raced attempt must not touch the failure count"
    );
    let credential = fx.active(&a).await.expect("the credential is still there");
    assert_eq!(
        credential.last_used_step, None,
        "a Raced attempt must not consume a TOTP step"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "a Raced attempt must not consume a recovery code"
    );
    let c = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("the challenge exists");
    assert_eq!(
        (c.attempts, c.consumed_at),
        (0, None),
        "a Raced attempt must not use up a challenge attempt"
    );
}

/// A TOTP step is accepted only when newer than the last accepted one: the same step again is a
/// replay, an older one is rejected, the next one is accepted. Every rejection counts a failure
/// (with its time); an acceptance sets the count back to zero.
pub async fn totp_step_accepted_only_forward_and_failures_counted(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let step = |s: u64| Candidate::TotpStep {
        credential_id: cred.clone(),
        step: s,
    };

    assert_eq!(
        fx.settle_fresh(&a, NOW - 40, Candidate::Wrong, None).await,
        rejected(1, None, false),
        "a wrong code counts one failure"
    );
    let u = fx.user_record(&a).await;
    assert_eq!(
        (u.failed_attempts, u.last_failure_at),
        (1, Some(NOW - 40)),
        "a rejection records the failure and its time"
    );

    assert_eq!(
        fx.settle_fresh(&a, NOW, step(STEP), None).await,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "a first step must be accepted"
    );
    let u = fx.user_record(&a).await;
    assert_eq!(
        (u.failed_attempts, u.last_failure_at),
        (0, None),
        "an acceptance must reset the failure count"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        Some(STEP),
        "an accepted step must be stored as the last used step"
    );

    assert_eq!(
        fx.settle_fresh(&a, NOW + 1, step(STEP), None).await,
        rejected(1, None, true),
        "the same step again is a replay"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW + 2, step(STEP - 1), None).await,
        rejected(2, None, true),
        "an older step is rejected"
    );
    assert_eq!(
        fx.user_record(&a).await.last_failure_at,
        Some(NOW + 2),
        "each rejection moves last_failure_at"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        Some(STEP),
        "a rejected step must not move the last used step"
    );

    assert_eq!(
        fx.settle_fresh(&a, NOW + 30, step(STEP + 1), None).await,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "the next step must be accepted"
    );
    assert_eq!(
        fx.failures(&a).await,
        0,
        "an acceptance must reset the failure count"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        Some(STEP + 1),
        "the last used step moves forward"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW + 31, step(STEP), None).await,
        rejected(1, None, true),
        "a step behind the last used one stays rejected"
    );
}

/// A TOTP step matched against another user's credential is never accepted and never consumes
/// that credential's step.
pub async fn totp_step_of_another_users_credential_is_not_accepted(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    fx.enrolled(&a, 0).await;
    let (cred_b, _) = fx.enrolled(&b, 0).await;
    let candidate = Candidate::TotpStep {
        credential_id: cred_b.clone(),
        step: STEP,
    };
    let settled = fx.settle_fresh(&a, NOW, candidate, None).await;
    assert!(
        matches!(settled, Settled::Rejected { failures: 1, .. }),
        "a step of another user's credential must be rejected and counted, got {settled:?}"
    );
    assert_eq!(
        fx.active(&b).await.and_then(|c| c.last_used_step),
        None,
        "another user's credential must not be consumed"
    );
    let own = Candidate::TotpStep {
        credential_id: cred_b,
        step: STEP,
    };
    assert_eq!(
        fx.settle_fresh(&b, NOW, own, None).await,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "the owner can still use that step"
    );
}

/// A recovery code works once and says how many are left; the same digest again is rejected;
/// recreating the set kills every old code.
pub async fn recovery_code_works_once_and_recreate_kills_old_set(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let old = fx.digests(8);
    fx.store
        .replace_recovery_codes(&a, old.clone(), NOW - 100)
        .await
        .expect("replace_recovery_codes failed");
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "replace_recovery_codes stores every code"
    );

    fx.settle_fresh(&a, NOW - 5, Candidate::Wrong, None).await;
    assert_eq!(
        fx.settle_fresh(&a, NOW, Candidate::RecoveryDigest(old[0]), None)
            .await,
        Settled::Accepted {
            recovery_codes_left: Some(7)
        },
        "a recovery code works and says 7 are left"
    );
    assert_eq!(
        fx.failures(&a).await,
        0,
        "a recovery code resets the failure count"
    );
    let again = fx
        .settle_fresh(&a, NOW + 1, Candidate::RecoveryDigest(old[0]), None)
        .await;
    assert!(
        matches!(
            again,
            Settled::Rejected {
                failures: 1,
                challenge_attempts_left: None,
                ..
            }
        ),
        "a used recovery code is rejected and counted, got {again:?}"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        7,
        "a rejected code changes nothing"
    );
    let unknown = fx
        .settle_fresh(&a, NOW + 2, Candidate::RecoveryDigest(fx.digest()), None)
        .await;
    assert_eq!(
        unknown,
        rejected(2, None, false),
        "an unknown recovery code is rejected and counted"
    );

    let new = fx.digests(8);
    fx.store
        .replace_recovery_codes(&a, new.clone(), NOW + 10)
        .await
        .expect("replace_recovery_codes failed");
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "recreating gives a full set again"
    );
    let dead = fx
        .settle_fresh(&a, NOW + 11, Candidate::RecoveryDigest(old[1]), None)
        .await;
    assert!(
        matches!(dead, Settled::Rejected { .. }),
        "an unused code of the old set must die when the set is recreated, got {dead:?}"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW + 12, Candidate::RecoveryDigest(new[7]), None)
            .await,
        Settled::Accepted {
            recovery_codes_left: Some(7)
        },
        "a code of the new set works"
    );
}

/// A recovery code digest works only for the account it was made for.
pub async fn recovery_code_of_another_user_is_not_accepted(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let codes = fx.digests(8);
    fx.store
        .replace_recovery_codes(&b, codes.clone(), NOW - 100)
        .await
        .expect("replace_recovery_codes failed");
    let settled = fx
        .settle_fresh(&a, NOW, Candidate::RecoveryDigest(codes[0]), None)
        .await;
    assert!(
        matches!(settled, Settled::Rejected { failures: 1, .. }),
        "another user's recovery code must be rejected and counted, got {settled:?}"
    );
    assert_eq!(
        fx.codes_left(&b).await,
        8,
        "another user's recovery code must not be consumed"
    );
}

/// An attempt that carries an activity line writes it in its own transaction with the outcome's
/// result: `success` when accepted, `replayed` when the step was used in the meantime, the
/// caller's result for a wrong code, and nothing at all when it raced.
pub async fn settle_attempt_records_activity_with_its_outcome(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let line = |result: &'static str| NewActivity {
        user_id: a.clone(),
        at: NOW,
        kind: "app_verify",
        method: Some(Method::Totp),
        result,
        ip: "192.0.2.7".into(),
        user_agent: "conformance".into(),
        detail: Some("app: test".into()),
        country: None,
    };
    let attempt = |seen: u32, candidate: Candidate| Attempt {
        user_id: a.clone(),
        seen_failures: seen,
        now: NOW,
        candidate,
        challenge: None,
        record: Some(line("invalid_code")),
    };
    let step = Candidate::TotpStep {
        credential_id: cred.clone(),
        step: STEP,
    };

    assert_eq!(
        fx.settle(attempt(1, Candidate::Wrong)).await,
        Settled::Raced
    );
    assert_eq!(
        fx.settle(attempt(0, step.clone())).await,
        Settled::Accepted {
            recovery_codes_left: None
        }
    );
    assert_eq!(
        fx.settle(attempt(0, step)).await,
        rejected(1, None, true),
        "the same step again is a replay"
    );
    assert_eq!(
        fx.settle(attempt(1, Candidate::Wrong)).await,
        rejected(2, None, false)
    );

    let listed = fx
        .store
        .list_activity(&a, 10, None)
        .await
        .expect("list_activity failed");
    let results: Vec<&str> = listed.iter().rev().map(|e| e.result.as_str()).collect();
    assert_eq!(
        results,
        ["success", "replayed", "invalid_code"],
        "one line per settled attempt, none for the raced one"
    );
    let first = listed.last().expect("three lines");
    assert_eq!(
        (
            first.kind.as_str(),
            first.method.as_deref(),
            first.ip.as_str()
        ),
        ("app_verify", Some("totp"), "192.0.2.7")
    );
    assert_eq!(first.detail.as_deref(), Some("app: test"));
}
