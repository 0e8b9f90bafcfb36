//! Crash safety (the attack plan's "crash"): `kill -9` the real server in the middle of a load
//! of sign-ins and verifications, restart it on the same data directory, and show that
//!
//! - the database file passes `PRAGMA integrity_check` right after the crash;
//! - every verification answered `{"valid":true}` before the crash is still consumed: the same
//!   code for the same user is `replayed` (and the stored step is at least that step);
//! - no TOTP step and no recovery code was accepted twice, before or after the crash;
//! - recovery codes used before the crash stay used; sessions handed out before it still work.
//!
//! The client is a few lines of HTTP/1.1 over `TcpStream` (`Connection: close`), so a request in
//! flight when the server dies simply has no answer: its outcome is unknown and it is asserted
//! on only through the invariants that hold either way.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nidan_domain::{TotpSecret, totp_code};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::common::{
    Server, create_schema, database_url, drop_schema, free_port, mark_ran, nidan_in, url_in_schema,
};

const PASSWORD: &str = "correct horse battery staple";
/// Accounts imported with known seeds, checked through the app API.
const APP_USERS: usize = 60;
/// Accounts with a password, TOTP and recovery codes, signing in.
const SIGN_IN_USERS: usize = 3;

/// Wall-clock seconds: the test plays the authenticator app, which reads the same clock as the
/// server it talks to.
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A known 160-bit seed per imported account.
fn seed(i: usize) -> TotpSecret {
    let mut bytes = [0u8; 20];
    for (j, b) in bytes.iter_mut().enumerate() {
        *b = (i * 31 + j * 7 + 1) as u8;
    }
    TotpSecret::from_random(bytes)
}

struct Instance {
    dir: tempfile::TempDir,
    addr: String,
    /// `None`: SQLite under the data directory; `Some(url)`: PostgreSQL (a schema of its own).
    database_url: Option<String>,
}

impl Instance {
    fn new(database_url: Option<String>) -> Instance {
        Instance {
            dir: tempfile::tempdir().unwrap(),
            addr: format!("127.0.0.1:{}", free_port()),
            database_url,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn db(&self) -> PathBuf {
        self.data_dir().join("nidan.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = nidan_in(self.dir.path());
        cmd.args(args)
            .env("NIDAN_SERVER_LISTEN", &self.addr)
            // The load comes from one address: no per-IP sign-in limit here.
            .env("NIDAN_SERVER_LOGIN_REQUESTS_PER_IP_PER_MINUTE", "0")
            .envs(
                self.database_url
                    .iter()
                    .map(|u| ("NIDAN_DATABASE_URL", u.as_str())),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str], stdin: &str) -> String {
        let mut child = self.command(args).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nidan {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn serve(&self) -> Server {
        let mut cmd = self.command(&["serve"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = Server(cmd.spawn().unwrap());
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http(&self.addr, "GET", "/readyz", None, None) {
                return server;
            }
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("the server exited before it was ready: {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; `Err` when the server is gone.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("content-type: application/json\r\n");
    }
    if let Some(t) = token {
        request.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("truncated answer"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    if let Some(len) = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length: ")
            .map(str::to_owned)
    }) {
        let len: usize = len.trim().parse().unwrap_or(0);
        if payload.len() < len {
            return Err(std::io::Error::other("truncated body"));
        }
    }
    Ok((status, serde_json::from_str(payload).unwrap_or(Value::Null)))
}

/// Signs up (CLI), enrols TOTP through the API; returns (secret, recovery codes).
fn enrol(nidan: &Instance, email: &str) -> (TotpSecret, Vec<String>) {
    nidan.run(
        &["admin", "user", "add", email, "--password-stdin"],
        PASSWORD,
    );
    let (status, r) = http(
        &nidan.addr,
        "POST",
        "/api/v1/login",
        None,
        Some(&json!({"email": email, "password": PASSWORD})),
    )
    .unwrap();
    assert_eq!(status, 200, "{r}");
    let session = r["session_token"].as_str().unwrap().to_owned();
    let (_, r) = http(
        &nidan.addr,
        "POST",
        "/api/v1/me/totp/setup",
        Some(&session),
        Some(&json!({"password": PASSWORD})),
    )
    .unwrap();
    let secret = TotpSecret::from_base32(r["secret"].as_str().unwrap()).unwrap();
    let (status, r) = http(
        &nidan.addr,
        "POST",
        "/api/v1/me/totp/confirm",
        Some(&session),
        Some(&json!({"code": totp_code(secret.as_bytes(), now())})),
    )
    .unwrap();
    assert_eq!(status, 200, "{r}");
    let codes = r["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// What the load saw answered before the crash.
#[derive(Default)]
struct Seen {
    /// (email, step) of every `{"valid":true}` TOTP answer.
    valid_steps: Vec<(String, u64, String)>,
    /// (email, code) of every recovery code that signed someone in.
    recovery_used: Vec<(String, String)>,
    /// Sessions handed out.
    sessions: Vec<String>,
}

fn step_of(unix: i64) -> u64 {
    (unix / 30) as u64
}

/// The database is sound right after the crash. SQLite: `PRAGMA integrity_check` and
/// `foreign_key_check` on the file. PostgreSQL (which survives a client's death by design): no
/// transaction of the killed process is left open, and `amcheck` finds every B-tree index of
/// the schema consistent (skipped with a note if the extension is not installed).
async fn integrity_check(nidan: &Instance) -> Vec<String> {
    let Some(url) = &nidan.database_url else {
        return sqlite_integrity_check(&nidan.db()).await;
    };
    let mut conn = PgConnection::connect(url).await.unwrap();
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{open} transactions left open by the killed server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public")
        .execute(&mut conn)
        .await
        .is_ok()
    {
        let amcheck: String = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'amcheck'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam \
             WHERE n.nspname = current_schema() AND a.amname = 'btree'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!indexes.is_empty(), "no index found in the test schema");
        for index in indexes {
            // Created in `public`, or found where an earlier run created it.
            let check = format!(
                "SELECT \"{amcheck}\".bt_index_check(c.oid, true) FROM pg_class c JOIN pg_namespace n \
                 ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = current_schema()"
            );
            sqlx::query(sqlx::AssertSqlSafe(check))
                .bind(&index)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("index {index}: {e}"));
        }
    } else {
        eprintln!("amcheck is not installed: index checks skipped");
    }
    conn.close().await.unwrap();
    vec!["ok".to_owned()]
}

async fn sqlite_integrity_check(db: &Path) -> Vec<String> {
    // Read-write, as the server opens it: SQLite recovers the WAL first.
    let conn = rusqlite::Connection::open(db).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let fk: Vec<(String, i64, String, i64)> = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(fk.is_empty(), "foreign keys: {fk:?}");
    rows
}

const LAST_USED_STEPS: &str = "SELECT u.email, t.last_used_step FROM totp_credentials t JOIN users u ON u.id = t.user_id \
     WHERE t.confirmed_at IS NOT NULL";

async fn last_used_steps(nidan: &Instance) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> = match &nidan.database_url {
        Some(url) => {
            let mut conn = PgConnection::connect(url).await.unwrap();
            sqlx::query_as(LAST_USED_STEPS)
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
        None => {
            let conn = rusqlite::Connection::open_with_flags(
                nidan.db(),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            conn.prepare(LAST_USED_STEPS)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
    };
    rows.into_iter().collect()
}

#[test]
fn a_kill_9_under_load_loses_nothing_committed_and_replays_nothing() {
    kill_9_under_load(Instance::new(None));
}

/// The same on PostgreSQL (a schema of its own); skipped without `NIDAN_TEST_DATABASE_URL`
/// unless `NIDAN_REQUIRE_POSTGRES=1` (as in `.ci/run`, which also checks it ran).
#[test]
fn a_kill_9_under_load_on_postgres_loses_nothing_committed_and_replays_nothing() {
    const TEST: &str =
        "crash::a_kill_9_under_load_on_postgres_loses_nothing_committed_and_replays_nothing";
    let Some(base) = database_url(TEST) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = runtime.block_on(create_schema(&base));
    kill_9_under_load(Instance::new(Some(url_in_schema(&base, &schema))));
    runtime.block_on(drop_schema(&base, &schema));
    mark_ran(TEST);
}

fn kill_9_under_load(nidan: Instance) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    nidan.run(&["migrate"], "");

    // Imported accounts with known seeds (app-only), and an API key.
    let csv: String = (0..APP_USERS)
        .map(|i| format!("app{i}@example.com,{}\n", seed(i).to_base32()))
        .collect();
    let csv_path = nidan.dir.path().join("seeds.csv");
    std::fs::write(&csv_path, csv).unwrap();
    nidan.run(&["admin", "totp", "import", csv_path.to_str().unwrap()], "");
    let key = nidan
        .run(&["admin", "api-key", "create", "crash"], "")
        .trim()
        .to_owned();
    assert!(key.starts_with("ndk_"), "{key}");

    let server = nidan.serve();
    let sign_in_users: Vec<(String, TotpSecret, Vec<String>)> = (0..SIGN_IN_USERS)
        .map(|i| {
            let email = format!("person{i}@example.com");
            let (secret, codes) = enrol(&nidan, &email);
            (email, secret, codes)
        })
        .collect();

    // The load: verify threads walk the imported accounts offering the codes for T-1, T and
    // T+1 (each accepted once, in that order); sign-in threads use recovery codes, one each.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..4 {
        let (addr, key, seen, stop, answered) = (
            nidan.addr.clone(),
            key.clone(),
            seen.clone(),
            stop.clone(),
            answered.clone(),
        );
        threads.push(std::thread::spawn(move || {
            // Each thread owns the accounts i ≡ t (mod 4) and never offers a step it has offered
            // before, so nothing it sends is a replay (replays would count as failures and
            // throttle the account): every code is T-1, T or T+1 and newer than the last one.
            let mine: Vec<usize> = (t..APP_USERS).step_by(4).collect();
            let mut last: HashMap<usize, u64> = HashMap::new();
            let mut turn = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let i = mine[turn % mine.len()];
                turn += 1;
                let current = step_of(now());
                let Some(step) = (current - 1..=current + 1).find(|s| last.get(&i) < Some(s))
                else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                last.insert(i, step);
                let email = format!("app{i}@example.com");
                let code = totp_code(seed(i).as_bytes(), step as i64 * 30);
                match http(
                    &addr,
                    "POST",
                    "/api/v1/verify",
                    Some(&key),
                    Some(&json!({"user": email, "code": code})),
                ) {
                    Ok((200, r)) => {
                        answered.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(r["valid"], true, "a fresh step was refused: {r}");
                        seen.lock().unwrap().valid_steps.push((email, step, code));
                    }
                    Ok((s, r)) => panic!("verify answered {s}: {r}"),
                    Err(_) => {}
                }
            }
        }));
    }
    for (email, _, codes) in sign_in_users.clone() {
        let (addr, seen, stop, answered) = (
            nidan.addr.clone(),
            seen.clone(),
            stop.clone(),
            answered.clone(),
        );
        threads.push(std::thread::spawn(move || {
            for code in codes {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok((200, r)) = http(
                    &addr,
                    "POST",
                    "/api/v1/login",
                    None,
                    Some(&json!({"email": email, "password": PASSWORD})),
                ) else {
                    continue;
                };
                let challenge = r["challenge_id"].as_str().unwrap().to_owned();
                match http(
                    &addr,
                    "POST",
                    "/api/v1/login/verify",
                    None,
                    Some(&json!({"challenge_id": challenge, "method": "recovery", "code": code})),
                ) {
                    Ok((200, r)) => {
                        answered.fetch_add(1, Ordering::SeqCst);
                        let mut seen = seen.lock().unwrap();
                        seen.recovery_used.push((email.clone(), code));
                        seen.sessions
                            .push(r["session_token"].as_str().unwrap().to_owned());
                    }
                    Ok((s, r)) if s >= 500 && s != 503 => {
                        panic!("recovery sign-in answered {s}: {r}")
                    }
                    Ok(_) => {}
                    Err(_) => {}
                }
            }
        }));
    }

    // Let the load run, then kill -9 in the middle of it.
    let started = Instant::now();
    while (answered.load(Ordering::SeqCst) < 100 || seen.lock().unwrap().recovery_used.len() < 6)
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut server = server;
    server.0.kill().unwrap(); // SIGKILL
    let status = server.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL"
    );
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(
        seen.valid_steps.len() >= 50 && seen.recovery_used.len() >= 3,
        "the load did something before the crash: {} valid verifications, {} recovery sign-ins",
        seen.valid_steps.len(),
        seen.recovery_used.len()
    );

    // No step was accepted twice before the crash.
    let mut unique = HashSet::new();
    for (email, step, _) in &seen.valid_steps {
        assert!(
            unique.insert((email, step)),
            "{email} step {step} accepted twice"
        );
    }

    // The file is sound right after the crash.
    assert_eq!(runtime.block_on(integrity_check(&nidan)), ["ok"]);
    // Every accepted step is stored.
    let stored = runtime.block_on(last_used_steps(&nidan));
    for (email, step, _) in &seen.valid_steps {
        assert!(
            stored[email] >= *step as i64,
            "{email}: step {step} was accepted but the store says {}",
            stored[email]
        );
    }

    // Restart on the same data directory.
    let _server = nidan.serve();
    for (email, step, code) in &seen.valid_steps {
        let (status, r) = http(
            &nidan.addr,
            "POST",
            "/api/v1/verify",
            Some(&key),
            Some(&json!({"user": email, "code": code})),
        )
        .unwrap();
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["valid"], false, "{email} step {step} accepted again: {r}");
        // The step after the answer: a step that left the window while the request ran is
        // judged a wrong code, not a replay.
        if step + 1 >= step_of(now()) {
            // Still inside the window: recognised as a replay.
            assert_eq!(r["reason"], "replayed", "{email} step {step}: {r}");
        }
    }
    for (email, code) in &seen.recovery_used {
        let (_, r) = http(
            &nidan.addr,
            "POST",
            "/api/v1/verify",
            Some(&key),
            Some(&json!({"user": email, "code": code})),
        )
        .unwrap();
        assert_eq!(
            r["valid"], false,
            "{email}: a used recovery code works again: {r}"
        );
    }
    for (email, _, codes) in &sign_in_users {
        let used = seen
            .recovery_used
            .iter()
            .filter(|(e, _)| e == email)
            .count();
        let (status, show) = {
            let out = nidan
                .command(&["admin", "user", "show", email])
                .output()
                .unwrap();
            (
                out.status,
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        assert!(status.success(), "{show}");
        let left: usize = show
            .lines()
            .find_map(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("recovery").then(|| {
                    l.chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                        .parse()
                        .ok()
                })?
            })
            .unwrap_or_else(|| panic!("no recovery count in: {show}"));
        assert!(
            left <= codes.len() - used,
            "{email}: {used} codes used before the crash, but {left} of {} left",
            codes.len()
        );
    }
    for session in &seen.sessions {
        let (status, r) = http(&nidan.addr, "GET", "/api/v1/me", Some(session), None).unwrap();
        assert_eq!(
            status, 200,
            "a session handed out before the crash is lost: {r}"
        );
    }
    println!(
        "before the kill: {} valid verifications, {} recovery sign-ins; all kept after restart",
        seen.valid_steps.len(),
        seen.recovery_used.len()
    );
}
