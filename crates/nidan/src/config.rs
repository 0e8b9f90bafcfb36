//! The typed configuration of the `nidan` binary, read once at start.
//!
//! Sources, lowest to highest precedence:
//! 1. built-in defaults (chosen so that `nidan serve` works out of the box on one machine:
//!    loopback listener, SQLite and key file under `./nidan-data`, codes to the outbox);
//! 2. the TOML file given with `--config FILE` (optional; unknown keys are refused so that a
//!    typo is never silently ignored);
//! 3. environment variables `NIDAN_<SECTION>_<KEY>` (top-level keys: `NIDAN_<KEY>`), e.g.
//!    `NIDAN_SERVER_LISTEN`. Lists are comma-separated; booleans accept true/false, 1/0, yes/no
//!    in any case; an empty value of an optional setting means "none". `NIDAN_*` variables that
//!    match no setting are reported by [`Config::unknown_env`] rather than refused, because other
//!    tools (tests, for one) share the prefix.
//!
//! Defaults derived from other settings (`<data_dir>` in the database URL and key file,
//! `<listen>` in the public URL) are resolved after all sources are merged, so
//! `NIDAN_DATA_DIR=/x` moves the database and the key file unless those are set explicitly.
//!
//! Every value is checked here, and a bad one is a [`ConfigError`] that names the setting in
//! TOML form and environment form. `Debug` of [`Config`] hides secrets (URL passwords, the SMS
//! tokens). `docs/configuration.md` lists every setting; a test keeps it in step with this code.

// Why these types share one file: one struct per `[section]`, every field with the doc comment
// that says what it does and why its default is what it is — the settings reference lives here,
// next to the values. Loading and building, parsing, checks, redaction and the bigger sections
// live in `config/`.
mod access;
mod build;
mod check;
mod cidr;
mod error;
mod methods;
mod redact;
mod risk;
mod source;
#[cfg(test)]
mod tests;
mod webhooks;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use access::AccessConfig;
pub use error::ConfigError;
pub use methods::MethodsConfig;
pub use risk::{RiskConfig, UnknownCountry};
pub use webhooks::WebhookConfig;

/// Everything the server and the CLI commands read from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Directory for the SQLite database, the outbox (`outbox.jsonl`) and the generated key
    /// file. Default `./nidan-data`: relative to the working directory, so a first `nidan serve`
    /// needs no setup and keeps everything in one visible place.
    pub data_dir: PathBuf,
    /// `[database]`: where accounts and challenges are stored.
    pub database: DatabaseConfig,
    /// `[server]`: the HTTP listener and how the server sees itself and its clients.
    pub server: ServerConfig,
    /// `[log]`: log output.
    pub log: LogConfig,
    /// `[totp]`: authenticator-app codes.
    pub totp: TotpConfig,
    /// `[signup]`: self-service account creation.
    pub signup: SignupConfig,
    /// `[password]`: password policy.
    pub password: PasswordConfig,
    /// `[session]`: signed-in sessions.
    pub session: SessionConfig,
    /// `[access]`: which requests to the apps behind nidan (forward-auth) pass.
    pub access: AccessConfig,
    /// `[challenge]`: the second step of a sign-in.
    pub challenge: ChallengeConfig,
    /// `[codes]`: codes sent by email and SMS.
    pub codes: CodesConfig,
    /// `[device]`: "remember this device".
    pub device: DeviceConfig,
    /// `[throttle]`: slowing down repeated wrong codes and passwords per account.
    pub throttle: ThrottleConfig,
    /// `[hashing]`: the password-hashing worker pool.
    pub hashing: HashingConfig,
    /// `[api]`: the app-facing verify API.
    pub api: ApiConfig,
    /// `[email]`: delivery of email codes and notices.
    pub email: EmailConfig,
    /// `[sms]`: delivery of SMS codes.
    pub sms: SmsConfig,
    /// `[risk]`: the "sign-in from a new country" rule.
    pub risk: RiskConfig,
    /// `[methods]`: which methods people may enrol.
    pub methods: MethodsConfig,
    /// `[support]`: how people reach the operator's support.
    pub support: SupportConfig,
    /// `[retention]`: how long history and sent notices are kept.
    pub retention: RetentionConfig,
    /// `[metrics]`: where `/metrics` is served.
    pub metrics: MetricsConfig,
    /// `[secrets]`: the key that encrypts stored TOTP secrets.
    pub secrets: SecretsConfig,
    /// `[[webhooks]]`: where security events are POSTed. Default none.
    pub webhooks: Vec<WebhookConfig>,
    unknown_env: Vec<String>,
}

/// `[metrics]` settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// A listener of its own for `/metrics` (say `127.0.0.1:9464`, or an address only the
    /// monitoring network reaches); the public listener then answers 404 there. Default none:
    /// `/metrics` is on `server.listen`.
    pub listen: Option<SocketAddr>,
}

/// `[retention]` settings: what the hourly sweep keeps. Sessions, challenges, codes, reset links
/// and devices go once their own lifetimes are over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Days of activity history kept (1..=36500). Default 400: a year and a season, enough to
    /// compare with the same time last year.
    pub activity_days: u32,
    /// Days a sent or given-up security notice is kept (1..=3650). Default 30.
    pub sent_notices_days: u32,
}

/// `[support]` settings: shown where people get stuck (the second step when everything is
/// lost, the security page) and in every security notice. Neither set by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SupportConfig {
    /// A page to contact support (`https://…`).
    pub contact_url: Option<String>,
    /// An address to write to.
    pub contact_email: Option<String>,
}

/// `[database]` settings.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Connection URL: `sqlite://…`, `postgres://…` or `postgresql://…`. Default
    /// `sqlite://<data_dir>/nidan.db`, so a single instance needs no database server. Secret:
    /// its password is hidden in `Debug` and in error messages.
    pub url: String,
    /// Most connections in the pool (1..=512). Default 8: enough for the hashing-bound request
    /// rate of a small instance without exhausting a shared PostgreSQL server.
    pub max_connections: u32,
    /// Seconds to wait for a connection before failing (1..=300). Default 5: long enough for a
    /// busy database, short enough that `/readyz` and requests fail fast when it is down.
    pub connect_timeout_secs: u64,
    /// Longest a single SQL statement may run, in seconds (1..=300; PostgreSQL
    /// `statement_timeout`). Default 5: a hung query fails its request with 503 instead of
    /// holding a connection.
    pub statement_timeout_secs: u64,
}

/// `[server]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080`: loopback only, so nothing is
    /// exposed until the operator means it (usually behind a TLS-terminating proxy).
    pub listen: SocketAddr,
    /// The URL users reach the server at, for links in emails and the cookie `Secure` flag
    /// (set when it is `https://`). Default `http://localhost:<port>` when listening on a
    /// loopback address (browsers allow security keys on `localhost`, never on an IP address),
    /// else `http://<listen>`. Stored without a trailing `/`.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` is believed when finding the client address (for rate
    /// limits and activity logs). Default empty: trust no one, so clients cannot forge their
    /// address; list your reverse proxy here.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Sign-in attempts allowed per client address per minute; 0 turns the limit off. Default 60:
    /// far above what a person does, low enough to blunt password spraying from one address.
    pub login_requests_per_ip_per_minute: u32,
}

/// `[log]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `text` for people or `json` for log collectors. Default `text`: readable in a terminal.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `nidan=debug,sqlx=warn`. Default `info`: requests
    /// and notable events without per-query noise.
    pub level: String,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[totp]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpConfig {
    /// Issuer name shown in authenticator apps and put in the `otpauth://` label (1..=64
    /// characters, no `:` and no control characters, which would break the label). Default
    /// `nidan`; set it to your service's name so users can tell entries apart.
    pub issuer: String,
    /// How many 30-second steps before and after now a code is accepted (0 or 1, never above
    /// 1). Default 1: tolerates clock drift and slow typing; more would widen guessing.
    pub window: u8,
}

/// `[signup]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignupConfig {
    /// Whether `POST /api/v1/users` creates accounts; when false it answers 403 and accounts
    /// are made with `nidan admin user add`. Default true, so a fresh install can be tried at
    /// once.
    pub open: bool,
    /// Accounts one client address (IPv6: one /64) may create per hour on one node; 0 turns the
    /// limit off (0..=10000). Default 10: scripted sign-ups are how paid SMS gets pumped, and
    /// a household or office rarely opens more than a few accounts an hour.
    pub max_per_client_per_hour: u32,
}

/// `[password]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordConfig {
    /// Fewest characters in a new password (8..=64). Default 15: NIST SP 800-63B's minimum for
    /// passwords that are a single factor; never below NIST's floor of 8.
    pub min_length: usize,
    /// Reset links one account may be sent per hour (1..=100). Default 3: a lost email can be
    /// asked for again, and nobody can flood an inbox with links.
    pub resets_per_hour: u32,
    /// Reset requests one client address (IPv6: its /64) may make per hour (0 = no limit).
    /// Default 10.
    pub resets_per_client_per_hour: u32,
}

/// `[session]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Seconds of inactivity after which a session ends (60..=86400). Default 1800 (30
    /// minutes): a common idle limit that still spares users constant sign-ins.
    pub idle_timeout_secs: u64,
    /// Seconds after sign-in when a session ends however active (at least the idle timeout,
    /// at most 30 days). Default 43200 (12 hours): about a working day.
    pub absolute_timeout_secs: u64,
    /// A domain to share the sign-in with, for the apps behind nidan on its subdomains
    /// (`example.com` when nidan is `auth.example.com` and the apps `*.example.com`). The session
    /// cookie is then sent to every host under it and named `__Secure-nidan_session` (a
    /// `__Host-` cookie cannot have a domain). Default none: the cookie stays with nidan's host.
    pub cookie_domain: Option<String>,
}

/// `[challenge]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeConfig {
    /// Seconds a second-step challenge lives (60..=600). Default 600 (10 minutes), the lifetime
    /// the public API promises, enough to fetch a phone or read an email.
    pub ttl_secs: u64,
    /// Wrong codes after which a challenge dies (1..=10). Default 5, as the public API promises:
    /// a few typos are forgiven while guessing a 6-digit code stays hopeless.
    pub max_attempts: u32,
}

/// `[codes]` settings: codes sent by email and SMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodesConfig {
    /// Seconds a sent code works (60..=600). Default 300 (5 minutes): time to read a message,
    /// short enough that an intercepted code goes stale; NIST allows at most 10 minutes.
    pub ttl_secs: u64,
    /// Wrong tries one code allows (1..=10). Default 5.
    pub max_attempts: u32,
    /// Seconds before another code may be sent for the same sign-in or setup (30..=3600).
    /// Default 60: SMS costs money and mailboxes can be flooded.
    pub resend_after_secs: u64,
    /// Codes sent per account per 15 minutes (1..=50). Default 5.
    pub per_account_per_15min: u32,
    /// Codes one account sends to one address or number per 24 hours (1..=200). Default 10.
    /// Each account has its own: nobody can use up another account's sends.
    pub per_destination_per_day: u32,
    /// Codes one account sends to addresses and numbers it has not confirmed (setups) per 24
    /// hours (1..=100). Default 10: enough for a few typos and resends.
    pub unconfirmed_per_account_per_day: u32,
    /// Codes sent to addresses and numbers not yet confirmed at the request of one client
    /// address (IPv6: one /64) per hour, over all accounts (1..=10000). Default 10.
    pub unconfirmed_per_client_per_hour: u32,
}

/// `[device]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Days a "remembered" device skips the second step; 0 turns the feature off (0..=90).
    /// Default 30: a monthly second step on a user's own machine.
    pub remember_days: u32,
}

/// `[throttle]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Consecutive failures of an account allowed before delays start (1..=20). Default 5:
    /// typos cost nothing, guessing soon does.
    pub free_failures: u32,
    /// First delay in seconds once the free failures are used up; it grows with each further
    /// failure (1..=3600). Default 30.
    pub base_delay_secs: u64,
    /// Longest delay in seconds (at least the base delay, at most 86400). Default 3600: a
    /// guesser gets about one try an hour, a locked-out user waits at most an hour.
    pub max_delay_secs: u64,
    /// Consecutive failures after which the account is locked until an admin resets it (above
    /// `free_failures`, at most 100). Default 100: NIST SP 800-63B's cap on failed attempts.
    pub lock_at: u32,
}

/// `[hashing]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashingConfig {
    /// Password-hashing threads, i.e. hashes computed at once; 0 means half the CPUs, at least
    /// one (0..=64). Default 0. Each thread keeps its 19 MiB Argon2 block once it has hashed, so
    /// this bounds the memory hashing can use; and hashing is CPU-bound, so threads beyond the
    /// CPUs only add memory, while leaving half the CPUs to the runtime keeps code checks fast
    /// during a sign-in storm (the threads also run at a lower priority).
    pub max_concurrent: usize,
    /// Requests that may wait for a hashing worker; beyond this they get 503 (1..=10000).
    /// Default 64: absorbs a burst without letting a flood queue up unbounded memory and delay.
    pub max_queue: usize,
    /// How much the hashing threads' niceness is raised (0..=19, Linux). Default 10: the
    /// runtime's threads preempt hashing, so a sign-in storm slows sign-ins before code checks.
    pub niceness: u8,
}

/// `[api]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Calls allowed per API key per minute (verify, send-code, users), each key its own budget;
    /// 0 turns the limit off. Default 0: the calling app has its own limits and per-account
    /// throttling and sending limits still apply. `api.verify_per_key_per_minute`, its earlier
    /// name, is read when this one is not set.
    pub requests_per_key_per_minute: u32,
}

/// `[email]` settings.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// SMTP server as `smtp://[user:password@]host[:port]` or `smtps://…`. Default none: email
    /// goes to the outbox file, so nothing is sent until a server is configured. Secret: its
    /// password is hidden in `Debug` and in error messages.
    pub smtp_url: Option<String>,
    /// The `From` header of every email (no control characters). Default
    /// `nidan <nidan@localhost>`: valid but obviously local; set a real address for delivery.
    pub from: String,
    /// When true, email codes must go to an address other than the sign-in one (so a taken-over
    /// mailbox is not both factors). Default false, the common expectation of users.
    pub separate_address: bool,
    /// Codes by email to addresses not yet confirmed, all accounts together, per hour
    /// (1..=1000000). Default 1000. Sign-in codes to confirmed addresses are never held back by it.
    pub max_per_hour: u32,
}

/// `[sms]` settings.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsConfig {
    /// How SMS codes are sent. Default `outbox`: written to the outbox file, so development
    /// needs no SMS account.
    pub provider: SmsProvider,
    /// Webhook endpoint that receives `{"to", "body"}` (required for `webhook`; `http(s)://`).
    /// Default none. Query parameters that look like keys are hidden in `Debug`.
    pub url: Option<String>,
    /// `Authorization` header value sent to the webhook. Default none. Secret: hidden in `Debug`.
    pub authorization: Option<String>,
    /// Twilio account SID (required for `twilio`). Default none.
    pub account_sid: Option<String>,
    /// Twilio auth token (required for `twilio`). Default none. Secret: hidden in `Debug`.
    pub auth_token: Option<String>,
    /// Sender number or messaging service for Twilio (required for `twilio`). Default none.
    pub from: Option<String>,
    /// Base URL of the Twilio API (`http(s)://`). Default `https://api.twilio.com`; settable so
    /// tests and compatible providers can stand in.
    pub base_url: String,
    /// Region for phone numbers typed in national form, as two uppercase letters (ISO 3166-1).
    /// Default `JP`, the home market of this service.
    pub default_region: String,
    /// Codes by SMS to numbers not yet confirmed, all accounts together, per hour
    /// (1..=1000000). Default 100: SMS costs money, and this bounds what scripted accounts can
    /// spend. Sign-in codes to confirmed numbers are never held back by it.
    pub max_per_hour: u32,
    /// Country calling codes a number may have to be added for SMS codes (`["81", "1"]`).
    /// Default empty: any country. Sending SMS to countries you have no users in is what SMS
    /// pumping (toll fraud) relies on.
    pub allowed_countries: Vec<u16>,
}

/// Where SMS messages go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsProvider {
    /// Appended to `outbox.jsonl` in the data directory and logged.
    Outbox,
    /// POSTed as JSON to `sms.url`.
    Webhook,
    /// Sent with the Twilio Messages REST API.
    Twilio,
}

/// `[secrets]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsConfig {
    /// File holding the key that encrypts stored TOTP secrets; created with mode 0600 on first
    /// start. Default `<data_dir>/secret.key`, next to the data it protects; point it elsewhere
    /// to keep database backups useless without it.
    pub key_file: PathBuf,
}

impl Config {
    /// Names of `NIDAN_*` variables that matched no setting, sorted (the caller logs a warning;
    /// not an error, because e.g. `NIDAN_TEST_DATABASE_URL` lives in the same environment).
    pub fn unknown_env(&self) -> &[String] {
        &self.unknown_env
    }
}

impl ServerConfig {
    /// Whether the public URL is `https://` (cookies then get the `Secure` flag).
    pub fn is_https(&self) -> bool {
        self.public_url.to_ascii_lowercase().starts_with("https://")
    }
}

impl HashingConfig {
    /// The number of hashing threads: `max_concurrent`, or when it is 0 half the CPUs, at least
    /// one (one if the CPUs cannot be counted). Half: on a 2-CPU machine one hashing thread
    /// keeps the peak memory at about 50 MiB and a whole CPU free for code checks.
    pub fn effective_max_concurrent(&self) -> usize {
        match self.max_concurrent {
            0 => {
                Self::automatic_workers(std::thread::available_parallelism().map_or(1, usize::from))
            }
            n => n,
        }
    }

    /// The automatic number of hashing threads on a machine with `cpus` CPUs.
    pub fn automatic_workers(cpus: usize) -> usize {
        (cpus / 2).max(1)
    }
}

impl LogFormat {
    /// Every format, in the order the config's error message lists them.
    pub const ALL: [Self; 2] = [Self::Text, Self::Json];

    /// The config spelling: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SmsProvider {
    /// Every provider, in the order the config's error message lists them.
    pub const ALL: [Self; 3] = [Self::Outbox, Self::Webhook, Self::Twilio];

    /// The config spelling: `outbox`, `webhook` or `twilio`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Webhook => "webhook",
            Self::Twilio => "twilio",
        }
    }
}

impl fmt::Display for SmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
