//! Configuration: any TOML text and any `NIDAN_*` environment give a `Config` or a `ConfigError`
//! naming a setting — never a panic. The `nidan` crate is a binary, so its `config` module is
//! compiled into this target from its source file.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../crates/nidan/src"]
mod nidan_src {
    pub mod config;
}

use nidan_src::config::Config;

/// Setting names the environment half picks from (so it reaches real settings, not only
/// unknown ones).
const ENV: &[&str] = &[
    "NIDAN_DATA_DIR",
    "NIDAN_DATABASE_URL",
    "NIDAN_DATABASE_MAX_CONNECTIONS",
    "NIDAN_SERVER_LISTEN",
    "NIDAN_SERVER_PUBLIC_URL",
    "NIDAN_SERVER_TRUSTED_PROXIES",
    "NIDAN_SERVER_LOGIN_REQUESTS_PER_IP_PER_MINUTE",
    "NIDAN_LOG_FORMAT",
    "NIDAN_LOG_LEVEL",
    "NIDAN_TOTP_ISSUER",
    "NIDAN_TOTP_WINDOW",
    "NIDAN_SIGNUP_OPEN",
    "NIDAN_PASSWORD_MIN_LENGTH",
    "NIDAN_SESSION_IDLE_TIMEOUT_SECS",
    "NIDAN_CHALLENGE_TTL_SECS",
    "NIDAN_DEVICE_REMEMBER_DAYS",
    "NIDAN_THROTTLE_BASE_DELAY_SECS",
    "NIDAN_THROTTLE_MAX_DELAY_SECS",
    "NIDAN_THROTTLE_LOCK_AT",
    "NIDAN_HASHING_MAX_QUEUE",
    "NIDAN_EMAIL_SMTP_URL",
    "NIDAN_EMAIL_FROM",
    "NIDAN_SMS_PROVIDER",
    "NIDAN_SMS_URL",
    "NIDAN_SMS_BASE_URL",
    "NIDAN_SMS_DEFAULT_REGION",
    "NIDAN_SECRETS_KEY_FILE",
    "NIDAN_NOT_A_SETTING",
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    toml: &'a str,
    env: Vec<(u8, &'a str)>,
}

fuzz_target!(|input: Input<'_>| {
    let env: Vec<(String, String)> = input
        .env
        .iter()
        .take(8)
        .map(|(k, v)| (ENV[usize::from(*k) % ENV.len()].to_owned(), (*v).to_owned()))
        .collect();
    match Config::from_toml_str(input.toml, env) {
        Ok(config) => {
            // Debug output never panics and hides secrets (checked in the crate's own tests).
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
        }
    }
});
