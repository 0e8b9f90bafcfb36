//! What can go wrong while loading the configuration. Every message names what to fix: the
//! config file (with line and column when the TOML parser knows them) or the setting, in its TOML
//! form and its environment form.

use std::path::{Path, PathBuf};

/// A configuration that cannot be used; the server must not start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    ReadFile {
        /// The file as given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}: {message}", place(.file.as_deref(), *.line, *.column))]
    Parse {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// 1-based line of the problem, when the parser gave a position.
        line: Option<usize>,
        /// 1-based column (in characters) of the problem, when the parser gave a position.
        column: Option<usize>,
        /// The parser's explanation.
        message: String,
    },
    /// The config file has a key that is no setting (usually a typo).
    #[error("{}: unknown setting `{key}`{}", place(.file.as_deref(), None, None), did_you_mean(.suggestion.as_deref()))]
    UnknownKey {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The key in TOML form, `section.key`.
        key: String,
        /// The known setting closest to `key`, if any is close.
        suggestion: Option<String>,
    },
    /// A setting has a value that is the wrong type, cannot be parsed, or is out of range.
    #[error("setting `{key}` ({env}): {problem}")]
    Invalid {
        /// The setting in TOML form, e.g. `server.listen`.
        key: String,
        /// The setting in environment form, e.g. `NIDAN_SERVER_LISTEN`.
        env: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

fn place(file: Option<&Path>, line: Option<usize>, column: Option<usize>) -> String {
    let mut out = match file {
        Some(path) => format!("config file {}", path.display()),
        None => "config text".to_owned(),
    };
    if let Some(line) = line {
        out.push_str(&format!(", line {line}"));
        if let Some(column) = column {
            out.push_str(&format!(", column {column}"));
        }
    }
    out
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}
