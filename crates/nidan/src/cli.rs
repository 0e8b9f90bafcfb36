//! The command line, as clap types and nothing else: what the operator can type, with the help
//! text they see. Running a command lives in the module named after it.
//!
//! The verbs and arguments listed in the public interface (design `api.md`: `serve`, `migrate`,
//! `admin user …`, `admin api-key create`, `admin totp import`) are a contract; the rest
//! (`--log-json`, `admin user activity --limit`, `admin api-key revoke`, `admin rotate-key`) are
//! additions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// nidan: a self-hosted two-step verification service.
///
/// Settings come from built-in defaults, then the TOML file given with --config, then
/// NIDAN_<SECTION>_<KEY> environment variables (see docs/configuration.md). The secret keys come
/// from the key file (secrets.key_file, created on first use) or, when set, from the
/// NIDAN_SECRETS_KEY environment variable holding the same TOML text.
/// The version and the commit it was built from: `0.1.0 (3f2dfd1a9c0e)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("NIDAN_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(name = "nidan", version = VERSION, about, long_about)]
pub struct Cli {
    /// TOML configuration file (optional; environment variables override it).
    #[arg(long, global = true, env = "NIDAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write logs as JSON lines, whatever `log.format` says (for log collectors).
    #[arg(long, global = true)]
    pub log_json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending database migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 when the server answers 200 on /readyz (for container health checks).
    Healthcheck {
        /// The server's base URL (plain http); default the configured listener.
        #[arg(long)]
        url: Option<String>,
    },
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operator tools: accounts, API keys, seed import, key rotation.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `nidan config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read and check the configuration (file and environment), then print the effective
    /// settings with secrets hidden; exit 2 with the problem when a setting is wrong.
    Check,
}

/// `nidan admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// API keys for apps that keep their own sign-in and call POST /api/v1/verify.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Authenticator-app seeds.
    #[command(subcommand)]
    Totp(TotpCommand),
    /// The OpenID Connect provider: apps that sign their users in with nidan.
    #[command(subcommand)]
    Oidc(OidcCommand),
    /// The security events of every account, for a SIEM.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Add a new key version to the key file and re-seal every TOTP seed under it. Restart
    /// running servers afterwards so they load the new key.
    RotateKey,
    /// Write a consistent copy of the SQLite database to FILE while the server runs (SQLite's
    /// online backup API). The key file is not in it: back it up apart (docs/deploy.md).
    Backup {
        /// Where the copy goes (replaced if it exists).
        file: std::path::PathBuf,
    },
}

/// `nidan admin user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add(AddUser),
    /// Show an account: state, methods, counters. Never a secret.
    Show {
        /// The account's sign-in email.
        email: String,
    },
    /// Support reset: remove every second factor, recovery code, remembered device and session.
    /// Recorded in the user's history with the operator's name and the reason.
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The account's sign-in email.
        email: String,
        /// Why (recorded in the user's history, e.g. the ticket number).
        #[arg(long, required = true)]
        reason: String,
    },
    /// Clear an account's sign-in throttles: its counted wrong passwords and wrong codes (after
    /// checking the owner's identity). Methods, sessions and devices stay. Recorded in the
    /// user's history with the operator's name.
    Unlock {
        /// The account's sign-in email.
        email: String,
    },
    /// List accounts, in email order: email, two-step state, disabled or not, created.
    List {
        /// Only accounts whose email contains this text (any case).
        #[arg(long, default_value = "")]
        query: String,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Most accounts to list.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
    },
    /// Disable an account: it cannot sign in or be verified by apps, and every session, open
    /// sign-in and remembered device ends at once. Recorded with the operator and the reason.
    Disable {
        /// The account's sign-in email.
        email: String,
        /// Why (recorded in the user's history and sent to the user).
        #[arg(long, required = true)]
        reason: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account's sign-in email.
        email: String,
    },
    /// Delete an account and everything of it; a last notice goes to its address.
    Delete {
        /// The account's sign-in email.
        email: String,
        /// Why (in the server's audit log and the last notice).
        #[arg(long, required = true)]
        reason: String,
    },
    /// Support turns two-step verification off for a while after checking the owner's
    /// identity, methods kept; it turns back on by itself at --until. Distinct from
    /// reset-2fa, which removes everything.
    #[command(name = "two-step-off")]
    TwoStepOff {
        /// The account's sign-in email.
        email: String,
        /// Why (recorded in the user's history and sent to the user).
        #[arg(long, required = true)]
        reason: String,
        /// When it turns back on: a date `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time;
        /// default in 7 days, at most 90.
        #[arg(long)]
        until: Option<String>,
    },
    /// Add an account to a group, or take it out of one.
    Groups {
        /// The account's sign-in email.
        email: String,
        /// `add` or `remove`.
        #[arg(value_parser = ["add", "remove"])]
        action: String,
        /// The group (letters, digits, `.`, `_`, `-`).
        group: String,
    },
    /// Show an account's security history, newest first.
    Activity {
        /// The account's sign-in email.
        email: String,
        /// Most events to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

/// `nidan admin user add`: the password never goes on the command line, where `ps` and shell
/// history would keep it; so one of the two flags is required.
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(
    clap::ArgGroup::new("password_source")
        .required(true)
        .args(["password_stdin", "no_password"])
))]
pub struct AddUser {
    /// The account's sign-in email.
    pub email: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Create the account without a password: it cannot sign in, only be checked by apps
    /// through the verify API.
    #[arg(long)]
    pub no_password: bool,
}

/// `nidan admin api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; it is printed once on standard output and cannot be shown again.
    Create {
        /// A name for the app using it (unique among active keys).
        name: String,
        /// What it may do, comma-separated: `verify` (check codes), `send` (have codes sent by
        /// SMS or email), `read` (what a user has).
        #[arg(long, default_value = "verify", value_delimiter = ',')]
        scope: Vec<String>,
    },
    /// List the active keys: name, scopes, created, last used. Never the keys.
    List,
    /// Revoke a key by name; apps using it get 401 from then on.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `nidan admin audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every account's security events (sign-ins and their results, second steps, method
    /// changes, support actions, …) as JSON lines on standard output, oldest first.
    Export {
        /// From this day (`YYYY-MM-DD`, midnight UTC) or time (RFC 3339).
        #[arg(long)]
        since: String,
        /// Up to (not including) this day or time; default now.
        #[arg(long)]
        until: Option<String>,
    },
}

/// `nidan admin oidc …`
#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Registered apps.
    #[command(subcommand)]
    Client(OidcClientCommand),
    /// Make new signing keys; the old ones stay published a day, beyond any token they signed.
    RotateKeys,
}

/// `nidan admin oidc client …`
#[derive(Debug, Subcommand)]
pub enum OidcClientCommand {
    /// Register an app. Its secret is printed once on standard output (none for --public).
    Add {
        /// The client id (letters, digits, `.`, `_`, `-`).
        name: String,
        /// Where the app receives the sign-in (matched exactly); give it once per URI.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A public client (single-page or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// An app of the operator's own: no consent page.
        #[arg(long)]
        first_party: bool,
        /// Sign its ID tokens with Ed25519 (EdDSA) instead of RS256.
        #[arg(long)]
        eddsa: bool,
    },
    /// List the registered apps (never their secrets).
    List,
    /// Remove an app with its codes and tokens.
    Remove {
        /// The client id.
        name: String,
    },
}

/// `nidan admin totp …`
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Import seeds from another system: a CSV of `email,base32_secret` rows. All or nothing.
    Import {
        /// The CSV file. An `email,…` header, blank lines and `#` comments are skipped.
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn reset_needs_a_reason_and_add_needs_a_password_source() {
        assert!(Cli::try_parse_from(["nidan", "admin", "user", "reset-2fa", "a@b.c"]).is_err());
        assert!(Cli::try_parse_from(["nidan", "admin", "user", "add", "a@b.c"]).is_err());
        assert!(
            Cli::try_parse_from([
                "nidan",
                "admin",
                "user",
                "add",
                "a@b.c",
                "--password-stdin",
                "--no-password"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["nidan", "admin", "user", "add", "a@b.c", "--no-password"])
                .is_ok()
        );
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from(["nidan", "migrate", "--config", "x.toml", "--log-json"]);
        assert!(matches!(
            cli,
            Ok(Cli {
                config: Some(_),
                log_json: true,
                ..
            })
        ));
    }
}
