//! The races: many requests at once for the same one-time thing. Each racer behaves like the
//! service (reads the failure count fresh, retries on `Raced`), and all start together behind a
//! barrier on a multi-thread runtime. Exactly one may win; the losers are counted honestly.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::fixture::{Fixture, MAX_ATTEMPTS, NOW, STEP, settle_like_service};
use crate::UserId;
use crate::ports::{Candidate, ChallengeAttempt, Settled, Store};

/// Concurrent requests per race.
const RACERS: usize = 50;

/// Runs `RACERS` settlements at once; `make(i)` gives racer `i`'s candidate and challenge side.
async fn race<M>(store: &Arc<dyn Store>, user: &UserId, make: M) -> Vec<Settled>
where
    M: Fn(usize) -> (Candidate, Option<ChallengeAttempt>),
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut racers = Vec::with_capacity(RACERS);
    for i in 0..RACERS {
        let (candidate, challenge) = make(i);
        racers.push(spawn_racer(
            store.clone(),
            user.clone(),
            barrier.clone(),
            candidate,
            challenge,
        ));
    }
    let mut results = Vec::with_capacity(RACERS);
    for racer in racers {
        results.push(racer.await.expect("a racing attempt panicked"));
    }
    results
}

fn spawn_racer(
    store: Arc<dyn Store>,
    user: UserId,
    barrier: Arc<Barrier>,
    candidate: Candidate,
    challenge: Option<ChallengeAttempt>,
) -> tokio::task::JoinHandle<Settled> {
    tokio::spawn(async move {
        barrier.wait().await;
        settle_like_service(store.as_ref(), &user, NOW, candidate, challenge).await
    })
}

fn count(results: &[Settled], pick: impl Fn(&Settled) -> bool) -> usize {
    results.iter().filter(|s| pick(s)).count()
}

/// 50 concurrent attempts with the same TOTP step: exactly one is accepted, every other one is a
/// rejected replay, and the step is stored once.
pub async fn race_same_totp_step_accepted_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let results = race(&fx.store, &a, |_| {
        (
            Candidate::TotpStep {
                credential_id: cred.clone(),
                step: STEP,
            },
            None,
        )
    })
    .await;

    let accepted = count(&results, |s| matches!(s, Settled::Accepted { .. }));
    let replays = count(&results, |s| {
        matches!(s, Settled::Rejected { replayed: true, .. })
    });
    assert_eq!(
        accepted, 1,
        "{RACERS} concurrent uses of one TOTP step: exactly one must be accepted, got {results:?}"
    );
    assert_eq!(
        replays,
        RACERS - 1,
        "every other use of the step must be a rejected replay, got {results:?}"
    );
    assert_eq!(
        fx.active(&a).await.and_then(|c| c.last_used_step),
        Some(STEP),
        "the step is stored as the last used one"
    );
    // Rejections after the acceptance are counted; ones before it were reset by it.
    let failures = fx.failures(&a).await;
    assert!(
        failures <= (RACERS - 1) as u32,
        "the failure count cannot exceed the rejections, got {failures}"
    );
}

/// 50 concurrent attempts with the same recovery code: exactly one is accepted, and exactly one
/// code is used up.
pub async fn race_same_recovery_code_accepted_once(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (_, codes) = fx.enrolled(&a, 8).await;
    let code = codes[3];
    let results = race(&fx.store, &a, |_| (Candidate::RecoveryDigest(code), None)).await;

    let accepted: Vec<_> = results
        .iter()
        .filter(|s| matches!(s, Settled::Accepted { .. }))
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "{RACERS} concurrent uses of one recovery code: exactly one must be accepted, got {results:?}"
    );
    assert_eq!(
        accepted[0],
        &Settled::Accepted {
            recovery_codes_left: Some(7)
        },
        "the winner sees 7 codes left"
    );
    assert_eq!(
        count(&results, |s| matches!(s, Settled::Rejected { .. })),
        RACERS - 1,
        "every other use must be rejected, got {results:?}"
    );
    assert_eq!(
        fx.codes_left(&a).await,
        7,
        "exactly one recovery code is used up"
    );
}

/// 50 concurrent wrong codes at one challenge capped at 5: exactly 5 are evaluated (rejected and
/// counted on the account), the rest find the challenge dead and count nothing.
pub async fn race_wrong_codes_on_one_challenge_evaluated_max_attempts_times(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    fx.enrolled(&a, 0).await;
    let challenge = fx.challenge(&a, NOW - 10).await;
    let results = race(&fx.store, &a, |_| {
        (
            Candidate::Wrong,
            Some(fx.at_challenge(&a, challenge, NOW, None)),
        )
    })
    .await;

    let max = MAX_ATTEMPTS as usize;
    let mut left: Vec<u32> = results
        .iter()
        .filter_map(|s| match s {
            Settled::Rejected {
                challenge_attempts_left,
                ..
            } => Some(challenge_attempts_left.unwrap_or(u32::MAX)),
            _ => None,
        })
        .collect();
    left.sort_unstable();
    assert_eq!(
        left.len(),
        max,
        "exactly {max} wrong codes may be evaluated at one challenge, got {results:?}"
    );
    assert_eq!(
        left,
        (0..MAX_ATTEMPTS).collect::<Vec<_>>(),
        "each evaluation reports a distinct number of attempts left"
    );
    assert_eq!(
        count(&results, |s| *s == Settled::ChallengeDead),
        RACERS - max,
        "every other attempt finds the challenge dead, got {results:?}"
    );
    assert_eq!(
        fx.failures(&a).await,
        MAX_ATTEMPTS,
        "only the evaluated attempts count on the account"
    );
    let c = fx
        .store
        .challenge_by_digest(&challenge)
        .await
        .expect("challenge_by_digest failed")
        .expect("the challenge exists");
    assert_eq!(
        c.attempts, MAX_ATTEMPTS,
        "the challenge records exactly max_attempts attempts"
    );
}

/// 50 concurrent right codes (different steps) at one challenge: exactly one is accepted and one
/// session created; the challenge is consumed, so the rest find it dead.
pub async fn race_right_codes_on_one_challenge_grant_one_session(store: Arc<dyn Store>) {
    let fx = Fixture::new(store);
    let a = fx.user().await;
    let (cred, _) = fx.enrolled(&a, 0).await;
    let challenge = fx.challenge(&a, NOW - 10).await;
    let grants: Vec<_> = (0..RACERS)
        .map(|_| fx.at_challenge(&a, challenge, NOW, Some(fx.new_device(&a, NOW))))
        .collect();
    let results = race(&fx.store, &a, |i| {
        (
            Candidate::TotpStep {
                credential_id: cred.clone(),
                step: STEP + i as u64,
            },
            Some(grants[i].clone()),
        )
    })
    .await;

    assert_eq!(
        count(&results, |s| matches!(s, Settled::Accepted { .. })),
        1,
        "one challenge must grant exactly one session, got {results:?}"
    );
    assert_eq!(
        count(&results, |s| *s == Settled::ChallengeDead),
        RACERS - 1,
        "every other attempt finds the challenge consumed, got {results:?}"
    );
    assert_eq!(
        fx.session_ids(&a).await.len(),
        1,
        "exactly one session exists for the account"
    );
    assert_eq!(
        fx.device_ids(&a).await.len(),
        1,
        "exactly one device is remembered"
    );
    assert_eq!(fx.failures(&a).await, 0, "nothing is counted");
}
