//! `[access]`: the rules for the web apps behind nidan (forward-auth), read and checked at start
//! so that a mistake is an error naming the rule, never a rule silently ignored.
//!
//! In the file, rules are an array of tables:
//!
//! ```toml
//! [access]
//! default_policy = "deny"
//! allowed_redirects = ["https://partner.example.org"]
//!
//! [[access.rules]]
//! hosts = ["wiki.example.com"]
//! policy = "one_factor"
//! ```
//!
//! In the environment, `NIDAN_ACCESS_RULES` holds the same array as an inline TOML array of
//! tables: `[{hosts = ["wiki.example.com"], policy = "one_factor"}]`.

use nidan_domain::{AccessRules, Policy, Rule};

use super::ConfigError;
use super::source::{Sources, invalid};

/// The keys a rule may have.
const RULE_KEYS: [&str; 5] = ["hosts", "paths", "users", "groups", "policy"];

/// `[access]` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessConfig {
    /// The rules and the default policy (`default_policy`, default `deny`: an app the rules do
    /// not mention is closed, not open).
    pub rules: AccessRules,
    /// Origins outside the cookie domain that `rd` may send people back to
    /// (`https://host[:port]`). Default none.
    pub allowed_redirects: Vec<String>,
}

/// Reads `[access]`.
pub(super) fn build(src: &Sources) -> Result<AccessConfig, ConfigError> {
    let default_policy = match src.string("access.default_policy")? {
        None => Policy::Deny,
        Some(s) => Policy::parse(s.trim()).ok_or_else(|| {
            invalid(
                "access.default_policy",
                format!("`{s}` is not one of bypass, one_factor, two_factor, deny"),
            )
        })?,
    };
    let tables = src.tables("access.rules")?.unwrap_or_default();
    let mut rules = Vec::with_capacity(tables.len());
    for (i, table) in tables.iter().enumerate() {
        rules.push(rule(i, table)?);
    }
    let allowed_redirects = src.list("access.allowed_redirects")?.unwrap_or_default();
    Ok(AccessConfig {
        rules: AccessRules {
            rules,
            default_policy,
        },
        allowed_redirects,
    })
}

/// Rule `i` (counted from 1 in messages, as people count the tables in their file).
fn rule(i: usize, table: &toml::Table) -> Result<Rule, ConfigError> {
    let name = format!("access.rules[{}]", i + 1);
    let bad = |problem: String| ConfigError::Invalid {
        key: name.clone(),
        env: "NIDAN_ACCESS_RULES".into(),
        problem,
    };
    if let Some(unknown) = table.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown key `{unknown}` (a rule has {})",
            RULE_KEYS.join(", ")
        )));
    }
    let strings = |key: &str| -> Result<Vec<String>, ConfigError> {
        match table.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(bad(format!(
                        "`{key}` must list strings, not {}",
                        other.type_str()
                    ))),
                })
                .collect(),
            Some(other) => Err(bad(format!(
                "`{key}` must be a list of strings, not {}",
                other.type_str()
            ))),
        }
    };
    let policy = match table.get("policy") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(bad(format!(
                "`policy` must be a string, not {}",
                other.type_str()
            )));
        }
        None => return Err(bad("`policy` is missing".into())),
    };
    Rule::new(
        &strings("hosts")?,
        &strings("paths")?,
        &strings("users")?,
        &strings("groups")?,
        &policy,
    )
    .map_err(|e| bad(e.to_string()))
}
