//! Sign-in challenges: capped, expiring, bound to one user, and consumed by the session they grant.

use std::sync::Arc;

use super::fixture::{CHALLENGE_TTL, Fixture, MAX_ATTEMPTS, NOW, STEP, rejected};
use crate::ports::{Candidate, Settled, Store};

/// A challenge evaluates at most `max_attempts` codes: each wrong one says how many are left, and
/// after the last every attempt — even a right code — is `ChallengeDead` and counts nothing.
pub async fn challenge_dies_after_max_attempts(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let challenge = fx.challenge(&a, NOW - 10).await;

    for i in 1..=MAX_ATTEMPTS {
        let at = fx.at_challenge(&a, challenge, NOW, None);
        let settled = fx.settle_fresh(&a, NOW, Candidate::Wrong, Some(at)).await;
        assert_eq!(
            settled,
            rejected(i, Some(MAX_ATTEMPTS - i), false),
            "wrong code {i} at a challenge counts and says the attempts left"
        );
    }
    let right = Candidate::TotpStep {
        credential_id: cred.clone(),
        step: STEP,
    };
    for candidate in [Candidate::Wrong, right.clone(), Candidate::Wrong] {
        let at = fx.at_challenge(&a, challenge, NOW, None);
        let grant = at.grant.clone();
        let settled = fx.settle_fresh(&a, NOW, candidate.clone(), Some(at)).await;
        assert_eq!(
            settled,
            Settled::ChallengeDead,
            "a challenge out of attempts must answer ChallengeDead ({candidate:?})"
        );
        assert!(
            !fx.session_exists(&grant.session.digest).await,
            "a dead challenge must not create a session"
        );
    }
    assert_eq!(
        fx.failures(&a).await,
        MAX_ATTEMPTS,
        "attempts at a dead challenge must not count on the account"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        None,
        "a dead challenge must not consume a step"
    );
    let c = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("the challenge exists");
    assert_eq!(
        (c.attempts, c.consumed_at),
        (MAX_ATTEMPTS, None),
        "the challenge records exactly max_attempts attempts"
    );
    assert_eq!(
        fx.settle_fresh(&a, NOW, right, None).await,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "the step is still good outside the dead challenge"
    );
}

/// A challenge is dead from its `expires_at` on: right or wrong, nothing is counted or consumed.
pub async fn challenge_dies_when_expired(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let challenge = fx.challenge(&a, NOW - CHALLENGE_TTL).await;
    let stored = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("challenge_by_digest must find a created challenge");
    assert_eq!(
        (stored.user_id.clone(), stored.created_at, stored.expires_at),
        (a.clone(), NOW - CHALLENGE_TTL, NOW),
        "challenge_by_digest: fields"
    );
    assert_eq!(
        (stored.attempts, stored.consumed_at),
        (0, None),
        "a new challenge has no attempts and is not consumed"
    );

    for candidate in [
        Candidate::Wrong,
        Candidate::TotpStep {
            credential_id: cred,
            step: STEP,
        },
    ] {
        let at = fx.at_challenge(&a, challenge, NOW, None);
        let grant = at.grant.clone();
        assert_eq!(
            fx.settle_fresh(&a, NOW, candidate.clone(), Some(at)).await,
            Settled::ChallengeDead,
            "a challenge at its expires_at must be dead ({candidate:?})"
        );
        assert!(
            !fx.session_exists(&grant.session.digest).await,
            "an expired challenge must not create a session"
        );
    }
    assert_eq!(
        fx.failures(&a).await,
        0,
        "attempts at an expired challenge must not count on the account"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        None,
        "an expired challenge must not consume a step"
    );
    let c = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("the challenge exists");
    assert_eq!(c.attempts, 0, "an expired challenge records no attempt");
}

/// A challenge belongs to the user whose password was right: an attempt for another account with
/// its digest is `ChallengeDead`, and the challenge stays usable for its owner.
pub async fn challenge_is_bound_to_its_user(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let b = fx.user().await;
    let (cred_b, _) = fx.enrolled(&b, 0).await;
    let (cred_a, _) = fx.enrolled(&a, 0).await;
    let challenge = fx.challenge(&a, NOW - 10).await;

    let at = fx.at_challenge(&b, challenge, NOW, None);
    let grant = at.grant.clone();
    let settled = fx
        .settle_fresh(
            &b,
            NOW,
            Candidate::TotpStep {
                credential_id: cred_b,
                step: STEP,
            },
            Some(at),
        )
        .await;
    assert_eq!(
        settled,
        Settled::ChallengeDead,
        "another user's challenge must answer ChallengeDead"
    );
    assert!(
        !fx.session_exists(&grant.session.digest).await,
        "another user's challenge must not create a session"
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
        "another user's attempt must not touch the challenge"
    );

    let at = fx.at_challenge(&a, challenge, NOW, None);
    let settled = fx
        .settle_fresh(
            &a,
            NOW,
            Candidate::TotpStep {
                credential_id: cred_a,
                step: STEP,
            },
            Some(at),
        )
        .await;
    assert_eq!(
        settled,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "the owner can still pass the challenge"
    );
}

/// A right code at a live challenge creates the session (and the device, when asked) in the same
/// settlement and consumes the challenge: the next attempt is `ChallengeDead`.
pub async fn challenge_success_creates_session_and_device_then_is_consumed(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, codes) = fx.enrolled(&a, 8).await;
    fx.settle_fresh(&a, NOW - 20, Candidate::Wrong, None).await;
    let challenge = fx.challenge(&a, NOW - 10).await;

    let at = fx.at_challenge(&a, challenge, NOW, None);
    assert_eq!(
        fx.settle_fresh(&a, NOW, Candidate::Wrong, Some(at)).await,
        rejected(2, Some(MAX_ATTEMPTS - 1), false),
        "a wrong code first"
    );

    let device = fx.new_device(&a, NOW);
    let at = fx.at_challenge(&a, challenge, NOW, Some(device.clone()));
    let session = at.grant.session.clone();
    let settled = fx
        .settle_fresh(
            &a,
            NOW,
            Candidate::TotpStep {
                credential_id: cred.clone(),
                step: STEP,
            },
            Some(at),
        )
        .await;
    assert_eq!(
        settled,
        Settled::Accepted {
            recovery_codes_left: None
        },
        "a right code at a live challenge is accepted"
    );
    assert_eq!(
        fx.failures(&a).await,
        0,
        "success at a challenge resets the failure count"
    );

    let s = fx
        .store
        .session_by_digest(&session.digest)
        .await
        .expect("session_by_digest failed")
        .expect("success at a challenge must create the session");
    assert_eq!(
        (s.id, s.user_id.clone()),
        (session.record.id.clone(), a.clone()),
        "the granted session is the one asked for"
    );
    let d = fx
        .store
        .device_by_digest(&device.digest)
        .await
        .expect("device_by_digest failed")
        .expect("success at a challenge must remember the device it was given");
    assert_eq!(
        (d.id, d.user_id, d.expires_at),
        (
            device.record.id.clone(),
            a.clone(),
            device.record.expires_at
        ),
        "the remembered device is the one asked for"
    );
    let c = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("the challenge exists");
    assert_eq!(
        c.consumed_at,
        Some(NOW),
        "success must mark the challenge consumed"
    );

    for candidate in [
        Candidate::TotpStep {
            credential_id: cred,
            step: STEP + 1,
        },
        Candidate::RecoveryDigest(codes[0]),
        Candidate::Wrong,
    ] {
        let at = fx.at_challenge(&a, challenge, NOW + 1, None);
        let grant = at.grant.clone();
        assert_eq!(
            fx.settle_fresh(&a, NOW + 1, candidate.clone(), Some(at))
                .await,
            Settled::ChallengeDead,
            "a consumed challenge must be dead ({candidate:?})"
        );
        assert!(
            !fx.session_exists(&grant.session.digest).await,
            "a consumed challenge must not create a second session"
        );
    }
    assert_eq!(
        fx.codes_left(&a).await,
        8,
        "a consumed challenge must not consume a recovery code"
    );
    assert_eq!(
        fx.failures(&a).await,
        0,
        "a consumed challenge counts nothing"
    );
}
