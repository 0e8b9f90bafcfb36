#![allow(clippy::unwrap_used)]

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// The error message for a config with one environment variable set.
fn env_error(name: &str, value: &str) -> String {
    match Config::from_toml_str("", env(&[(name, value)])) {
        Ok(config) => panic!("{name}={value:?} was accepted: {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn toml_error(text: &str) -> ConfigError {
    match Config::from_toml_str(text, no_env()) {
        Ok(config) => panic!("{text:?} was accepted: {config:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults() {
    let c = Config::from_toml_str("", no_env()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("./nidan-data"));
    assert_eq!(c.database.url, "sqlite://./nidan-data/nidan.db");
    assert_eq!(c.database.max_connections, 8);
    assert_eq!(c.database.connect_timeout_secs, 5);
    assert_eq!(c.database.statement_timeout_secs, 5);
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.server.public_url, "http://localhost:8080");
    assert!(c.server.trusted_proxies.is_empty());
    assert_eq!(c.server.login_requests_per_ip_per_minute, 60);
    assert!(!c.server.is_https());
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.totp.issuer, "nidan");
    assert_eq!(c.totp.window, 1);
    assert!(c.signup.open);
    assert_eq!(c.password.min_length, 15);
    assert_eq!(c.session.idle_timeout_secs, 1800);
    assert_eq!(c.session.absolute_timeout_secs, 43200);
    assert_eq!(c.challenge.ttl_secs, 600);
    assert_eq!(c.challenge.max_attempts, 5);
    assert_eq!(c.device.remember_days, 30);
    assert_eq!(c.throttle.free_failures, 5);
    assert_eq!(c.throttle.base_delay_secs, 30);
    assert_eq!(c.throttle.max_delay_secs, 3600);
    assert_eq!(c.throttle.lock_at, 100);
    assert_eq!(c.hashing.max_concurrent, 0);
    assert!(c.hashing.effective_max_concurrent() >= 1);
    assert_eq!(c.hashing.max_queue, 64);
    assert_eq!(c.hashing.niceness, 10);
    assert_eq!(c.api.requests_per_key_per_minute, 0);
    assert_eq!(c.email.smtp_url, None);
    assert_eq!(c.email.from, "nidan <nidan@localhost>");
    assert!(!c.email.separate_address);
    assert_eq!(c.sms.provider, SmsProvider::Outbox);
    assert_eq!(c.sms.url, None);
    assert_eq!(c.sms.authorization, None);
    assert_eq!(c.sms.account_sid, None);
    assert_eq!(c.sms.auth_token, None);
    assert_eq!(c.sms.from, None);
    assert_eq!(c.sms.base_url, "https://api.twilio.com");
    assert_eq!(c.sms.default_region, "JP");
    assert_eq!(c.secrets.key_file, PathBuf::from("./nidan-data/secret.key"));
    assert!(c.unknown_env().is_empty());
    assert_eq!(Config::load(None, no_env()).unwrap(), c);
}

const FULL: &str = r#"
data_dir = "/var/lib/nidan"

[database]
url = "postgres://nidan:pw@db.internal/nidan"
max_connections = 32
connect_timeout_secs = 10

[server]
listen = "0.0.0.0:9000"
public_url = "https://2fa.example.com/"
trusted_proxies = ["10.0.0.0/8", "::1"]
login_requests_per_ip_per_minute = 0

[log]
format = "json"
level = "nidan=debug,info"

[totp]
issuer = "Example Corp"
window = 0

[signup]
open = false

[password]
min_length = 12

[session]
idle_timeout_secs = 600
absolute_timeout_secs = 3600

[challenge]
ttl_secs = 300
max_attempts = 3

[device]
remember_days = 0

[throttle]
free_failures = 3
base_delay_secs = 10
max_delay_secs = 600
lock_at = 50

[hashing]
max_concurrent = 2
max_queue = 100
niceness = 5

[api]
verify_per_key_per_minute = 600

[email]
smtp_url = "smtps://mailer:secret@mail.example.com:465"
from = "Example <no-reply@example.com>"
separate_address = true

[sms]
provider = "twilio"
account_sid = "AC123"
auth_token = "tok"
from = "+15005550006"
base_url = "http://localhost:4010"
default_region = "US"

[secrets]
key_file = "/etc/nidan/secret.key"
"#;

#[test]
fn automatic_hashing_threads_leave_half_the_cpus_to_the_runtime() {
    for (cpus, workers) in [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)] {
        assert_eq!(
            HashingConfig::automatic_workers(cpus),
            workers,
            "{cpus} CPUs"
        );
    }
    let auto = HashingConfig {
        max_concurrent: 0,
        max_queue: 64,
        niceness: 10,
    };
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(
        auto.effective_max_concurrent(),
        HashingConfig::automatic_workers(cpus)
    );
}

#[test]
fn toml_file_overrides_defaults() {
    let c = Config::from_toml_str(FULL, no_env()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/nidan"));
    assert_eq!(c.database.url, "postgres://nidan:pw@db.internal/nidan");
    assert_eq!(c.database.max_connections, 32);
    assert_eq!(c.database.connect_timeout_secs, 10);
    assert_eq!(c.server.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(c.server.public_url, "https://2fa.example.com");
    assert!(c.server.is_https());
    assert_eq!(
        c.server.trusted_proxies,
        vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    // The rule itself lives in the web layer; the config feeds it these networks.
    let nets = &c.server.trusted_proxies;
    assert!(nidan_web::extract::is_trusted_proxy(
        "10.9.8.7".parse().unwrap(),
        nets
    ));
    assert!(!nidan_web::extract::is_trusted_proxy(
        "192.0.2.1".parse().unwrap(),
        nets
    ));
    assert_eq!(c.server.login_requests_per_ip_per_minute, 0);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level, "nidan=debug,info");
    assert_eq!(c.totp.issuer, "Example Corp");
    assert_eq!(c.totp.window, 0);
    assert!(!c.signup.open);
    assert_eq!(c.password.min_length, 12);
    assert_eq!(c.session.idle_timeout_secs, 600);
    assert_eq!(c.session.absolute_timeout_secs, 3600);
    assert_eq!(c.challenge.ttl_secs, 300);
    assert_eq!(c.challenge.max_attempts, 3);
    assert_eq!(c.device.remember_days, 0);
    assert_eq!(c.throttle.free_failures, 3);
    assert_eq!(c.throttle.base_delay_secs, 10);
    assert_eq!(c.throttle.max_delay_secs, 600);
    assert_eq!(c.throttle.lock_at, 50);
    assert_eq!(c.hashing.max_concurrent, 2);
    assert_eq!(c.hashing.effective_max_concurrent(), 2);
    assert_eq!(c.hashing.max_queue, 100);
    assert_eq!(c.hashing.niceness, 5);
    assert_eq!(c.api.requests_per_key_per_minute, 600);
    assert_eq!(
        c.email.smtp_url.as_deref(),
        Some("smtps://mailer:secret@mail.example.com:465")
    );
    assert_eq!(c.email.from, "Example <no-reply@example.com>");
    assert!(c.email.separate_address);
    assert_eq!(c.sms.provider, SmsProvider::Twilio);
    assert_eq!(c.sms.account_sid.as_deref(), Some("AC123"));
    assert_eq!(c.sms.auth_token.as_deref(), Some("tok"));
    assert_eq!(c.sms.from.as_deref(), Some("+15005550006"));
    assert_eq!(c.sms.base_url, "http://localhost:4010");
    assert_eq!(c.sms.default_region, "US");
    assert_eq!(c.secrets.key_file, PathBuf::from("/etc/nidan/secret.key"));
}

#[test]
fn load_reads_the_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nidan.toml");
    std::fs::write(&path, "[totp]\nissuer = \"From File\"\n").unwrap();
    let c = Config::load(Some(&path), no_env()).unwrap();
    assert_eq!(c.totp.issuer, "From File");

    std::fs::write(&path, "[totp]\nissuer = \"x\"\nwindow = 2\n").unwrap();
    let msg = Config::load(Some(&path), no_env()).unwrap_err().to_string();
    assert!(msg.contains("NIDAN_TOTP_WINDOW"), "{msg}");

    std::fs::write(&path, "[server]\nlisen = \"0.0.0.0:1\"\n").unwrap();
    let msg = Config::load(Some(&path), no_env()).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("`server.lisen`"), "{msg}");

    std::fs::write(&path, "[server]\nlisten = \n").unwrap();
    let msg = Config::load(Some(&path), no_env()).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");

    let missing = dir.path().join("missing.toml");
    let err = Config::load(Some(&missing), no_env()).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

#[test]
fn parse_errors_give_line_and_column() {
    let err = toml_error("[server]\nlisten = \"127.0.0.1:80\"\nlisten = \"x\"\n");
    let ConfigError::Parse { line, column, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*line, Some(3));
    assert!(column.is_some());
    assert!(err.to_string().starts_with("config text, line 3"), "{err}");
}

#[test]
fn env_overrides_toml() {
    let c = Config::from_toml_str(
        FULL,
        env(&[
            ("NIDAN_SERVER_LISTEN", "127.0.0.1:7000"),
            ("NIDAN_TOTP_ISSUER", "From Env"),
            ("NIDAN_SIGNUP_OPEN", "YES"),
            (
                "NIDAN_SERVER_TRUSTED_PROXIES",
                " 192.168.0.0/16 , ,fd00::/8",
            ),
            ("NIDAN_DATABASE_MAX_CONNECTIONS", " 4 "),
            ("NIDAN_SMS_PROVIDER", "Webhook"),
            ("NIDAN_SMS_URL", "https://hooks.example.com/sms"),
            ("NIDAN_EMAIL_SMTP_URL", ""),
            ("NIDAN_LOG_FORMAT", "text"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(
        c.server.public_url, "https://2fa.example.com",
        "explicit wins over derived"
    );
    assert_eq!(c.totp.issuer, "From Env");
    assert!(c.signup.open);
    assert_eq!(
        c.server.trusted_proxies,
        vec![
            "192.168.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
    assert_eq!(c.database.max_connections, 4);
    assert_eq!(c.sms.provider, SmsProvider::Webhook);
    assert_eq!(c.sms.url.as_deref(), Some("https://hooks.example.com/sms"));
    assert_eq!(
        c.email.smtp_url, None,
        "an empty variable clears an optional setting"
    );
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(
        c.password.min_length, 12,
        "untouched settings keep the file's value"
    );
    assert!(c.unknown_env().is_empty());

    let empty = Config::from_toml_str(FULL, env(&[("NIDAN_SERVER_TRUSTED_PROXIES", "")])).unwrap();
    assert!(empty.server.trusted_proxies.is_empty());
}

#[test]
fn booleans_accept_the_usual_spellings() {
    for (text, want) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("Yes", true),
        ("false", false),
        ("0", false),
        ("no", false),
        ("NO", false),
    ] {
        let c = Config::from_toml_str("", env(&[("NIDAN_SIGNUP_OPEN", text)])).unwrap();
        assert_eq!(c.signup.open, want, "{text}");
    }
}

#[test]
fn derived_defaults_follow_data_dir_and_listen() {
    let c = Config::from_toml_str("", env(&[("NIDAN_DATA_DIR", "/x")])).unwrap();
    assert_eq!(c.database.url, "sqlite:///x/nidan.db");
    assert_eq!(c.secrets.key_file, PathBuf::from("/x/secret.key"));

    // The env data_dir wins over the file's, and derived values follow the winner.
    let c = Config::from_toml_str(
        "data_dir = \"/from-file\"",
        env(&[("NIDAN_DATA_DIR", "/x")]),
    )
    .unwrap();
    assert_eq!(c.database.url, "sqlite:///x/nidan.db");

    // Explicit settings do not move.
    let c = Config::from_toml_str(
        "[database]\nurl = \"sqlite:///db/n.db\"\n[secrets]\nkey_file = \"/keys/k\"\n",
        env(&[("NIDAN_DATA_DIR", "/x")]),
    )
    .unwrap();
    assert_eq!(c.database.url, "sqlite:///db/n.db");
    assert_eq!(c.secrets.key_file, PathBuf::from("/keys/k"));

    // Loopback: named `localhost`, where browsers allow security keys.
    let c = Config::from_toml_str("", env(&[("NIDAN_SERVER_LISTEN", "[::1]:9090")])).unwrap();
    assert_eq!(c.server.public_url, "http://localhost:9090");
    let c = Config::from_toml_str("", env(&[("NIDAN_SERVER_LISTEN", "10.0.0.5:9090")])).unwrap();
    assert_eq!(c.server.public_url, "http://10.0.0.5:9090");
}

#[test]
fn every_validation_names_the_setting() {
    let long_issuer = "x".repeat(65);
    let cases: &[(&str, &str, &str)] = &[
        ("NIDAN_DATA_DIR", "", "empty"),
        ("NIDAN_DATABASE_URL", "mysql://u:p@h/db", "sqlite://"),
        ("NIDAN_DATABASE_URL", "sqlite://", "sqlite://"),
        ("NIDAN_DATABASE_MAX_CONNECTIONS", "0", "from 1 to 512"),
        ("NIDAN_DATABASE_MAX_CONNECTIONS", "513", "from 1 to 512"),
        (
            "NIDAN_DATABASE_MAX_CONNECTIONS",
            "many",
            "not a whole number",
        ),
        ("NIDAN_DATABASE_CONNECT_TIMEOUT_SECS", "0", "from 1 to 300"),
        (
            "NIDAN_DATABASE_CONNECT_TIMEOUT_SECS",
            "301",
            "from 1 to 300",
        ),
        (
            "NIDAN_SERVER_LISTEN",
            "nope",
            "`nope` is not a socket address like 127.0.0.1:8080",
        ),
        (
            "NIDAN_SERVER_PUBLIC_URL",
            "ftp://example.com",
            "http:// or https://",
        ),
        ("NIDAN_SERVER_PUBLIC_URL", "https://", "http:// or https://"),
        (
            "NIDAN_SERVER_PUBLIC_URL",
            "https://exa mple.com",
            "http:// or https://",
        ),
        (
            "NIDAN_SERVER_PUBLIC_URL",
            "https://example.com:port",
            "http:// or https://",
        ),
        (
            "NIDAN_SERVER_TRUSTED_PROXIES",
            "10.0.0.0/8,bogus",
            "`bogus`",
        ),
        (
            "NIDAN_SERVER_TRUSTED_PROXIES",
            "10.0.0.1/8",
            "did you mean 10.0.0.0/8",
        ),
        (
            "NIDAN_SERVER_TRUSTED_PROXIES",
            "10.0.0.0/40",
            "`10.0.0.0/40`",
        ),
        (
            "NIDAN_SERVER_LOGIN_REQUESTS_PER_IP_PER_MINUTE",
            "-1",
            "not a whole number",
        ),
        ("NIDAN_LOG_FORMAT", "xml", "`xml` is not `text` or `json`"),
        ("NIDAN_LOG_LEVEL", "", "empty"),
        ("NIDAN_TOTP_ISSUER", "Acme:Login", "`:`"),
        ("NIDAN_TOTP_ISSUER", &long_issuer, "1 to 64 characters"),
        ("NIDAN_TOTP_ISSUER", "", "1 to 64 characters"),
        ("NIDAN_TOTP_ISSUER", "a\u{7}b", "control"),
        ("NIDAN_TOTP_WINDOW", "2", "never above 1"),
        ("NIDAN_SIGNUP_OPEN", "maybe", "true/false"),
        ("NIDAN_PASSWORD_MIN_LENGTH", "7", "from 8 to 64"),
        ("NIDAN_PASSWORD_MIN_LENGTH", "65", "from 8 to 64"),
        ("NIDAN_SESSION_IDLE_TIMEOUT_SECS", "59", "from 60 to 86400"),
        (
            "NIDAN_SESSION_IDLE_TIMEOUT_SECS",
            "86401",
            "from 60 to 86400",
        ),
        (
            "NIDAN_SESSION_ABSOLUTE_TIMEOUT_SECS",
            "1799",
            "session.idle_timeout_secs",
        ),
        ("NIDAN_SESSION_ABSOLUTE_TIMEOUT_SECS", "2592001", "30 days"),
        ("NIDAN_CHALLENGE_TTL_SECS", "59", "from 60 to 600"),
        ("NIDAN_CHALLENGE_TTL_SECS", "601", "from 60 to 600"),
        ("NIDAN_CHALLENGE_MAX_ATTEMPTS", "0", "from 1 to 10"),
        ("NIDAN_CHALLENGE_MAX_ATTEMPTS", "11", "from 1 to 10"),
        ("NIDAN_DEVICE_REMEMBER_DAYS", "91", "from 0 to 90"),
        ("NIDAN_THROTTLE_FREE_FAILURES", "0", "from 1 to 20"),
        ("NIDAN_THROTTLE_FREE_FAILURES", "21", "from 1 to 20"),
        ("NIDAN_THROTTLE_BASE_DELAY_SECS", "0", "from 1 to 3600"),
        ("NIDAN_THROTTLE_BASE_DELAY_SECS", "3601", "from 1 to 3600"),
        (
            "NIDAN_THROTTLE_MAX_DELAY_SECS",
            "29",
            "throttle.base_delay_secs",
        ),
        ("NIDAN_THROTTLE_MAX_DELAY_SECS", "86401", "from 30 to 86400"),
        ("NIDAN_THROTTLE_LOCK_AT", "5", "throttle.free_failures"),
        ("NIDAN_THROTTLE_LOCK_AT", "101", "NIST"),
        ("NIDAN_HASHING_MAX_CONCURRENT", "65", "from 0 to 64"),
        ("NIDAN_HASHING_MAX_QUEUE", "0", "from 1 to 10000"),
        ("NIDAN_HASHING_MAX_QUEUE", "10001", "from 1 to 10000"),
        ("NIDAN_HASHING_NICENESS", "20", "from 0 to 19"),
        (
            "NIDAN_API_VERIFY_PER_KEY_PER_MINUTE",
            "lots",
            "not a whole number",
        ),
        ("NIDAN_EMAIL_SMTP_URL", "http://mail.example.com", "smtp://"),
        (
            "NIDAN_EMAIL_FROM",
            "a <a@example.com>\r\nBcc: b@example.com",
            "control",
        ),
        ("NIDAN_EMAIL_SEPARATE_ADDRESS", "sometimes", "true/false"),
        (
            "NIDAN_SMS_PROVIDER",
            "pigeon",
            "`pigeon` is not `outbox`, `webhook` or `twilio`",
        ),
        ("NIDAN_SMS_URL", "hooks.example.com", "http:// or https://"),
        (
            "NIDAN_SMS_BASE_URL",
            "ftp://api.twilio.com",
            "http:// or https://",
        ),
        ("NIDAN_SMS_DEFAULT_REGION", "jp", "two uppercase letters"),
        ("NIDAN_SMS_DEFAULT_REGION", "JPN", "two uppercase letters"),
        ("NIDAN_SECRETS_KEY_FILE", "", "empty"),
    ];
    for (name, value, expected) in cases {
        let msg = env_error(name, value);
        let key = source::SETTINGS
            .iter()
            .find(|k| source::env_name(k) == *name)
            .unwrap();
        assert!(
            msg.starts_with(&format!("setting `{key}` ({name}): ")),
            "{name}={value:?}: {msg}"
        );
        assert!(msg.contains(expected), "{name}={value:?}: {msg}");
    }
}

#[test]
fn spec_example_message() {
    assert_eq!(
        env_error("NIDAN_SERVER_LISTEN", "nope"),
        "setting `server.listen` (NIDAN_SERVER_LISTEN): `nope` is not a socket address like 127.0.0.1:8080"
    );
}

#[test]
fn sms_providers_require_their_settings() {
    let msg = env_error("NIDAN_SMS_PROVIDER", "webhook");
    assert!(msg.contains("`sms.url` (NIDAN_SMS_URL)"), "{msg}");
    assert!(msg.contains("required"), "{msg}");

    let err = Config::from_toml_str(
        "[sms]\nprovider = \"twilio\"\naccount_sid = \"AC1\"\nfrom = \"+15005550006\"\n",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`sms.auth_token` (NIDAN_SMS_AUTH_TOKEN)"),
        "{err}"
    );

    let ok = Config::from_toml_str(
        "[sms]\nprovider = \"webhook\"\nurl = \"http://127.0.0.1:9/sms\"\nauthorization = \"Bearer x\"\n",
        no_env(),
    )
    .unwrap();
    assert_eq!(ok.sms.authorization.as_deref(), Some("Bearer x"));
}

#[test]
fn toml_type_errors_name_the_setting() {
    let msg = toml_error("[server]\nlisten = 8080\n").to_string();
    assert_eq!(
        msg,
        "setting `server.listen` (NIDAN_SERVER_LISTEN): expected a string, not an integer"
    );
    let msg = toml_error("[totp]\nwindow = -1\n").to_string();
    assert!(msg.contains("NIDAN_TOTP_WINDOW"), "{msg}");
    let msg = toml_error("[totp]\nwindow = 7\n").to_string();
    assert!(msg.contains("never above 1"), "{msg}");
    let msg = toml_error("[signup]\nopen = \"yes\"\n").to_string();
    assert!(msg.contains("NIDAN_SIGNUP_OPEN"), "{msg}");
    let msg = toml_error("[server]\ntrusted_proxies = \"10.0.0.0/8\"\n").to_string();
    assert!(msg.contains("NIDAN_SERVER_TRUSTED_PROXIES"), "{msg}");
    let msg = toml_error("[server]\ntrusted_proxies = [1]\n").to_string();
    assert!(msg.contains("NIDAN_SERVER_TRUSTED_PROXIES"), "{msg}");
    let msg = toml_error("server = 5\n").to_string();
    assert!(msg.contains("setting `server`"), "{msg}");
    let msg = toml_error("[database]\nmax_connections = 1.5\n").to_string();
    assert!(msg.contains("NIDAN_DATABASE_MAX_CONNECTIONS"), "{msg}");
}

#[test]
fn unknown_toml_keys_are_refused() {
    let err = toml_error("[server]\nlisen = \"0.0.0.0:80\"\n");
    assert_eq!(
        err.to_string(),
        "config text: unknown setting `server.lisen` (did you mean `server.listen`?)"
    );
    let err = toml_error("colour = \"blue\"\n");
    assert!(
        matches!(&err, ConfigError::UnknownKey { key, .. } if key == "colour"),
        "{err}"
    );
    let err = toml_error("[serverr]\nlisten = \"0.0.0.0:80\"\n");
    assert!(err.to_string().contains("`serverr`"), "{err}");
    let err = toml_error("[server.tls]\ncert = \"x\"\n");
    assert!(err.to_string().contains("`server.tls`"), "{err}");
}

#[test]
fn unknown_env_is_reported_not_refused() {
    let c = Config::from_toml_str(
        "",
        env(&[
            ("NIDAN_TEST_DATABASE_URL", "postgres://x"),
            ("NIDAN_SERVER_LISTNE", "1.2.3.4:5"),
            ("NIDAN_TEST_DATABASE_URL", "postgres://y"),
            ("HOME", "/root"),
            ("nidan_server_listen", "lowercase is not ours"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.unknown_env(),
        ["NIDAN_SERVER_LISTNE", "NIDAN_TEST_DATABASE_URL"]
    );
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
}

#[test]
fn debug_hides_secrets() {
    let c = Config::from_toml_str(
        FULL,
        env(&[
            (
                "NIDAN_DATABASE_URL",
                "postgres://nidan:pg-s3cret@db/nidan?sslpassword=ssl-s3cret",
            ),
            (
                "NIDAN_EMAIL_SMTP_URL",
                "smtp://mailer:smtp-s3cret@mail.example.com:587",
            ),
            ("NIDAN_SMS_AUTH_TOKEN", "twilio-s3cret"),
            (
                "NIDAN_SMS_URL",
                "https://hooks.example.com/sms?token=hook-s3cret",
            ),
            ("NIDAN_SMS_AUTHORIZATION", "Bearer auth-s3cret"),
        ]),
    )
    .unwrap();
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    for text in [&debug, &pretty] {
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("postgres://nidan:<redacted>@db/nidan"),
            "{text}"
        );
        assert!(
            text.contains("smtp://mailer:<redacted>@mail.example.com:587"),
            "{text}"
        );
        assert!(text.contains("AC123"), "non-secrets stay visible: {text}");
    }
    // Error messages do not echo URL passwords either.
    let msg = env_error("NIDAN_DATABASE_URL", "mysql://root:db-s3cret@h/x");
    assert!(!msg.contains("s3cret"), "{msg}");
    let msg = env_error("NIDAN_EMAIL_SMTP_URL", "http://u:mail-s3cret@h");
    assert!(!msg.contains("s3cret"), "{msg}");
}

const DOCS: &str = include_str!("../../../../docs/configuration.md");

#[test]
fn docs_list_every_setting() {
    for key in source::SETTINGS {
        let env = source::env_name(key);
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let toml_form = if section.is_empty() {
            format!("`{name}`")
        } else {
            format!("`[{section}] {name}`")
        };
        assert!(DOCS.contains(&toml_form), "docs lack {toml_form}");
        assert!(DOCS.contains(&format!("`{env}`")), "docs lack {env}");
    }
}

#[test]
fn docs_sample_is_valid() {
    let start = DOCS.find("```toml\n").unwrap() + "```toml\n".len();
    let len = DOCS[start..].find("```").unwrap();
    let sample = &DOCS[start..start + len];
    let c = Config::from_toml_str(sample, no_env()).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
}

#[test]
fn access_rules_are_read_in_order_and_checked() {
    let c = Config::from_toml_str(
        r#"
[server]
public_url = "https://auth.example.com"

[session]
cookie_domain = "Example.com"

[access]
default_policy = "one_factor"
allowed_redirects = ["https://partner.example.org"]

[[access.rules]]
hosts = ["wiki.example.com"]
paths = ["/public"]
policy = "bypass"

[[access.rules]]
hosts = ["*.example.com"]
groups = ["admins"]
policy = "two_factor"
"#,
        no_env(),
    )
    .unwrap();
    assert_eq!(c.session.cookie_domain.as_deref(), Some("example.com"));
    assert_eq!(c.access.rules.rules.len(), 2);
    assert_eq!(
        c.access.rules.default_policy,
        nidan_domain::Policy::OneFactor
    );
    assert_eq!(
        c.access.rules.rules[1].policy,
        nidan_domain::Policy::TwoFactor
    );
    assert_eq!(c.access.allowed_redirects, ["https://partner.example.org"]);

    // The default: no rules, everything denied, no shared cookie.
    let d = Config::from_toml_str("", no_env()).unwrap();
    assert!(d.access.rules.rules.is_empty());
    assert_eq!(d.access.rules.default_policy, nidan_domain::Policy::Deny);
    assert_eq!(d.session.cookie_domain, None);
}

#[test]
fn access_rules_come_from_the_environment_as_an_inline_array() {
    let env = vec![(
        "NIDAN_ACCESS_RULES".to_string(),
        r#"[{hosts = ["a.example.com"], policy = "deny"}, {hosts = ["*.example.com"], policy = "one_factor"}]"#.to_string(),
    )];
    let c = Config::from_toml_str("", env).unwrap();
    assert_eq!(c.access.rules.rules.len(), 2);
    assert_eq!(c.access.rules.rules[0].policy, nidan_domain::Policy::Deny);
}

#[test]
fn a_bad_rule_is_named() {
    let msg = |rules: &str| {
        Config::from_toml_str(rules, no_env())
            .unwrap_err()
            .to_string()
    };
    let m = msg(
        "[[access.rules]]\nhosts = [\"a.example\"]\npolicy = \"one_factor\"\n[[access.rules]]\nhosts = [\"a.example\"]\npolicy = \"2fa\"\n",
    );
    assert!(m.contains("access.rules[2]") && m.contains("2fa"), "{m}");
    let m = msg("[[access.rules]]\nhosts = [\"a.b.example\"]\npolicy = \"deny\"\nhost = \"x\"\n");
    assert!(
        m.contains("access.rules[1]") && m.contains("unknown key `host`"),
        "{m}"
    );
    let m = msg("[[access.rules]]\nhosts = [\"*.*.example\"]\npolicy = \"deny\"\n");
    assert!(
        m.contains("access.rules[1]") && m.contains("*.*.example"),
        "{m}"
    );
    let m = msg("[[access.rules]]\npaths = [\"/x\"]\npolicy = \"deny\"\n");
    assert!(m.contains("at least one entry in `hosts`"), "{m}");
    let m = msg("[[access.rules]]\nhosts = [\"a.example\"]\npaths = [\"x\"]\npolicy = \"deny\"\n");
    assert!(m.contains("must start with `/`"), "{m}");
    let m = msg("[access]\ndefault_policy = \"allow\"\n");
    assert!(m.contains("access.default_policy"), "{m}");
}

#[test]
fn the_cookie_domain_must_cover_nidans_own_host() {
    let err = Config::from_toml_str(
        "[server]\npublic_url = \"https://auth.example.com\"\n[session]\ncookie_domain = \"example.org\"\n",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("session.cookie_domain") && err.contains("auth.example.com"),
        "{err}"
    );
    let err = Config::from_toml_str(
        "[access]\nallowed_redirects = [\"partner.example.org\"]\n",
        no_env(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("access.allowed_redirects"), "{err}");
}

#[test]
fn a_secret_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp");
    std::fs::write(&file, "smtps://mailer:s3cret@mail.example.com:465\n").unwrap();
    let env = vec![(
        "NIDAN_EMAIL_SMTP_URL_FILE".to_string(),
        file.display().to_string(),
    )];
    let c = Config::from_toml_str("", env).unwrap();
    assert_eq!(
        c.email.smtp_url.as_deref(),
        Some("smtps://mailer:s3cret@mail.example.com:465"),
        "the file's content, without its line break"
    );
    assert!(c.unknown_env().is_empty());

    let missing = vec![(
        "NIDAN_EMAIL_SMTP_URL_FILE".to_string(),
        "/nonexistent/secret".to_string(),
    )];
    let e = Config::from_toml_str("", missing).unwrap_err().to_string();
    assert!(
        e.contains("NIDAN_EMAIL_SMTP_URL_FILE") && e.contains("/nonexistent/secret"),
        "{e}"
    );

    let both = vec![
        (
            "NIDAN_EMAIL_SMTP_URL_FILE".to_string(),
            file.display().to_string(),
        ),
        (
            "NIDAN_EMAIL_SMTP_URL".to_string(),
            "smtp://localhost".to_string(),
        ),
    ];
    let e = Config::from_toml_str("", both).unwrap_err().to_string();
    assert!(e.contains("keep one"), "{e}");
    // The key file's own setting ends in _FILE and stays what it is.
    let key = vec![(
        "NIDAN_SECRETS_KEY_FILE".to_string(),
        "/etc/nidan/secret.key".to_string(),
    )];
    let c = Config::from_toml_str("", key).unwrap();
    assert_eq!(
        c.secrets.key_file,
        std::path::PathBuf::from("/etc/nidan/secret.key")
    );
}
