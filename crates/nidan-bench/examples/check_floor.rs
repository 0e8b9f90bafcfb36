//! What the SQLite store alone costs per code check: the account read and the settling write
//! (replay step and activity line) of an accepted TOTP code, through the `Store` API, with as
//! many checks in flight as the benchmark's connections — no HTTP, no JSON, no crypto, no load
//! generator on the same CPUs. It prints checks per second and this process's CPU time per
//! check, the share of a verification that no change above the store can remove
//! (docs/performance.md, "The storage floor").
//!
//! ```sh
//! cargo run --release -p nidan-bench --example check_floor -- \
//!     [accounts] [in_flight] [seconds] [with-activity|without-activity]
//! ```
//! Defaults: 10,000 accounts, 32 checks in flight, 5 seconds, with the activity line, two async
//! worker threads (as the server has on a 2-CPU machine). Each (account, step) pair is used
//! once, in increasing step order per account, so every check is a real acceptance.
//! `without-activity` settles without the activity line, to show its share (the server always
//! writes it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nidan_domain::Method;
use nidan_service::courier::Locale;
use nidan_service::ports::{
    Attempt, Candidate, ImportRow, NewActivity, NewUser, Settled, TotpCredential,
};
use nidan_service::{CredentialId, Store, UnixTime, UserId};
use nidan_store::StoreOptions;

/// A fixed "now"; the store takes time as a value.
const NOW: UnixTime = 1_700_000_000;
/// The first step handed out.
const FIRST_STEP: u64 = (NOW / 30) as u64;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let number = |i: usize, default: u64| -> Result<u64, Failure> {
        match std::env::args().nth(i) {
            Some(s) => Ok(s.parse().map_err(|e| format!("argument {i} ({s}): {e}"))?),
            None => Ok(default),
        }
    };
    let accounts = number(1, 10_000)?.max(1);
    let in_flight = number(2, 32)?.max(1);
    let seconds = number(3, 5)?.max(1);
    let with_activity = match std::env::args().nth(4).as_deref() {
        None | Some("with-activity") => true,
        Some("without-activity") => false,
        Some(other) => {
            return Err(format!("argument 4 ({other}): with-activity or without-activity").into());
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(
            accounts,
            in_flight,
            Duration::from_secs(seconds),
            with_activity,
        ))
}

async fn run(
    accounts: u64,
    in_flight: u64,
    length: Duration,
    with_activity: bool,
) -> Result<(), Failure> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("floor.db").display());
    let store = nidan_store::open(&url, &StoreOptions::default()).await?;
    let rows = (0..accounts).map(import_row).collect();
    store.import_totp(rows).await?;

    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + length;
    let (cpu_before, started) = (cpu_seconds()?, Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (store, next, accepted) = (store.clone(), next.clone(), accepted.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (account, step) = (n % accounts, FIRST_STEP + n / accounts);
                if check(store.as_ref(), account, step, with_activity).await? {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), Failure>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let (cpu, wall) = (cpu_seconds()? - cpu_before, started.elapsed().as_secs_f64());
    let (done, ok) = (
        next.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
    );
    println!(
        "{accounts} accounts, {in_flight} in flight: {done} checks in {wall:.2} s \
         ({:.0}/s), {ok} accepted; CPU {cpu:.2} s = {:.1} µs per check",
        done as f64 / wall,
        cpu * 1e6 / done.max(1) as f64
    );
    if ok != done {
        return Err(format!("{} checks were not accepted", done - ok).into());
    }
    Ok(())
}

/// Account `i`: an address, no password, a confirmed authenticator app.
///
/// Its ids are scattered like the server's random ones ([`scattered_id`]): with ids in account
/// order, the checks of one batch would write their activity lines into the same few pages of the
/// per-user activity index, and the tool would write under a third of the WAL frames per check
/// that the server writes (docs/performance.md, "Why the design is as it is").
fn import_row(i: u64) -> ImportRow {
    let user_id = UserId::new(scattered_id(i));
    ImportRow {
        new_user: Some(NewUser {
            id: user_id.clone(),
            email: email(i),
            password_hash: None,
            locale: Locale::En,
            created_at: NOW,
        }),
        credential: TotpCredential {
            id: CredentialId::new(scattered_id(i + (1 << 62))),
            user_id,
            // Never opened here: the store keeps it as bytes.
            sealed_secret: vec![0x5a; 49],
            last_used_step: None,
            confirmed_at: Some(NOW),
            created_at: NOW,
        },
    }
}

/// 32 hex digits that look random but are a function of `i` (two rounds of SplitMix64), so
/// neighbouring accounts are far apart in every index on an id, as the server's random ids are.
fn scattered_id(i: u64) -> String {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    format!("{:016x}{:016x}", mix(i), mix(!i))
}

fn email(i: u64) -> String {
    format!("user{i}@example.test")
}

/// One check as `POST /api/v1/verify` makes it once the code matched `step`: read the account,
/// then settle the attempt (with its activity line unless told not to). Whether it was accepted.
async fn check(
    store: &dyn Store,
    account: u64,
    step: u64,
    with_activity: bool,
) -> Result<bool, Failure> {
    let found = store
        .account_for_check(&email(account))
        .await?
        .ok_or("an imported account is missing")?;
    let credential = found.totp.ok_or("an imported credential is missing")?;
    let user_id = found.user.id;
    let attempt = Attempt {
        seen_failures: found.user.failed_attempts,
        now: NOW,
        candidate: Candidate::TotpStep {
            credential_id: credential.id,
            step,
        },
        challenge: None,
        record: with_activity.then(|| NewActivity {
            user_id: user_id.clone(),
            at: NOW,
            kind: "app_verify",
            method: Some(Method::Totp),
            result: "invalid_code",
            ip: "127.0.0.1".into(),
            user_agent: "check_floor".into(),
            detail: Some("app: floor".into()),
            country: None,
        }),
        user_id,
    };
    Ok(matches!(
        store.settle_attempt(attempt).await?,
        Settled::Accepted { .. }
    ))
}

/// This process's user + system CPU time so far, in seconds.
fn cpu_seconds() -> Result<f64, Failure> {
    Ok(nidan_bench::cpu_time_of("self")
        .ok_or("cannot read /proc/self/stat")?
        .as_secs_f64())
}
