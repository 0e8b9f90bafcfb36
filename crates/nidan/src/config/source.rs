//! The raw layers under the typed config: the TOML file flattened to `section.key` names, then
//! the `NIDAN_*` environment on top, and typed getters that turn a raw value into a Rust value or
//! a [`ConfigError`] naming the setting.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// Every setting, in TOML form: `section.key`, or `key` at the top level.
pub(super) const SETTINGS: &[&str] = &[
    "data_dir",
    "database.url",
    "database.max_connections",
    "database.connect_timeout_secs",
    "database.statement_timeout_secs",
    "server.listen",
    "server.public_url",
    "server.trusted_proxies",
    "server.login_requests_per_ip_per_minute",
    "log.format",
    "log.level",
    "totp.issuer",
    "totp.window",
    "signup.open",
    "signup.max_per_client_per_hour",
    "password.min_length",
    "password.resets_per_hour",
    "password.resets_per_client_per_hour",
    "session.idle_timeout_secs",
    "session.absolute_timeout_secs",
    "session.cookie_domain",
    "access.default_policy",
    "access.rules",
    "access.allowed_redirects",
    "challenge.ttl_secs",
    "challenge.max_attempts",
    "codes.ttl_secs",
    "codes.max_attempts",
    "codes.resend_after_secs",
    "codes.per_account_per_15min",
    "codes.per_destination_per_day",
    "codes.unconfirmed_per_account_per_day",
    "codes.unconfirmed_per_client_per_hour",
    "device.remember_days",
    "throttle.free_failures",
    "throttle.base_delay_secs",
    "throttle.max_delay_secs",
    "throttle.lock_at",
    "hashing.max_concurrent",
    "hashing.max_queue",
    "hashing.niceness",
    "api.requests_per_key_per_minute",
    "api.verify_per_key_per_minute",
    "email.smtp_url",
    "email.from",
    "email.separate_address",
    "email.max_per_hour",
    "sms.provider",
    "sms.url",
    "retention.activity_days",
    "retention.sent_notices_days",
    "metrics.listen",
    "support.contact_url",
    "support.contact_email",
    "sms.authorization",
    "sms.account_sid",
    "sms.auth_token",
    "sms.from",
    "sms.base_url",
    "sms.default_region",
    "sms.max_per_hour",
    "sms.allowed_countries",
    "risk.home_countries",
    "risk.geoip_db",
    "risk.unknown_country",
    "methods.enabled",
    "secrets.key_file",
    "webhooks",
];

/// The environment name of a setting: `server.listen` → `NIDAN_SERVER_LISTEN`,
/// `data_dir` → `NIDAN_DATA_DIR`.
pub(super) fn env_name(key: &str) -> String {
    format!("NIDAN_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// The error for a setting, named in both forms.
pub(super) fn invalid(key: &str, problem: impl Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        env: env_name(key),
        problem: problem.to_string(),
    }
}

/// One raw value, before typing.
enum Raw {
    Toml(toml::Value),
    Env(String),
}

/// The merged sources: file values, overwritten by environment values.
pub(super) struct Sources {
    values: HashMap<&'static str, Raw>,
    unknown_env: Vec<String>,
}

impl Sources {
    /// Parses `text` as TOML and lays `env` over it. `file` only names the source in errors.
    pub(super) fn new(
        text: &str,
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = e
                .span()
                .and_then(|span| line_column(text, span.start))
                .unzip();
            ConfigError::Parse {
                file: file.map(Path::to_owned),
                line,
                column,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        let mut values = HashMap::new();
        for (name, value) in table {
            if let Some(key) = known(&name) {
                values.insert(key, Raw::Toml(value));
                continue;
            }
            let is_section = SETTINGS.iter().any(|s| {
                s.split_once('.')
                    .is_some_and(|(section, _)| section == name)
            });
            if !is_section {
                return Err(unknown_key(name, file));
            }
            let toml::Value::Table(section) = value else {
                return Err(ConfigError::Invalid {
                    key: name.clone(),
                    env: format!("NIDAN_{}_*", name.to_ascii_uppercase()),
                    problem: format!("expected a table `[{name}]`, not {}", a(value.type_str())),
                });
            };
            for (sub, value) in section {
                let full = format!("{name}.{sub}");
                match known(&full) {
                    Some(key) => {
                        values.insert(key, Raw::Toml(value));
                    }
                    None => return Err(unknown_key(full, file)),
                }
            }
        }
        let mut unknown_env = Vec::new();
        let mut from_files: Vec<(&'static str, String)> = Vec::new();
        let mut from_env: Vec<&'static str> = Vec::new();
        for (name, value) in env {
            if !name.starts_with("NIDAN_") {
                continue;
            }
            if let Some(key) = SETTINGS.iter().find(|key| env_name(key) == name) {
                values.insert(key, Raw::Env(value.trim().to_owned()));
                from_env.push(key);
                continue;
            }
            // `NIDAN_<SETTING>_FILE=/run/secrets/…`: the setting's value is that file's content
            // (Docker and Kubernetes secrets), without its final line break.
            let file_of = name
                .strip_suffix("_FILE")
                .and_then(|base| SETTINGS.iter().find(|key| env_name(key) == base));
            match file_of {
                Some(key) => {
                    let content = std::fs::read_to_string(value.trim()).map_err(|e| {
                        ConfigError::Invalid {
                            key: (*key).to_owned(),
                            env: name.clone(),
                            problem: format!("cannot read `{}`: {e}", value.trim()),
                        }
                    })?;
                    from_files.push((key, content.trim_end_matches(['\n', '\r']).to_owned()));
                }
                None => unknown_env.push(name),
            }
        }
        for (key, content) in from_files {
            if from_env.contains(&key) {
                return Err(ConfigError::Invalid {
                    key: key.to_owned(),
                    env: format!("{}_FILE", env_name(key)),
                    problem: format!(
                        "both {} and {}_FILE are set: keep one",
                        env_name(key),
                        env_name(key)
                    ),
                });
            }
            values.insert(key, Raw::Env(content));
        }
        unknown_env.sort();
        unknown_env.dedup();
        Ok(Self {
            values,
            unknown_env,
        })
    }

    /// `NIDAN_*` variables that matched no setting, sorted.
    pub(super) fn unknown_env(&self) -> &[String] {
        &self.unknown_env
    }

    /// A string setting.
    pub(super) fn string(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Raw::Env(s)) => Ok(Some(s.clone())),
            Some(Raw::Toml(toml::Value::String(s))) => Ok(Some(s.clone())),
            Some(Raw::Toml(other)) => Err(wrong_type(key, "a string", other)),
        }
    }

    /// An optional string setting: unset and empty both mean "none".
    pub(super) fn optional_string(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self.string(key)?.filter(|s| !s.trim().is_empty()))
    }

    /// A path setting; an empty path is refused.
    pub(super) fn path(&self, key: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        match self.string(key)? {
            Some(s) if s.trim().is_empty() => Err(invalid(key, "must not be empty")),
            other => Ok(other.map(PathBuf::from)),
        }
    }

    /// A setting parsed from a string with `FromStr`; `what` completes "`x` is not …".
    pub(super) fn parsed<T: std::str::FromStr>(
        &self,
        key: &'static str,
        what: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| invalid(key, format!("`{s}` is not {what}"))),
        }
    }

    /// A boolean: TOML `true`/`false`; in the environment also 1/0/yes/no, any case.
    pub(super) fn boolean(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.values.get(key) {
            None => Ok(default),
            Some(Raw::Toml(toml::Value::Boolean(b))) => Ok(*b),
            Some(Raw::Toml(other)) => Err(wrong_type(key, "true or false", other)),
            Some(Raw::Env(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(invalid(
                    key,
                    format!("`{s}` is not a boolean: use true/false, 1/0 or yes/no"),
                )),
            },
        }
    }

    /// A list of strings: a TOML array, or comma-separated in the environment (entries are
    /// trimmed; empty entries are skipped, so an empty variable is an empty list).
    pub(super) fn list(&self, key: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Raw::Env(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Some(Raw::Toml(toml::Value::Array(items))) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(invalid(
                        key,
                        format!("every entry must be a string, not {}", a(other.type_str())),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Raw::Toml(other)) => Err(wrong_type(key, "a list of strings", other)),
        }
    }

    /// An array of tables (`[[section.key]]` in the file); in the environment the same written as
    /// an inline TOML array: `[{a = 1}, {a = 2}]`.
    pub(super) fn tables(
        &self,
        key: &'static str,
    ) -> Result<Option<Vec<toml::Table>>, ConfigError> {
        let value = match self.values.get(key) {
            None => return Ok(None),
            Some(Raw::Toml(v)) => v.clone(),
            Some(Raw::Env(s)) => {
                let parsed: toml::Table =
                    format!("v = {s}").parse().map_err(|e: toml::de::Error| {
                        invalid(
                            key,
                            format!(
                                "not an inline TOML array of tables: {}",
                                e.message().trim_end()
                            ),
                        )
                    })?;
                parsed
                    .get("v")
                    .cloned()
                    .unwrap_or(toml::Value::Array(Vec::new()))
            }
        };
        match value {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::Table(t) => Ok(t),
                    other => Err(invalid(
                        key,
                        format!("every entry must be a table, not {}", a(other.type_str())),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => Err(wrong_type(key, "an array of tables", &other)),
        }
    }

    /// A whole number in `lo..=hi` (`default` when unset), converted to the field's type.
    /// `note`, when not empty, is added to the out-of-range message to say why.
    pub(super) fn number<T: TryFrom<u64>>(
        &self,
        key: &'static str,
        default: u64,
        lo: u64,
        hi: u64,
        note: &str,
    ) -> Result<T, ConfigError> {
        let value = match self.values.get(key) {
            None => default,
            Some(Raw::Env(s)) => s.parse::<u64>().map_err(|_| {
                invalid(
                    key,
                    format!("`{s}` is not a whole number from {lo} to {hi}"),
                )
            })?,
            Some(Raw::Toml(toml::Value::Integer(i))) => u64::try_from(*i).map_err(|_| {
                invalid(
                    key,
                    format!("`{i}` is out of range: must be from {lo} to {hi}"),
                )
            })?,
            Some(Raw::Toml(other)) => return Err(wrong_type(key, "a whole number", other)),
        };
        if !(lo..=hi).contains(&value) {
            let mut problem = format!("`{value}` is out of range: must be from {lo} to {hi}");
            if !note.is_empty() {
                problem.push_str("; ");
                problem.push_str(note);
            }
            return Err(invalid(key, problem));
        }
        T::try_from(value).map_err(|_| invalid(key, format!("`{value}` is too large")))
    }
}

/// The static name of a known setting.
fn known(key: &str) -> Option<&'static str> {
    SETTINGS.iter().copied().find(|s| *s == key)
}

fn wrong_type(key: &str, expected: &str, found: &toml::Value) -> ConfigError {
    invalid(
        key,
        format!("expected {expected}, not {}", a(found.type_str())),
    )
}

/// "integer" → "an integer", "string" → "a string".
fn a(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

fn unknown_key(key: String, file: Option<&Path>) -> ConfigError {
    let suggestion = SETTINGS
        .iter()
        .map(|s| (edit_distance(&key, s), *s))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, s)| s.to_owned());
    ConfigError::UnknownKey {
        file: file.map(Path::to_owned),
        key,
        suggestion,
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_unique() {
        let mut names: Vec<String> = SETTINGS.iter().map(|s| env_name(s)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncdé=x", 7), Some((2, 4)));
        assert_eq!(line_column("x", 0), Some((1, 1)));
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("server.lisen", "server.listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
