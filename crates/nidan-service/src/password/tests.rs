//! The hashing pool: results identical to the `argon2` crate's, old parameters still verify,
//! the queue bound is exact, and the work happens on the dedicated low-priority threads.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::Duration;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::pool::Memory;
use super::{HashParams, PasswordHasher};
use crate::error::ServiceError;

/// Small parameters so tests that hash many times stay fast.
const SMALL: HashParams = HashParams {
    m_kib: 256,
    t: 1,
    p: 1,
};

fn pw(s: &str) -> Zeroizing<String> {
    Zeroizing::new(s.to_owned())
}

/// A PHC string made by the `argon2` crate's own hasher (the pre-pool code path).
fn reference_hash(alg: Algorithm, version: Version, params: Params, password: &str) -> String {
    Argon2::new(alg, version, params)
        .hash_password_with_salt(password.as_bytes(), b"reference-salt16")
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn hash_is_the_same_phc_string_as_the_argon2_crate() {
    let hasher = PasswordHasher::new(HashParams::OWASP, 1, 4, [1; 16]).unwrap();
    let ours = hasher
        .hash(pw("correct horse battery"), *b"reference-salt16")
        .await
        .unwrap();
    let theirs = reference_hash(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).unwrap(),
        "correct horse battery",
    );
    assert_eq!(ours, theirs);
    assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn right_password_verifies_and_wrong_one_does_not() {
    let hasher = PasswordHasher::new(HashParams::OWASP, 2, 4, [2; 16]).unwrap();
    let stored = hasher.hash(pw("right password"), [9; 16]).await.unwrap();
    assert!(
        hasher
            .verify(pw("right password"), Some(stored.clone()))
            .await
            .unwrap()
    );
    assert!(
        !hasher
            .verify(pw("wrong password"), Some(stored.clone()))
            .await
            .unwrap()
    );
    assert!(!hasher.verify(pw(""), Some(stored)).await.unwrap());
}

#[tokio::test]
async fn hashes_made_with_other_parameters_still_verify() {
    let hasher = PasswordHasher::new(SMALL, 1, 8, [3; 16]).unwrap();
    let cases = [
        // Larger m than configured: a one-off buffer.
        (
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None),
        ),
        // Smaller m, more passes, more lanes, a longer output.
        (
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 3, 2, Some(64)),
        ),
        // Other variants and the old version.
        (
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(512, 2, 1, None),
        ),
        (
            Algorithm::Argon2d,
            Version::V0x10,
            Params::new(128, 1, 1, Some(16)),
        ),
    ];
    for (alg, version, params) in cases {
        let stored = reference_hash(alg, version, params.unwrap(), "an older password");
        assert!(
            hasher
                .verify(pw("an older password"), Some(stored.clone()))
                .await
                .unwrap(),
            "{stored}"
        );
        assert!(
            !hasher
                .verify(pw("an older passwore"), Some(stored.clone()))
                .await
                .unwrap(),
            "{stored}"
        );
    }
    // The larger hash did not grow the kept memory for good.
    let kept = hasher.run(|memory| memory.kept_bytes()).await.unwrap();
    assert_eq!(kept, 256 * 1024);
}

#[tokio::test]
async fn unknown_accounts_and_garbage_hashes_never_verify() {
    let hasher = PasswordHasher::new(SMALL, 1, 8, [4; 16]).unwrap();
    assert!(
        !hasher
            .verify(pw("nidan dummy password for unknown accounts"), None)
            .await
            .unwrap()
    );
    for garbage in [
        "",
        "not a hash",
        "$argon2id$v=19$m=256,t=1,p=1",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0",
        "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=77$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        assert!(
            !hasher
                .verify(pw("x"), Some(garbage.to_owned()))
                .await
                .unwrap(),
            "{garbage}"
        );
    }
}

/// Occupies one hashing thread until the returned sender is dropped; returns once it runs.
fn hold_a_worker(hasher: &PasswordHasher) -> mpsc::Sender<()> {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let _answer = hasher
        .submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = released.recv();
        })
        .unwrap();
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    release
}

#[tokio::test]
async fn the_queue_is_full_at_exactly_workers_plus_max_queue() {
    for (workers, max_queue) in [(1, 1), (1, 3), (2, 2)] {
        let hasher = PasswordHasher::new(SMALL, workers, max_queue, [5; 16]).unwrap();
        assert_eq!(hasher.workers(), workers);
        let holds: Vec<_> = (0..workers).map(|_| hold_a_worker(&hasher)).collect();
        let waiting: Vec<_> = (0..max_queue)
            .map(|i| hasher.submit(move |_| i).unwrap())
            .collect();
        assert!(
            matches!(
                hasher.submit(|_| ()),
                Err(ServiceError::Busy { retry_after: 1 })
            ),
            "{workers} workers, queue {max_queue}"
        );
        assert!(matches!(
            hasher.verify(pw("x"), None).await,
            Err(ServiceError::Busy { .. })
        ));
        drop(holds);
        for (i, answer) in waiting.into_iter().enumerate() {
            assert_eq!(answer.await.unwrap(), i);
        }
        // Room again once the queue drained.
        assert!(!hasher.verify(pw("x"), None).await.unwrap());
    }
}

#[tokio::test]
async fn a_job_whose_caller_left_is_skipped() {
    let hasher = PasswordHasher::new(SMALL, 1, 4, [6; 16]).unwrap();
    let hold = hold_a_worker(&hasher);
    let (ran_tx, ran) = mpsc::channel();
    drop(hasher.submit(move |_| ran_tx.send(()).unwrap()).unwrap());
    drop(hold);
    assert_eq!(hasher.run(|_| 7).await.unwrap(), 7);
    assert!(ran.try_recv().is_err());
}

#[tokio::test]
async fn a_panicking_job_does_not_shrink_the_pool() {
    let hasher = PasswordHasher::new(SMALL, 1, 4, [7; 16]).unwrap();
    let failed = hasher.run(|_| -> u8 { panic!("job panics") }).await;
    assert!(matches!(failed, Err(ServiceError::Internal(_))));
    assert_eq!(hasher.run(|_| 8).await.unwrap(), 8);
}

#[tokio::test]
async fn hashing_runs_on_the_dedicated_threads_reusing_one_block() {
    let hasher = PasswordHasher::new(HashParams::OWASP, 1, 4, [8; 16]).unwrap();
    let idle = hasher.run(|memory| memory.kept_bytes()).await.unwrap();
    assert_eq!(idle, 0, "no Argon2 memory before the first hash");
    for _ in 0..3 {
        hasher.hash(pw("some password"), [1; 16]).await.unwrap();
    }
    let (name, kept) = hasher
        .run(|memory| {
            let name = std::thread::current().name().map(str::to_owned);
            (name, memory.kept_bytes())
        })
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("nidan-hash-0"));
    assert_eq!(kept, 19_456 * 1024);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_at_the_asked_lower_priority() {
    let nice_of_this_thread =
        || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
    let own = nice_of_this_thread();
    for (niceness, expected) in [(0, own), (10, (own + 10).min(19)), (30, 19)] {
        let hasher = PasswordHasher::with_niceness(SMALL, 2, 4, [9; 16], niceness).unwrap();
        let nice = hasher.run(move |_| nice_of_this_thread()).await.unwrap();
        assert_eq!(nice, expected, "niceness {niceness}");
    }
}

#[tokio::test]
async fn a_hashing_thread_out_of_work_keeps_nothing_derived_from_a_password() {
    let hasher = PasswordHasher::new(SMALL, 1, 4, [9; 16]).unwrap();
    hasher.hash(pw("some password"), [1; 16]).await.unwrap();
    // The worker wipes its blocks once no job waits. A look queued before it got there still
    // sees the hash's blocks; after a pause with nothing queued, the last look must not.
    let mut looks = Vec::new();
    for _ in 0..3 {
        looks.push(
            hasher
                .run(|memory| (memory.kept_bytes(), memory.kept_blocks_are_zero()))
                .await
                .unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        looks.iter().all(|(kept, _)| *kept == 256 * 1024),
        "{looks:?}"
    );
    assert!(looks[2].1, "{looks:?}");
}

/// Runs `job` on each of the two threads of `hasher` once: the two runs meet at a barrier, so
/// neither thread can take both.
async fn on_both_threads<T: Send + 'static>(
    hasher: &PasswordHasher,
    job: fn(&mut Memory) -> T,
) -> [T; 2] {
    let both = std::sync::Arc::new(std::sync::Barrier::new(2));
    let run = |both: std::sync::Arc<std::sync::Barrier>| {
        hasher.run(move |memory| {
            both.wait();
            job(memory)
        })
    };
    let (a, b) = tokio::join!(run(both.clone()), run(both));
    [a.unwrap(), b.unwrap()]
}

#[tokio::test]
async fn every_hashing_thread_out_of_work_wipes_its_memory_not_only_the_first() {
    let hasher = PasswordHasher::new(SMALL, 2, 4, [11; 16]).unwrap();
    on_both_threads(&hasher, |memory| {
        memory.with_blocks(256, |blocks| {
            for block in blocks {
                block.as_mut().fill(u64::MAX);
            }
        })
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let looks = on_both_threads(&hasher, |memory| {
        (memory.kept_bytes(), memory.kept_blocks_are_zero())
    })
    .await;
    assert!(
        looks
            .iter()
            .all(|(kept, zero)| *kept == 256 * 1024 && *zero),
        "{looks:?}"
    );
}
