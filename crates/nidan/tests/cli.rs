//! The real `nidan` binary, run as an operator would: each test gets its own temporary data
//! directory, and no `NIDAN_*` variable of the surrounding environment leaks in.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::{Server, free_port, nidan_in, output_of};

/// A 160-bit base32 seed, the size authenticator apps use.
const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

struct Instance {
    dir: TempDir,
}

impl Instance {
    fn new() -> Instance {
        Instance {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir().join("secret.key")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = nidan_in(self.dir.path());
        cmd.args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None)
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        output_of(cmd, stdin)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
/// That `text` (a command's output) says `needle`, showing the whole text when it does not.
fn assert_says(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

fn assert_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn migrate_creates_the_database_and_a_private_key_file() {
    let nidan = Instance::new();
    let out = nidan.run(&["migrate"]);
    assert_status(&out, 0);
    assert_says(&stdout(&out), "applied");
    assert!(nidan.data_dir().join("nidan.db").is_file());
    let meta = std::fs::metadata(nidan.key_file()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(nidan.key_file()).unwrap();
    assert!(text.starts_with("# nidan secret keys."), "{text}");
    assert!(
        text.contains("hash_key = ") && text.contains("[seal_keys]\n1 = "),
        "{text}"
    );

    // A second run finds everything in place and keeps the same keys.
    let again = nidan.run(&["migrate"]);
    assert_status(&again, 0);
    assert_says(&stdout(&again), "up to date");
    assert_eq!(std::fs::read_to_string(nidan.key_file()).unwrap(), text);
}

#[test]
fn a_bad_setting_exits_2_naming_the_setting() {
    let nidan = Instance::new();
    let out = nidan.run_with(&["migrate"], &[("NIDAN_SERVER_LISTEN", "nope")], None);
    assert_status(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("server.listen") && err.contains("NIDAN_SERVER_LISTEN"),
        "{err}"
    );
    assert!(
        !err.contains("Backtrace") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        !nidan.data_dir().exists(),
        "nothing is created with a bad config"
    );
}

#[test]
fn a_bad_setting_in_the_config_file_exits_2() {
    let nidan = Instance::new();
    let file = nidan.write("nidan.toml", "[totp]\nwindow = 2\n");
    let out = nidan.run(&["migrate", "--config", file.to_str().unwrap()]);
    assert_status(&out, 2);
    assert_says(&stderr(&out), "totp.window");
}

#[test]
fn a_group_readable_key_file_is_refused() {
    let nidan = Instance::new();
    assert_status(&nidan.run(&["migrate"]), 0);
    std::fs::set_permissions(nidan.key_file(), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = nidan.run(&["admin", "user", "show", "a@example.com"]);
    assert_status(&out, 1);
    let expected = format!("chmod 600 {}", nidan.key_file().display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn a_malformed_key_file_is_refused_naming_the_file() {
    let nidan = Instance::new();
    std::fs::create_dir_all(nidan.data_dir()).unwrap();
    std::fs::write(nidan.key_file(), "hash_key = \"short\"\n").unwrap();
    std::fs::set_permissions(nidan.key_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = nidan.run(&["migrate"]);
    assert_status(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&nidan.key_file().display().to_string()),
        "{err}"
    );
    assert!(err.contains("hash_key"), "{err}");
}

#[test]
fn keys_may_come_from_the_environment_instead_of_the_file() {
    let nidan = Instance::new();
    let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let keys = format!("hash_key = \"{key}\"\n[seal_keys]\n1 = \"{key}\"\n");
    let out = nidan.run_with(&["migrate"], &[("NIDAN_SECRETS_KEY", &keys)], None);
    assert_status(&out, 0);
    assert!(!nidan.key_file().exists());
    assert!(!stderr(&out).contains("no setting"), "{}", stderr(&out));
    let rotate = nidan.run_with(
        &["admin", "rotate-key"],
        &[("NIDAN_SECRETS_KEY", &keys)],
        None,
    );
    assert_status(&rotate, 1);
    assert_says(&stderr(&rotate), "NIDAN_SECRETS_KEY");
}

#[test]
fn a_user_is_added_shown_and_not_added_twice() {
    let nidan = Instance::new();
    let add = ["admin", "user", "add", "a@example.com", "--password-stdin"];
    let out = nidan.run_with(&add, &[], Some("correct horse battery staple\n"));
    assert_status(&out, 0);

    let show = nidan.run(&["admin", "user", "show", "a@example.com"]);
    assert_status(&show, 0);
    let text = stdout(&show);
    assert!(text.contains("a@example.com"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("two-step:") && l.ends_with(" none")),
        "{text}"
    );
    assert!(
        !text.contains("argon2"),
        "no password hash is shown: {text}"
    );

    let twice = nidan.run_with(&add, &[], Some("correct horse battery staple\n"));
    assert_status(&twice, 1);
    assert_says(&stderr(&twice), "exists");
}

#[test]
fn adding_a_user_needs_a_password_source() {
    let nidan = Instance::new();
    let out = nidan.run(&["admin", "user", "add", "a@example.com"]);
    assert_status(&out, 2);
    assert_says(&stderr(&out), "--password-stdin");
}

#[test]
fn an_unknown_user_is_an_error() {
    let nidan = Instance::new();
    let out = nidan.run(&["admin", "user", "show", "nobody@example.com"]);
    assert_status(&out, 1);
    assert_says(&stderr(&out), "no account");
}

#[test]
fn an_api_key_is_printed_once_alone_on_stdout() {
    let nidan = Instance::new();
    let out = nidan.run(&["admin", "api-key", "create", "app1"]);
    assert_status(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ndk_"), "{text}");
    assert_says(&stderr(&out), "only this once");

    assert_status(&nidan.run(&["admin", "api-key", "revoke", "app1"]), 0);
    assert_status(&nidan.run(&["admin", "api-key", "revoke", "app1"]), 1);
}

#[test]
fn a_good_seed_file_is_imported() {
    let nidan = Instance::new();
    let csv = format!("email,secret\n# exported\nb@example.com,{SEED}\n\nc@example.com, {SEED} \n");
    let file = nidan.write("seeds.csv", &csv);
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out).trim(), "imported 2");
    let show = nidan.run(&["admin", "user", "show", "c@example.com"]);
    assert_status(&show, 0);
    assert_says(&stdout(&show), "totp");
}

#[test]
fn a_bad_row_fails_the_whole_import_naming_its_line() {
    let nidan = Instance::new();
    let csv = format!("b@example.com,{SEED}\nc@example.com,{SEED}\nd@example.com,not!base32\n");
    let file = nidan.write("seeds.csv", &csv);
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert_status(&out, 1);
    assert_says(&stderr(&out), "line 3");
    let show = nidan.run(&["admin", "user", "show", "b@example.com"]);
    assert_status(&show, 1);
}

#[test]
fn a_row_with_the_wrong_shape_names_its_line() {
    let nidan = Instance::new();
    let file = nidan.write(
        "seeds.csv",
        &format!("b@example.com,{SEED}\nc@example.com\n"),
    );
    let out = nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]);
    assert_status(&out, 1);
    assert_says(&stderr(&out), "line 2");
}

#[test]
fn a_support_reset_needs_a_reason_and_is_recorded() {
    let nidan = Instance::new();
    let file = nidan.write("seeds.csv", &format!("b@example.com,{SEED}\n"));
    assert_status(
        &nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]),
        0,
    );

    let without = nidan.run(&["admin", "user", "reset-2fa", "b@example.com"]);
    assert_status(&without, 2);
    assert_says(&stderr(&without), "--reason");

    let reset = nidan.run_with(
        &[
            "admin",
            "user",
            "reset-2fa",
            "b@example.com",
            "--reason",
            "ticket 42",
        ],
        &[("USER", "alice"), ("SUDO_USER", "")],
        None,
    );
    assert_status(&reset, 0);
    let show = stdout(&nidan.run(&["admin", "user", "show", "b@example.com"]));
    assert!(
        show.lines()
            .any(|l| l.starts_with("two-step:") && l.ends_with(" none")),
        "{show}"
    );

    let activity = nidan.run(&["admin", "user", "activity", "b@example.com", "--limit", "5"]);
    assert_status(&activity, 0);
    let first = stdout(&activity);
    let line = first.lines().next().unwrap_or_default();
    assert!(
        line.contains("support_reset") && line.contains("ticket 42"),
        "{first}"
    );
    assert!(line.contains("alice"), "{first}");
}

#[test]
fn rotating_the_key_reseals_every_seed() {
    let nidan = Instance::new();
    let file = nidan.write("seeds.csv", &format!("b@example.com,{SEED}\n"));
    assert_status(
        &nidan.run(&["admin", "totp", "import", file.to_str().unwrap()]),
        0,
    );
    let out = nidan.run(&["admin", "rotate-key"]);
    assert_status(&out, 0);
    assert_says(&stdout(&out), "re-sealed 1");
    let text = std::fs::read_to_string(nidan.key_file()).unwrap();
    assert!(text.contains("\n1 = ") && text.contains("\n2 = "), "{text}");
    let meta = std::fs::metadata(nidan.key_file()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The seed opens under the new key: a second rotation re-seals it again.
    let again = nidan.run(&["admin", "rotate-key"]);
    assert_status(&again, 0);
    assert_says(&stdout(&again), "re-sealed 1");
}

impl Instance {
    /// Starts `nidan serve` on a free port and waits until it listens; returns it and its address.
    fn serve(&self) -> (Server, String) {
        self.serve_with(&[])
    }

    /// [`Instance::serve`] with these settings in the environment.
    fn serve_with(&self, env: &[(&str, &str)]) -> (Server, String) {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = self.command(&["serve"]);
        cmd.envs(env.iter().copied())
            .env("NIDAN_SERVER_LISTEN", &addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = Server(cmd.spawn().unwrap());
        let started = Instant::now();
        loop {
            if TcpStream::connect(&addr).is_ok() {
                break;
            }
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("the server exited before listening: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server never listened"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        (server, addr)
    }
}

/// `POST path` with a JSON body and a bearer token; the answer's status code.
fn post_status(addr: &str, path: &str, bearer: &str, body: &str) -> u16 {
    call(addr, "POST", path, bearer, body).0
}

#[test]
fn serve_listens_and_stops_cleanly_on_sigterm() {
    let nidan = Instance::new();
    let (mut server, _) = nidan.serve();
    let pid = server.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

/// A running server remembers an API key it found valid for at most a second
/// (`nidan-service/src/key_cache.rs`): a key revoked by another process, as `nidan admin
/// api-key revoke` is, is refused from then on.
#[test]
fn a_key_revoked_by_the_command_is_refused_by_a_running_server_within_a_second() {
    let nidan = Instance::new();
    let created = nidan.run(&["admin", "api-key", "create", "shop"]);
    assert_status(&created, 0);
    let key = stdout(&created).trim().to_owned();
    let (_server, addr) = nidan.serve();
    let body = r#"{"user":"nobody@example.com","code":"123456"}"#;
    // Accepted: the server now remembers the key.
    assert_eq!(post_status(&addr, "/api/v1/verify", &key, body), 200);

    let revoked = nidan.run(&["admin", "api-key", "revoke", "shop"]);
    assert_status(&revoked, 0);
    assert_says(&stdout(&revoked), "within a second");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        post_status(&addr, "/api/v1/verify", &key, body),
        401,
        "a second after the revocation the key must be refused"
    );
}

/// A sign-in locked by wrong passwords opens again with `nidan admin user unlock`, run while the
/// server serves.
#[test]
fn an_account_locked_by_wrong_passwords_is_unlocked_by_the_command() {
    let nidan = Instance::new();
    let added = nidan.run_with(
        &["admin", "user", "add", "b@example.com", "--password-stdin"],
        &[],
        Some("correct horse battery staple\n"),
    );
    assert_status(&added, 0);
    let (_server, addr) = nidan.serve_with(&[
        ("NIDAN_THROTTLE_FREE_FAILURES", "1"),
        ("NIDAN_THROTTLE_BASE_DELAY_SECS", "1"),
        ("NIDAN_THROTTLE_MAX_DELAY_SECS", "1"),
        ("NIDAN_THROTTLE_LOCK_AT", "2"),
    ]);
    let login = |password: &str| {
        let body = format!(r#"{{"email":"b@example.com","password":"{password}"}}"#);
        post_status(&addr, "/api/v1/login", "-", &body)
    };
    assert_eq!(login("a wrong password, twice"), 401);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(login("a wrong password, twice"), 401);
    assert_eq!(login("correct horse battery staple"), 429, "locked");

    let unlocked = nidan.run(&["admin", "user", "unlock", "b@example.com"]);
    assert_status(&unlocked, 0);
    assert_says(&stdout(&unlocked), "unlocked");
    assert_eq!(login("correct horse battery staple"), 200);
    let activity = stdout(&nidan.run(&["admin", "user", "activity", "b@example.com"]));
    assert!(activity.contains("support_unlock"), "{activity}");

    let unknown = nidan.run(&["admin", "user", "unlock", "nobody@example.com"]);
    assert_status(&unknown, 1);
}

/// A request to the running server: the status and the body.
fn call(addr: &str, method: &str, path: &str, bearer: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn support_lists_disables_enables_groups_and_deletes_accounts() {
    let nidan = Instance::new();
    for email in ["c@example.com", "other@example.com"] {
        let added = nidan.run_with(
            &["admin", "user", "add", email, "--password-stdin"],
            &[],
            Some("correct horse battery staple\n"),
        );
        assert_status(&added, 0);
    }
    let (_server, addr) = nidan.serve();
    let login = || {
        call(
            &addr,
            "POST",
            "/api/v1/login",
            "-",
            r#"{"email":"c@example.com","password":"correct horse battery staple"}"#,
        )
    };
    let (status, body) = login();
    assert_eq!(status, 200, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    let session = session["session_token"].as_str().unwrap().to_owned();

    let listed = stdout(&nidan.run(&["admin", "user", "list", "--json", "--query", "C@EXAMPLE"]));
    let rows: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["email"], "c@example.com");
    assert_eq!(rows[0]["two_step"], "none");
    assert_eq!(rows[0]["disabled"], false);
    let table = stdout(&nidan.run(&["admin", "user", "list"]));
    assert_eq!(table.lines().count(), 2, "{table}");

    let disabled = nidan.run(&[
        "admin",
        "user",
        "disable",
        "c@example.com",
        "--reason",
        "abuse report 7",
    ]);
    assert_status(&disabled, 0);
    let audit = stderr(&disabled);
    assert!(
        audit.contains("nidan::audit")
            && audit.contains("account_disabled")
            && audit.contains("abuse report 7"),
        "the server log holds an audit event: {audit}"
    );
    let done = Instant::now();
    assert_eq!(call(&addr, "GET", "/api/v1/me", &session, "").0, 401);
    assert!(
        done.elapsed() < Duration::from_secs(1),
        "the live session ended at once"
    );
    assert_eq!(login().0, 403, "a disabled account cannot sign in");
    assert_says(
        &stdout(&nidan.run(&["admin", "user", "show", "c@example.com"])),
        "since",
    );
    let again = nidan.run(&[
        "admin",
        "user",
        "disable",
        "c@example.com",
        "--reason",
        "twice",
    ]);
    assert_status(&again, 1);
    assert_status(&nidan.run(&["admin", "user", "enable", "c@example.com"]), 0);
    assert_eq!(login().0, 200);

    assert_status(
        &nidan.run(&["admin", "user", "groups", "c@example.com", "add", "admins"]),
        0,
    );
    assert_status(
        &nidan.run(&["admin", "user", "groups", "c@example.com", "add", "admins"]),
        1,
    );
    assert_status(
        &nidan.run(&[
            "admin",
            "user",
            "groups",
            "c@example.com",
            "add",
            "bad group!",
        ]),
        1,
    );
    assert_says(
        &stdout(&nidan.run(&["admin", "user", "show", "c@example.com"])),
        "admins",
    );
    let off = nidan.run(&[
        "admin",
        "user",
        "two-step-off",
        "c@example.com",
        "--reason",
        "x",
    ]);
    assert_status(&off, 1);
    let bad_date = nidan.run(&[
        "admin",
        "user",
        "two-step-off",
        "c@example.com",
        "--reason",
        "x",
        "--until",
        "soon",
    ]);
    assert_status(&bad_date, 1);
    let activity = stdout(&nidan.run(&["admin", "user", "activity", "c@example.com"]));
    for kind in ["account_disabled", "account_enabled", "group_added"] {
        assert!(activity.contains(kind), "{kind}: {activity}");
    }
    assert!(activity.contains("abuse report 7"), "{activity}");

    assert_status(&nidan.run(&["admin", "user", "delete", "c@example.com"]), 2);
    let deleted = nidan.run(&[
        "admin",
        "user",
        "delete",
        "c@example.com",
        "--reason",
        "asked by letter",
    ]);
    assert_status(&deleted, 0);
    assert_eq!(login().0, 401);
    let table = stdout(&nidan.run(&["admin", "user", "list"]));
    assert!(
        !table.contains("c@example.com") && table.contains("other@example.com"),
        "{table}"
    );
}

#[test]
fn api_keys_carry_scopes_and_are_listed_with_their_last_use() {
    let nidan = Instance::new();
    let created = nidan.run(&[
        "admin",
        "api-key",
        "create",
        "shop",
        "--scope",
        "verify,send",
    ]);
    assert_status(&created, 0);
    assert!(stdout(&created).starts_with("ndk_"));
    assert_status(&nidan.run(&["admin", "api-key", "create", "plain"]), 0);
    let bad = nidan.run(&[
        "admin",
        "api-key",
        "create",
        "odd",
        "--scope",
        "verify,admin",
    ]);
    assert_status(&bad, 1);
    let listed = stdout(&nidan.run(&["admin", "api-key", "list"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("plain") && lines[0].contains(" verify "),
        "{listed}"
    );
    assert!(
        lines[1].starts_with("shop") && lines[1].contains("verify,send"),
        "{listed}"
    );
    assert!(listed.contains("last used never"), "{listed}");
    assert!(!listed.contains("ndk_"), "never the keys: {listed}");
}

#[test]
fn a_backup_taken_under_load_restores_and_signs_in() {
    let nidan = Instance::new();
    let added = nidan.run_with(
        &[
            "admin",
            "user",
            "add",
            "kept@example.com",
            "--password-stdin",
        ],
        &[],
        Some("correct horse battery staple\n"),
    );
    assert_status(&added, 0);
    let (server, addr) = nidan.serve_with(&[("NIDAN_SIGNUP_MAX_PER_CLIENT_PER_HOUR", "0")]);

    // Sign-ups keep the writer busy while the copy is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, addr) = (stop.clone(), addr.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = format!(
                    r#"{{"email":"load{n}@example.com","password":"correct horse battery staple"}}"#
                );
                assert_eq!(post_status(&addr, "/api/v1/users", "-", &body), 201);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let copy = nidan.dir.path().join("copy.db");
    let backed_up = nidan.run(&["admin", "backup", copy.to_str().unwrap()]);
    assert_status(&backed_up, 0);
    assert_says(&stdout(&backed_up), "backed up");
    assert_says(&stderr(&backed_up), "key file");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let signed_up = load.join().unwrap();
    assert!(signed_up > 0, "the server took writes meanwhile");
    drop(server);
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the owner reads the copy");

    // Restore on a fresh machine: the copy and the key file, nothing else.
    let restored = Instance::new();
    std::fs::create_dir_all(restored.data_dir()).unwrap();
    std::fs::copy(&copy, restored.data_dir().join("nidan.db")).unwrap();
    std::fs::copy(nidan.key_file(), restored.key_file()).unwrap();
    let (_server, addr) = restored.serve();
    let login = r#"{"email":"kept@example.com","password":"correct horse battery staple"}"#;
    assert_eq!(post_status(&addr, "/api/v1/login", "-", login), 200);
    let listed = stdout(&restored.run(&["admin", "user", "list", "--json"]));
    let accounts = listed.lines().count();
    assert!(
        accounts >= 1 && accounts <= signed_up + 1,
        "the copy holds a consistent state of the accounts: {accounts} of {}",
        signed_up + 1
    );

    // PostgreSQL is backed up with its own tools.
    let pg = nidan.run_with(
        &["admin", "backup", "x.db"],
        &[("NIDAN_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        None,
    );
    assert_status(&pg, 1);
    assert_says(&stderr(&pg), "pg_dump");
}

#[test]
fn the_version_names_the_commit() {
    let out = Instance::new().run(&["--version"]);
    assert_status(&out, 0);
    let text = stdout(&out);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.starts_with(&format!("nidan {version} (")) && text.trim_end().ends_with(')'),
        "{text}"
    );
    let commit = text
        .trim_end()
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}

#[test]
fn the_audit_export_writes_every_accounts_events_as_json_lines() {
    let nidan = Instance::new();
    for email in ["a@example.com", "b@example.com"] {
        assert_status(
            &nidan.run_with(
                &["admin", "user", "add", email, "--password-stdin"],
                &[],
                Some("correct horse battery staple"),
            ),
            0,
        );
    }
    assert_status(
        &nidan.run(&[
            "admin",
            "user",
            "disable",
            "b@example.com",
            "--reason",
            "abuse report 7",
        ]),
        0,
    );
    let out = nidan.run(&["admin", "audit", "export", "--since", "2020-01-01"]);
    assert_status(&out, 0);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let disabled = lines
        .iter()
        .find(|l| l["user"]["email"] == "b@example.com" && l["event"] == "account_disabled")
        .unwrap_or_else(|| panic!("no disable event in {lines:?}"));
    assert!(
        disabled["detail"]
            .as_str()
            .unwrap()
            .contains("abuse report 7")
    );
    assert!(disabled["at"].as_str().unwrap().ends_with('Z'));
    // The same object a webhook receives: an id, and the account as `user`.
    assert!(disabled["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(disabled["user"]["id"].as_str().is_some());
    // A window that ends before everything: nothing.
    let out = nidan.run(&[
        "admin",
        "audit",
        "export",
        "--since",
        "2020-01-01",
        "--until",
        "2020-01-02",
    ]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out).trim(), "");
    let out = nidan.run(&["admin", "audit", "export", "--since", "yesterday"]);
    assert_status(&out, 1);
    assert_says(&stderr(&out), "--since");
}

#[test]
fn healthcheck_says_whether_the_server_is_ready() {
    let nidan = Instance::new();
    let port = free_port();
    let nobody = format!("http://127.0.0.1:{port}");
    let out = nidan.run(&["healthcheck", "--url", &nobody]);
    assert_status(&out, 1);
    assert_says(&stderr(&out), "nothing answers");
    let (_server, addr) = nidan.serve();
    let out = nidan.run(&["healthcheck", "--url", &format!("http://{addr}")]);
    assert_status(&out, 0);
    // Without --url, the configured listener.
    let out = nidan.run_with(&["healthcheck"], &[("NIDAN_SERVER_LISTEN", &addr)], None);
    assert_status(&out, 0);
}

#[test]
fn config_check_prints_the_settings_without_secrets() {
    let nidan = Instance::new();
    let env = [(
        "NIDAN_EMAIL_SMTP_URL",
        "smtps://mailer:hunter2-secret@mail.example.com:465",
    )];
    let out = nidan.run_with(&["config", "check"], &env, None);
    assert_status(&out, 0);
    let printed = stdout(&out);
    assert_says(&printed, "mail.example.com");
    assert!(!printed.contains("hunter2-secret"), "{printed}");
    let out = nidan.run_with(
        &["config", "check"],
        &[("NIDAN_SERVER_LISTEN", "nowhere")],
        None,
    );
    assert_status(&out, 2);
    assert_says(&stderr(&out), "server.listen");
}

/// `[metrics] listen`: `/metrics` moves to a listener of its own (the public one answers 404),
/// and carries the service's, the store's, the couriers', the hashing pool's and the process's
/// series, counted from what the server did.
#[test]
fn metrics_are_served_on_their_own_listener_with_every_layer_s_series() {
    let nidan = Instance::new();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let (_server, addr) = nidan.serve_with(&[("NIDAN_METRICS_LISTEN", &metrics_addr)]);
    let started = Instant::now();
    while TcpStream::connect(&metrics_addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no metrics listener"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call(&addr, "GET", "/metrics", "", "").0, 404);
    // A wrong password (a hash on the pool), and a write (sign-up) through the SQLite writer.
    let login = r#"{"email":"nobody@example.com","password":"not the password at all"}"#;
    assert_eq!(post_status(&addr, "/api/v1/login", "", login), 401);
    let signup = r#"{"email":"mia@example.com","password":"correct horse battery staple"}"#;
    assert_eq!(post_status(&addr, "/api/v1/users", "", signup), 201);

    let (status, text) = call(&metrics_addr, "GET", "/metrics", "", "");
    assert_eq!(status, 200, "{text}");
    for line in [
        "nidan_http_requests_total{route=\"/api/v1/login\",method=\"POST\",status=\"401\"} 1",
        "nidan_verifications_total{path=\"password\",method=\"password\",result=\"failure\"} 1",
        "nidan_password_hashing_workers ",
        "nidan_password_hashing_waiting 0",
        "nidan_sqlite_writer_commit_seconds_count ",
        "nidan_sqlite_writer_batch_jobs_bucket{le=\"1\"} ",
        "nidan_deliveries_total{channel=\"email\",kind=\"notice\",result=\"sent\"} 0",
        "nidan_send_caps_hit_total{cap=\"destination\"} 0",
        "nidan_password_limit_refusals_total 0",
        "nidan_notices_waiting ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
    ] {
        assert!(text.contains(line), "`{line}` missing in:\n{text}");
    }
    // Two hashes at least (the wrong password and the sign-up), each waited for.
    let waits = text
        .lines()
        .find_map(|l| l.strip_prefix("nidan_password_hashing_wait_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no hashing wait count in:\n{text}"));
    assert!(waits >= 2, "{waits}");
    // The metrics listener serves nothing else.
    assert_eq!(call(&metrics_addr, "GET", "/healthz", "", "").0, 404);
}
