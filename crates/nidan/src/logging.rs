//! Log output: text for people or JSON lines for collectors, always on standard error so that
//! command output on standard output (an API key, an import count) stays clean for scripts.
//!
//! The filter is `log.level` from config; `RUST_LOG`, when set, overrides it, as every tracing
//! user expects for a one-off debugging session.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError, LogFormat};

/// Variables with the `NIDAN_` prefix that are read outside the config module, so they are not
/// "unknown settings".
const KNOWN_OUTSIDE_CONFIG: &[&str] = &["NIDAN_CONFIG", crate::keyfile::ENV_VAR];

/// Installs the global subscriber. A `log.level` that is no valid filter is a bad setting.
pub fn init(config: &Config, force_json: bool) -> Result<(), ConfigError> {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| match EnvFilter::try_new(&directives) {
            Ok(filter) => Some(filter),
            Err(e) => {
                // A debugging aid should not stop a server; say so and use log.level.
                eprintln!("nidan: ignoring RUST_LOG, not a valid log filter: {e}");
                None
            }
        });
    let filter = match from_env {
        Some(filter) => filter,
        None => EnvFilter::try_new(&config.log.level).map_err(|e| ConfigError::Invalid {
            key: "log.level".into(),
            env: "NIDAN_LOG_LEVEL".into(),
            problem: format!("`{}` is not a valid log filter: {e}", config.log.level),
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // Only the first subscriber of a process counts; a second call (tests) is harmless.
    let _ = if force_json || config.log.format == LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

/// Warns about `NIDAN_*` variables that match no setting: usually a typo that would otherwise
/// be silently ignored.
pub fn warn_unknown_env(config: &Config) {
    for name in config.unknown_env() {
        if !KNOWN_OUTSIDE_CONFIG.contains(&name.as_str()) {
            tracing::warn!(variable = %name, "ignoring an environment variable that is no setting");
        }
    }
}
