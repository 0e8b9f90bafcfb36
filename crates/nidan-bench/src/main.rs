//! `nidan-bench`: starts the nidan release binary on a fresh database, imports users with known
//! TOTP seeds, drives it over real HTTP (keep-alive, one task per connection) and reports
//! requests per second, latency percentiles, memory and database size. See docs/performance.md.
//!
//! Build the server first: `cargo build --release -p nidan`.

mod callgrind;
mod http;
mod load;
mod report;
mod scenarios;
mod server;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::callgrind::CountReport;
use crate::load::run_level;
use crate::report::{Meta, Report, ScenarioLevel};
use crate::scenarios::{
    Codes, ForwardAuth, Healthz, PasswordBurst, Seed, SignIn, VerifyValid, VerifyWrong,
    two_step_sessions,
};
use crate::server::Setup;

/// The sign-in users' password (long enough for the default policy).
const PASSWORD: &str = "bench correct horse battery staple";

/// Benchmark nidan over HTTP.
#[derive(Debug, Parser)]
#[command(name = "nidan-bench")]
struct Args {
    /// Users imported with known TOTP seeds.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Seconds per scenario and connection count.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Connection counts for healthz and verify.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    connections: Vec<usize>,
    /// Connection counts for full sign-ins (Argon2 makes these slow).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    signin_connections: Vec<usize>,
    /// Connections for the wrong-password burst that must overflow the hashing queue (0: skip);
    /// the default is above the default pool (half the CPUs) plus queue (64).
    #[arg(long, default_value_t = 96)]
    burst_connections: usize,
    /// Accounts with a password and TOTP for the sign-in scenario.
    #[arg(long, default_value_t = 500)]
    signin_users: usize,
    /// Run on PostgreSQL (a fresh schema at this URL) instead of SQLite.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// The nidan binary (default: $CARGO_TARGET_DIR or ./target, then release/nidan).
    #[arg(long)]
    nidan: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench.json")]
    out: PathBuf,
    /// Count the server's instructions per request under valgrind's callgrind instead of
    /// timing: healthz and verify (valid) for `--seconds` at each `--connections` count, no
    /// sign-ins. Repeatable from run to run on a drifting machine; see docs/performance.md.
    #[arg(long)]
    callgrind: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.users < 20 || args.connections.is_empty() {
        bail!("--users must be at least 20 and --connections non-empty");
    }
    let binary = args.nidan.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"));
        target.join("release").join("nidan")
    });
    if !binary.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p nidan` (or pass --nidan)",
            binary.display()
        );
    }
    if args.callgrind {
        callgrind::check_installed()?;
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let setup = Setup::new(binary, args.postgres.clone()).await?;
    let json = if args.callgrind {
        finish(&setup, run_counted(&args, &setup).await, CountReport::print).await?
    } else {
        finish(&setup, run(&args, &setup).await, Report::print).await?
    };
    std::fs::write(&args.out, json)?;
    println!("\nJSON written to {}", args.out.display());
    Ok(())
}

/// Cleans up after a run (whether it failed or not), then prints its report and returns it as
/// JSON.
async fn finish<R: serde::Serialize>(
    setup: &Setup,
    result: Result<R>,
    print: fn(&R),
) -> Result<String> {
    setup.cleanup().await?;
    let report = result?;
    print(&report);
    Ok(serde_json::to_string_pretty(&report)?)
}

/// Before a verify level: waits for a new TOTP step when fewer than one fresh code per verify
/// user is left (the previous level used them up).
async fn wait_for_codes(codes: &Codes, users: usize) {
    if codes.fresh_now() < users {
        eprintln!("  waiting for the next TOTP step: the last level used every fresh code");
        let waited = codes.wait_for_fresh(users).await;
        eprintln!("  waited {waited:.1} s");
    }
}

fn random_seeds(n: usize) -> Result<Vec<Seed>> {
    let mut bytes = vec![0u8; n * 20];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    Ok(bytes
        .chunks_exact(20)
        .map(|c| {
            let mut s = [0u8; 20];
            s.copy_from_slice(c);
            s
        })
        .collect())
}

/// What the levels need from the preparation, and the preparation's own figures.
struct Prepared {
    emails: Arc<Vec<String>>,
    seeds: Arc<Vec<Seed>>,
    key: String,
    fresh_start: Duration,
    import_secs: f64,
    db_bytes: u64,
}

/// Steps 1 and 2: the sign-in users signed up on a fresh database, every seed imported, an
/// API key made. The server is stopped when this returns.
async fn prepare(setup: &Setup, n: usize, k: usize) -> Result<Prepared> {
    let emails: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| format!("u{i}@bench.test"))
            .chain((0..k).map(|i| format!("s{i}@bench.test")))
            .collect(),
    );
    let seeds = Arc::new(random_seeds(n + k)?);

    // 1. First start on an empty database (includes migrations); sign up the sign-in users.
    eprintln!(
        "starting nidan on a fresh database in {}",
        setup.dir().display()
    );
    let (server, fresh_start) = setup.start().await?;
    let t = Instant::now();
    let mut signups = tokio::task::JoinSet::new();
    for chunk in (n..n + k).collect::<Vec<_>>().chunks(k.div_ceil(4).max(1)) {
        let (emails, chunk, addr) = (emails.clone(), chunk.to_vec(), setup.addr);
        signups.spawn(async move {
            let mut conn = http::Conn::connect(addr).await?;
            for i in chunk {
                let body = json!({"email": emails[i], "password": PASSWORD}).to_string();
                let (status, _) = conn
                    .send(Method::POST, "/api/v1/users", None, Some(body))
                    .await?;
                if status != StatusCode::CREATED {
                    bail!("sign-up of {} answered {status}", emails[i]);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = signups.join_next().await {
        r??;
    }
    eprintln!("signed up {k} users in {:.1} s", t.elapsed().as_secs_f64());
    server.stop()?;

    // 2. Import every seed (the sign-in users' too: that enrols their authenticator app).
    let csv_path = setup.dir().join("seeds.csv");
    let mut csv = String::with_capacity((n + k) * 60);
    csv.push_str("email,base32_secret\n");
    for (email, seed) in emails.iter().zip(seeds.iter()) {
        csv.push_str(email);
        csv.push(',');
        csv.push_str(&data_encoding::BASE32_NOPAD.encode(seed));
        csv.push('\n');
    }
    std::fs::write(&csv_path, csv)?;
    let t = Instant::now();
    let path = csv_path.to_string_lossy().into_owned();
    setup.admin(&["totp", "import", &path])?;
    let import_secs = t.elapsed().as_secs_f64();
    eprintln!("imported {} seeds in {import_secs:.2} s", n + k);
    let key = setup
        .admin(&["api-key", "create", "bench"])?
        .trim()
        .to_owned();
    if key.is_empty() {
        bail!("api-key create printed nothing");
    }
    let db_bytes = setup.database_bytes().await?;
    Ok(Prepared {
        emails,
        seeds,
        key,
        fresh_start,
        import_secs,
        db_bytes,
    })
}

async fn run(args: &Args, setup: &Setup) -> Result<Report> {
    let n = args.users;
    let k = args.signin_users;
    let prepared = prepare(setup, n, k).await?;
    let (emails, seeds, key) = (prepared.emails, prepared.seeds, prepared.key);
    let (fresh_start, import_secs) = (prepared.fresh_start, prepared.import_secs);

    // 3. Restart on the existing database: start to ready, idle memory.
    let (server, ready) = setup.start().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = server.memory("VmRSS").unwrap_or(0);

    // 4. The scenarios. Verify users: the first 90 %; wrong-code users: the last 10 %.
    let split = n - (n / 10).max(10);
    let dur = Duration::from_secs(args.seconds);
    let addr = setup.addr;
    let mut levels = Vec::new();
    let healthz = Arc::new(Healthz);
    let valid = Arc::new(VerifyValid {
        key: key.clone(),
        emails: emails.clone(),
        codes: Codes::new(seeds.clone(), 0..split),
    });
    let wrong = Arc::new(VerifyWrong {
        key: key.clone(),
        emails: emails.clone(),
        seeds: seeds.clone(),
        range: split..n,
        next: AtomicUsize::new(0),
    });
    let signin = Arc::new(SignIn {
        emails: emails.clone(),
        password: PASSWORD.to_owned(),
        codes: Codes::new(seeds.clone(), n..n + k),
    });
    // Sessions made with the second step, for forward-auth (a tenth of the sign-in users, at
    // most 100: the sign-in levels need the rest's codes).
    eprintln!("sessions for forward-auth");
    signin.codes.prepare();
    let mut setup_conn = crate::http::Conn::connect(addr).await?;
    let forward = Arc::new(ForwardAuth {
        cookies: two_step_sessions(&mut setup_conn, &signin, (k / 10).clamp(1, 100)).await?,
        next: AtomicUsize::new(0),
    });
    drop(setup_conn);
    for &c in &args.connections {
        eprintln!("{c} connections: healthz, verify (valid), verify (wrong), forward-auth");
        let r = measured(&server, run_level(addr, healthz.clone(), c, dur)).await?;
        levels.push(ScenarioLevel::new("healthz", r));
        wait_for_codes(&valid.codes, split).await;
        valid.codes.prepare();
        let r = measured(&server, run_level(addr, valid.clone(), c, dur)).await?;
        levels.push(ScenarioLevel::new("verify_valid", r));
        let r = measured(&server, run_level(addr, wrong.clone(), c, dur)).await?;
        levels.push(ScenarioLevel::new("verify_wrong", r));
        let r = measured(&server, run_level(addr, forward.clone(), c, dur)).await?;
        levels.push(ScenarioLevel::new("forward_auth", r));
    }
    let rss_peak_verify = server.memory("VmHWM").unwrap_or(0);
    for &c in &args.signin_connections {
        eprintln!("{c} connections: sign-in");
        signin.codes.prepare();
        let r = measured(&server, run_level(addr, signin.clone(), c, dur)).await?;
        levels.push(ScenarioLevel::new("signin", r));
    }
    // Verify at 32 connections while sign-ins run at full hashing parallelism (8 connections).
    eprintln!("storm: verify (32) during sign-ins (8)");
    wait_for_codes(&valid.codes, split).await;
    valid.codes.prepare();
    signin.codes.prepare();
    let (v, s) = tokio::join!(
        run_level(addr, valid.clone(), 32, dur),
        run_level(addr, signin.clone(), 8, dur)
    );
    levels.push(ScenarioLevel::new("verify_valid_during_signin_storm", v?));
    levels.push(ScenarioLevel::new("signin_storm", s?));
    if args.burst_connections > 0 {
        eprintln!(
            "{} connections: wrong passwords, past the hashing queue",
            args.burst_connections
        );
        let burst = Arc::new(PasswordBurst {
            emails: emails.clone(),
            range: n..n + k,
            next: AtomicUsize::new(0),
        });
        let r = measured(&server, run_level(addr, burst, args.burst_connections, dur)).await?;
        levels.push(ScenarioLevel::new("signin_burst", r));
    }

    let rss_peak = server.memory("VmHWM").unwrap_or(0);
    server.stop().context("stopping nidan")?;
    Ok(Report::new(
        Meta {
            users: n,
            seconds: args.seconds,
            database: if args.postgres.is_some() {
                "postgresql"
            } else {
                "sqlite"
            }
            .to_owned(),
            cpus: std::thread::available_parallelism()
                .map(|p| p.get())
                .unwrap_or(0),
            start_fresh_ms: fresh_start.as_secs_f64() * 1000.0,
            start_to_ready_ms: ready.as_secs_f64() * 1000.0,
            import_secs,
            import_users_per_sec: (n + k) as f64 / import_secs,
            database_bytes: prepared.db_bytes,
            database_bytes_per_user: prepared.db_bytes as f64 / (n + k) as f64,
            rss_idle_mib: rss_idle as f64 / 1048576.0,
            rss_peak_before_signin_mib: rss_peak_verify as f64 / 1048576.0,
            rss_peak_mib: rss_peak as f64 / 1048576.0,
        },
        levels,
    ))
}

/// `--callgrind`: the server under callgrind on the prepared database; healthz and verify
/// (valid) at each connection count, each level's instructions counted (see `callgrind`).
async fn run_counted(args: &Args, setup: &Setup) -> Result<CountReport> {
    let n = args.users;
    let prepared = prepare(setup, n, 0).await?;
    let dumps = args
        .out
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("callgrind");
    // Dumps of an earlier run would be taken for this one's.
    if dumps.exists() {
        std::fs::remove_dir_all(&dumps)?;
    }
    std::fs::create_dir_all(&dumps)?;
    let (server, _) = setup.start_under(&callgrind::launcher(&dumps)).await?;
    let dur = Duration::from_secs(args.seconds);
    let (addr, pid) = (setup.addr, server.pid());
    let healthz = Arc::new(Healthz);
    let valid = Arc::new(VerifyValid {
        key: prepared.key.clone(),
        emails: prepared.emails.clone(),
        codes: Codes::new(prepared.seeds.clone(), 0..n),
    });
    // Warm-up, not counted: the first requests fill caches and allocate pools.
    valid.codes.prepare();
    run_level(addr, healthz.clone(), 1, Duration::from_secs(1)).await?;
    run_level(addr, valid.clone(), 1, Duration::from_secs(1)).await?;
    let mut levels = Vec::new();
    for &c in &args.connections {
        eprintln!("{c} connections: healthz, verify (valid), under callgrind");
        let level = run_level(addr, healthz.clone(), c, dur);
        levels.push(callgrind::count(pid, &dumps, "healthz", level).await?);
        wait_for_codes(&valid.codes, n).await;
        valid.codes.prepare();
        let level = run_level(addr, valid.clone(), c, dur);
        levels.push(callgrind::count(pid, &dumps, "verify_valid", level).await?);
    }
    server.stop().context("stopping nidan")?;
    Ok(CountReport { users: n, levels })
}

/// Runs a level alone and adds the server's and the load generator's CPU time per unit: what a
/// request costs, independent of how the two processes shared the CPUs.
async fn measured(
    server: &server::Server,
    level: impl std::future::Future<Output = Result<load::LevelResult>>,
) -> Result<load::LevelResult> {
    let (server_before, bench_before) = (server.cpu_time(), nidan_bench::cpu_time_of("self"));
    let result = level.await?;
    let (server_after, bench_after) = (server.cpu_time(), nidan_bench::cpu_time_of("self"));
    let delta = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    Ok(result.with_cpu(
        delta(server_before, server_after),
        delta(bench_before, bench_after),
    ))
}
