//! Building a [`Config`] from its sources: reading the TOML file and the process environment,
//! then giving every setting its type, its default and its checks, in one pass that ends in a
//! [`Config`] or a [`ConfigError`] naming the setting.
//!
//! This module exists so that `config.rs` stays the settings reference (one struct per
//! `[section]`, each field documented next to its default) while the rules that turn raw values
//! into those structs live together here. Sections with rules of their own (`[risk]`,
//! `[methods]`) build in their own modules; the raw layers and typed getters are in `source`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::check::{check_database_url, check_http_url, check_issuer, check_smtp_url};
use super::source::{self, Sources, invalid};
use super::{
    ApiConfig, ChallengeConfig, CodesConfig, Config, ConfigError, DatabaseConfig, DeviceConfig,
    EmailConfig, HashingConfig, LogConfig, LogFormat, MetricsConfig, PasswordConfig,
    RetentionConfig, SecretsConfig, ServerConfig, SessionConfig, SignupConfig, SmsConfig,
    SmsProvider, SupportConfig, ThrottleConfig, TotpConfig, methods, risk,
};

impl Config {
    /// Loads the configuration: defaults, then `file` (TOML) when given, then `env`.
    /// `env` is an iterator of (name, value) so tests never touch the process environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let Some(path) = file else {
            return Self::from_toml_str("", env);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        Self::build(Sources::new(&text, Some(path), env)?)
    }

    /// [`Config::load`] with the process environment. Variables whose names are not Unicode are
    /// skipped; a `NIDAN_*` setting whose value is not Unicode is an error.
    pub fn load_from_process_env(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            if !name.starts_with("NIDAN_") {
                continue;
            }
            match value.into_string() {
                Ok(value) => env.push((name, value)),
                Err(value) => {
                    if let Some(key) = source::SETTINGS
                        .iter()
                        .find(|key| source::env_name(key) == name)
                    {
                        return Err(invalid(key, "the value is not valid UTF-8"));
                    }
                    env.push((name, value.to_string_lossy().into_owned()));
                }
            }
        }
        Self::load(file, env)
    }

    /// Like [`Config::load`] with the file's text given directly (used by `load` and tests).
    pub fn from_toml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::build(Sources::new(text, None, env)?)
    }

    /// Types, defaults and checks every setting.
    fn build(src: Sources) -> Result<Config, ConfigError> {
        let data_dir = src
            .path("data_dir")?
            .unwrap_or_else(|| PathBuf::from("./nidan-data"));

        let url = match src.string("database.url")? {
            Some(url) => check_database_url(url)?,
            None => format!("sqlite://{}", data_dir.join("nidan.db").display()),
        };
        let database = DatabaseConfig {
            url,
            max_connections: src.number("database.max_connections", 8, 1, 512, "")?,
            connect_timeout_secs: src.number("database.connect_timeout_secs", 5, 1, 300, "")?,
            statement_timeout_secs: src.number("database.statement_timeout_secs", 5, 1, 300, "")?,
        };

        let listen: SocketAddr = src
            .parsed("server.listen", "a socket address like 127.0.0.1:8080")?
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = match src.string("server.public_url")? {
            Some(url) => check_http_url("server.public_url", &url)?,
            // A host name, not the loopback address: browsers allow security keys and passkeys
            // on `localhost` (a secure context) and never on an IP address.
            None if listen.ip().is_loopback() => format!("http://localhost:{}", listen.port()),
            None => format!("http://{listen}"),
        };
        let trusted_proxies = src
            .list("server.trusted_proxies")?
            .unwrap_or_default()
            .iter()
            .map(|entry| {
                super::cidr::parse_network(entry).map_err(|e| invalid("server.trusted_proxies", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let server = ServerConfig {
            listen,
            public_url,
            trusted_proxies,
            login_requests_per_ip_per_minute: src.number(
                "server.login_requests_per_ip_per_minute",
                60,
                0,
                u64::from(u32::MAX),
                "",
            )?,
        };

        let format = choice(
            &src,
            "log.format",
            LogFormat::Text,
            &LogFormat::ALL,
            LogFormat::as_str,
        )?;
        let level = src
            .string("log.level")?
            .unwrap_or_else(|| "info".to_owned());
        if level.trim().is_empty() {
            return Err(invalid("log.level", "must not be empty (e.g. `info`)"));
        }
        let log = LogConfig { format, level };

        let issuer = src
            .string("totp.issuer")?
            .unwrap_or_else(|| "nidan".to_owned());
        check_issuer(&issuer)?;
        let totp = TotpConfig {
            issuer,
            window: src.number(
                "totp.window",
                1,
                0,
                1,
                "the TOTP window is never above 1 (each extra step accepts more codes, \
                 making guessing easier)",
            )?,
        };

        let signup = SignupConfig {
            open: src.boolean("signup.open", true)?,
            max_per_client_per_hour: src.number(
                "signup.max_per_client_per_hour",
                10,
                0,
                10_000,
                "0 turns it off",
            )?,
        };
        let password = PasswordConfig {
            min_length: src.number("password.min_length", 15, 8, 64, "")?,
            resets_per_hour: src.number("password.resets_per_hour", 3, 1, 100, "")?,
            resets_per_client_per_hour: src.number(
                "password.resets_per_client_per_hour",
                10,
                0,
                10_000,
                "0 turns it off",
            )?,
        };

        let idle_timeout_secs: u64 =
            src.number("session.idle_timeout_secs", 1800, 60, 86400, "")?;
        let session = SessionConfig {
            idle_timeout_secs,
            absolute_timeout_secs: src.number(
                "session.absolute_timeout_secs",
                43200,
                idle_timeout_secs,
                30 * 86400,
                "it cannot be shorter than session.idle_timeout_secs nor longer than 30 days",
            )?,
            cookie_domain: cookie_domain(&src, &server.public_url)?,
        };
        let access = super::access::build(&src)?;
        nidan_domain::Redirects::new(
            &server.public_url,
            session.cookie_domain.as_deref(),
            &access.allowed_redirects,
        )
        .map_err(|e| invalid("access.allowed_redirects", e))?;

        let challenge = ChallengeConfig {
            ttl_secs: src.number("challenge.ttl_secs", 600, 60, 600, "")?,
            max_attempts: src.number("challenge.max_attempts", 5, 1, 10, "")?,
        };
        let codes = CodesConfig {
            ttl_secs: src.number("codes.ttl_secs", 300, 60, 600, "never over 10 minutes")?,
            max_attempts: src.number("codes.max_attempts", 5, 1, 10, "")?,
            resend_after_secs: src.number("codes.resend_after_secs", 60, 30, 3600, "")?,
            per_account_per_15min: src.number("codes.per_account_per_15min", 5, 1, 50, "")?,
            per_destination_per_day: src.number("codes.per_destination_per_day", 10, 1, 200, "")?,
            unconfirmed_per_account_per_day: src.number(
                "codes.unconfirmed_per_account_per_day",
                10,
                1,
                100,
                "",
            )?,
            unconfirmed_per_client_per_hour: src.number(
                "codes.unconfirmed_per_client_per_hour",
                10,
                1,
                10_000,
                "",
            )?,
        };
        let device = DeviceConfig {
            remember_days: src.number("device.remember_days", 30, 0, 90, "0 turns it off")?,
        };

        let free_failures: u32 = src.number("throttle.free_failures", 5, 1, 20, "")?;
        let base_delay_secs: u64 = src.number("throttle.base_delay_secs", 30, 1, 3600, "")?;
        let throttle = ThrottleConfig {
            free_failures,
            base_delay_secs,
            max_delay_secs: src.number(
                "throttle.max_delay_secs",
                3600,
                base_delay_secs,
                86400,
                "it cannot be below throttle.base_delay_secs nor above a day",
            )?,
            lock_at: src.number(
                "throttle.lock_at",
                100,
                u64::from(free_failures) + 1,
                100,
                "it must be above throttle.free_failures, and 100 is the NIST cap",
            )?,
        };

        let hashing = HashingConfig {
            max_concurrent: src.number(
                "hashing.max_concurrent",
                0,
                0,
                64,
                "0 means half the CPUs, at least one",
            )?,
            max_queue: src.number("hashing.max_queue", 64, 1, 10000, "")?,
            niceness: src.number("hashing.niceness", 10, 0, 19, "0 keeps the normal priority")?,
        };
        let api = ApiConfig {
            // Read under its earlier name too, which covered only verify calls.
            requests_per_key_per_minute: {
                let earlier = src.number(
                    "api.verify_per_key_per_minute",
                    0,
                    0,
                    u64::from(u32::MAX),
                    "",
                )?;
                src.number(
                    "api.requests_per_key_per_minute",
                    earlier,
                    0,
                    u64::from(u32::MAX),
                    "",
                )?
            },
        };

        let smtp_url = src
            .optional_string("email.smtp_url")?
            .map(check_smtp_url)
            .transpose()?;
        let from = src
            .string("email.from")?
            .unwrap_or_else(|| "nidan <nidan@localhost>".to_owned());
        if from.trim().is_empty() || from.chars().any(char::is_control) {
            return Err(invalid(
                "email.from",
                "must be a non-empty address without control characters, \
                 like `nidan <nidan@example.com>`",
            ));
        }
        let email = EmailConfig {
            smtp_url,
            from,
            separate_address: src.boolean("email.separate_address", false)?,
            max_per_hour: src.number("email.max_per_hour", 1000, 1, 1_000_000, "")?,
        };

        let sms = build_sms(&src)?;
        let risk = risk::build_risk(&src)?;
        let methods = methods::build_methods(&src)?;

        let secrets = SecretsConfig {
            key_file: src
                .path("secrets.key_file")?
                .unwrap_or_else(|| data_dir.join("secret.key")),
        };

        let retention = RetentionConfig {
            activity_days: src.number("retention.activity_days", 400, 1, 36_500, "")?,
            sent_notices_days: src.number("retention.sent_notices_days", 30, 1, 3650, "")?,
        };
        let metrics = MetricsConfig {
            listen: src.parsed("metrics.listen", "a socket address like 127.0.0.1:9464")?,
        };
        if metrics.listen == Some(server.listen) && server.listen.port() != 0 {
            return Err(invalid(
                "metrics.listen",
                "is the same address as server.listen; leave it unset to serve /metrics there",
            ));
        }
        let support = SupportConfig {
            contact_url: src
                .optional_string("support.contact_url")?
                .map(|u| check_http_url("support.contact_url", &u))
                .transpose()?,
            contact_email: src
                .optional_string("support.contact_email")?
                .map(|e| {
                    nidan_domain::EmailAddress::parse(&e)
                        .map(|a| a.as_str().to_owned())
                        .map_err(|why| invalid("support.contact_email", why.to_string()))
                })
                .transpose()?,
        };
        Ok(Config {
            data_dir,
            database,
            server,
            log,
            totp,
            signup,
            password,
            session,
            access,
            challenge,
            codes,
            device,
            throttle,
            hashing,
            api,
            email,
            sms,
            risk,
            methods,
            support,
            retention,
            metrics,
            secrets,
            webhooks: super::webhooks::build(&src)?,
            unknown_env: src.unknown_env().to_vec(),
        })
    }
}

/// `session.cookie_domain`: a domain that nidan's own host is at or under (else browsers would
/// refuse the cookie), in its ASCII form.
fn cookie_domain(src: &Sources, public_url: &str) -> Result<Option<String>, ConfigError> {
    let key = "session.cookie_domain";
    let Some(raw) = src.optional_string(key)? else {
        return Ok(None);
    };
    let domain = nidan_domain::ascii_domain(&raw).ok_or_else(|| {
        invalid(
            key,
            format!("`{raw}` is not a domain name like example.com"),
        )
    })?;
    let rule = nidan_domain::Redirects::new(public_url, Some(&domain), &[])
        .map_err(|e| invalid(key, e))?;
    let host = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if !rule.shares_session(&host) {
        return Err(invalid(
            key,
            format!(
                "server.public_url's host `{host}` is not at or under `{domain}`: browsers would \
                 refuse the cookie"
            ),
        ));
    }
    Ok(Some(domain))
}

fn build_sms(src: &Sources) -> Result<SmsConfig, ConfigError> {
    let provider = choice(
        src,
        "sms.provider",
        SmsProvider::Outbox,
        &SmsProvider::ALL,
        SmsProvider::as_str,
    )?;
    let url = src
        .optional_string("sms.url")?
        .map(|u| check_http_url("sms.url", &u))
        .transpose()?;
    let sms = SmsConfig {
        provider,
        url,
        authorization: src.optional_string("sms.authorization")?,
        account_sid: src.optional_string("sms.account_sid")?,
        auth_token: src.optional_string("sms.auth_token")?,
        from: src.optional_string("sms.from")?,
        base_url: match src.string("sms.base_url")? {
            Some(u) => check_http_url("sms.base_url", &u)?,
            None => "https://api.twilio.com".to_owned(),
        },
        default_region: src
            .string("sms.default_region")?
            .unwrap_or_else(|| "JP".to_owned()),
        max_per_hour: src.number("sms.max_per_hour", 100, 1, 1_000_000, "")?,
        allowed_countries: src
            .list("sms.allowed_countries")?
            .unwrap_or_default()
            .iter()
            .map(|c| {
                c.trim()
                    .trim_start_matches('+')
                    .parse::<u16>()
                    .ok()
                    .filter(|n| (1..=999).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            "sms.allowed_countries",
                            format!("`{c}` is not a country calling code like \"81\" or \"1\""),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let region = &sms.default_region;
    if region.len() != 2 || !region.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "sms.default_region",
            format!("`{region}` is not two uppercase letters like JP or US"),
        ));
    }
    let required = match sms.provider {
        SmsProvider::Outbox => vec![],
        SmsProvider::Webhook => vec![("sms.url", sms.url.is_some())],
        SmsProvider::Twilio => vec![
            ("sms.account_sid", sms.account_sid.is_some()),
            ("sms.auth_token", sms.auth_token.is_some()),
            ("sms.from", sms.from.is_some()),
        ],
    };
    if let Some((key, _)) = required.into_iter().find(|(_, present)| !present) {
        return Err(invalid(
            key,
            format!("is required when sms.provider is `{}`", sms.provider),
        ));
    }
    Ok(sms)
}

/// A setting that is one of a few words, in any case: `default` when unset. The words are the
/// choices' own spellings (`spelling`, the `as_str` of their enum), so the accepted words, the
/// error message and what the server reports about itself cannot disagree.
fn choice<T: Copy>(
    src: &Sources,
    key: &'static str,
    default: T,
    all: &[T],
    spelling: fn(T) -> &'static str,
) -> Result<T, ConfigError> {
    let Some(given) = src.string(key)? else {
        return Ok(default);
    };
    let lower = given.to_ascii_lowercase();
    if let Some(found) = all.iter().copied().find(|c| spelling(*c) == lower) {
        return Ok(found);
    }
    let words: Vec<String> = all.iter().map(|c| format!("`{}`", spelling(*c))).collect();
    let listed = match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(invalid(key, format!("`{given}` is not {listed}")))
}
