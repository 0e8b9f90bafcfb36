//! Turning the typed [`Config`] into the parts the service and the web layer take: the policy,
//! the password-hashing pool, the store, the secret keys, the HTTP options. Every command builds
//! its [`Service`] here, so `serve` and `admin` can never disagree on a rule.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use nidan_delivery::{Courier, DeliveryConfig, SmsConfig};
use nidan_domain::{ThrottlePolicy, TotpWindow};
use nidan_geo::CountryDb;
use nidan_service::geo::RiskPolicy;
use nidan_service::ports::SendLimits;
use nidan_service::system::{OsRng, SystemClock};
use nidan_service::{
    CodePolicy, HashParams, PasswordHasher, Policy, Ports, Secrets, Service, Store,
};
use nidan_store::StoreOptions;
use nidan_web::WebOptions;

use crate::config::{Config, SmsProvider, UnknownCountry};
use crate::keyfile::{self, KeySource, Keys};

/// Creates the data directory when missing (mode 0700: it holds the database and the key file).
pub fn ensure_data_dir(config: &Config) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))
}

/// Loads the secret keys (creating the key file on first use) and says where they came from.
pub fn load_keys(config: &Config) -> Result<Keys> {
    let (keys, source) = keyfile::load_or_create(&config.secrets.key_file)?;
    match source {
        KeySource::Created(path) => tracing::warn!(
            path = %path.display(),
            "created a new key file; back it up apart from the database: without it no TOTP \
             seed or recovery code can be used"
        ),
        KeySource::File(path) => tracing::debug!(path = %path.display(), "loaded the key file"),
        KeySource::Environment => {
            tracing::info!("secret keys from {}", keyfile::ENV_VAR);
        }
    }
    Ok(keys)
}

/// The operator's rules, from config.
pub fn policy(config: &Config) -> Result<Policy> {
    let secs = |value: u64, name: &str| {
        i64::try_from(value).with_context(|| format!("{name} is too large"))
    };
    Ok(Policy {
        issuer: config.totp.issuer.clone(),
        totp_window: TotpWindow::new(config.totp.window).context("totp.window")?,
        signup_open: config.signup.open,
        password_min_chars: config.password.min_length,
        password_resets_per_hour: config.password.resets_per_hour,
        public_url: config.server.public_url.clone(),
        retention: nidan_service::Retention {
            activity_days: config.retention.activity_days,
            sent_notices_days: config.retention.sent_notices_days,
        },
        support: config.support.contact_url.clone().or_else(|| {
            config
                .support
                .contact_email
                .as_ref()
                .map(|e| format!("mailto:{e}"))
        }),
        session_idle_secs: secs(
            config.session.idle_timeout_secs,
            "session.idle_timeout_secs",
        )?,
        session_absolute_secs: secs(
            config.session.absolute_timeout_secs,
            "session.absolute_timeout_secs",
        )?,
        challenge_ttl_secs: secs(config.challenge.ttl_secs, "challenge.ttl_secs")?,
        challenge_max_attempts: config.challenge.max_attempts,
        remember_days: config.device.remember_days,
        throttle: ThrottlePolicy {
            free_failures: config.throttle.free_failures,
            base_delay_secs: config.throttle.base_delay_secs,
            max_delay_secs: config.throttle.max_delay_secs,
            lock_at: config.throttle.lock_at,
        },
        codes: CodePolicy {
            ttl_secs: secs(config.codes.ttl_secs, "codes.ttl_secs")?,
            max_attempts: config.codes.max_attempts,
            limits: SendLimits {
                min_interval_secs: secs(config.codes.resend_after_secs, "codes.resend_after_secs")?,
                per_account_per_15min: config.codes.per_account_per_15min,
                per_destination_per_day: config.codes.per_destination_per_day,
                unconfirmed_per_account_per_day: config.codes.unconfirmed_per_account_per_day,
                unconfirmed_per_client_per_hour: config.codes.unconfirmed_per_client_per_hour,
                unconfirmed_sms_per_hour: config.sms.max_per_hour,
                unconfirmed_email_per_hour: config.email.max_per_hour,
            },
            email_separate_address: config.email.separate_address,
            default_region: config.sms.default_region.clone(),
            sms_allowed_countries: config.sms.allowed_countries.clone(),
        },
        enabled_methods: config.methods.enabled.clone(),
        risk: RiskPolicy {
            home_countries: config.risk.home_countries.clone(),
            challenge_unknown: config.risk.unknown_country == UnknownCountry::Challenge,
        },
    })
}

/// How the store connects.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        max_connections: config.database.max_connections,
        connect_timeout: Duration::from_secs(config.database.connect_timeout_secs),
        statement_timeout: Duration::from_secs(config.database.statement_timeout_secs),
    }
}

/// What the HTTP layer needs from config.
pub fn web_options(config: &Config) -> WebOptions {
    WebOptions {
        trusted_proxies: config.server.trusted_proxies.clone(),
        login_per_ip_per_minute: config.server.login_requests_per_ip_per_minute,
        signup_per_ip_per_hour: config.signup.max_per_client_per_hour,
        requests_per_key_per_minute: config.api.requests_per_key_per_minute,
        password_resets_per_ip_per_hour: config.password.resets_per_client_per_hour,
        public_url: config.server.public_url.clone(),
        cookie_domain: config.session.cookie_domain.clone(),
        access: config.access.rules.clone(),
        // Checked when the configuration was read.
        redirects: nidan_domain::Redirects::new(
            &config.server.public_url,
            config.session.cookie_domain.as_deref(),
            &config.access.allowed_redirects,
        )
        .unwrap_or_default(),
        metrics_apart: config.metrics.listen.is_some(),
    }
}

/// Opens the store once (applying migrations); the caller decides whether to retry.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, nidan_store::OpenError> {
    nidan_store::open(&config.database.url, &store_options(config)).await
}

/// The password-hashing pool: `hashing.max_concurrent` dedicated threads (half the CPUs by
/// default) at a niceness raised by `hashing.niceness`, and a queue of `hashing.max_queue`.
/// Building it computes the dummy hash (tens of milliseconds of Argon2), so it runs off the
/// async threads.
async fn hasher(config: &Config) -> Result<PasswordHasher> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
    let workers = config.hashing.effective_max_concurrent();
    let queue = config.hashing.max_queue;
    let niceness = config.hashing.niceness;
    tokio::task::spawn_blocking(move || {
        PasswordHasher::with_niceness(HashParams::OWASP, workers, queue, salt, niceness)
    })
    .await
    .context("the password hashing set-up stopped")?
    .context("cannot set up password hashing")
}

/// How codes and notices leave nidan: SMTP and an SMS gateway when configured, else the
/// outbox file in the data directory.
pub fn courier(config: &Config) -> Result<Courier> {
    let sms = match config.sms.provider {
        SmsProvider::Outbox => SmsConfig::Outbox,
        SmsProvider::Webhook => SmsConfig::Webhook {
            url: config
                .sms
                .url
                .clone()
                .context("sms.url is required for the webhook provider")?,
            authorization: config.sms.authorization.clone(),
        },
        SmsProvider::Twilio => SmsConfig::Twilio {
            account_sid: config
                .sms
                .account_sid
                .clone()
                .context("sms.account_sid is required for twilio")?,
            auth_token: config
                .sms
                .auth_token
                .clone()
                .context("sms.auth_token is required for twilio")?,
            from: config
                .sms
                .from
                .clone()
                .context("sms.from is required for twilio")?,
            base_url: config.sms.base_url.clone(),
        },
    };
    let delivery = DeliveryConfig {
        data_dir: config.data_dir.clone(),
        smtp_url: config.email.smtp_url.clone(),
        email_from: config.email.from.clone(),
        sms,
    };
    Courier::new(delivery).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The use cases, wired to the real clock, the OS CSPRNG, the courier and the given store and
/// keys.
pub async fn service(config: &Config, store: Arc<dyn Store>, secrets: Secrets) -> Result<Service> {
    let courier = courier(config)?;
    tracing::info!(
        email = courier.email_transport(),
        sms = nidan_service::courier::Courier::sms_provider(&courier),
        "delivery of codes and notices"
    );
    let ports = Ports {
        store,
        clock: Arc::new(SystemClock),
        rng: Arc::new(OsRng),
        courier: Arc::new(courier),
    };
    let service = Service::new(ports, secrets, hasher(config).await?, policy(config)?);
    let service = match countries(config)? {
        Some(db) => service.with_country_lookup(Arc::new(db)),
        None => service,
    };
    if config.webhooks.is_empty() {
        return Ok(service);
    }
    let hooks = config
        .webhooks
        .iter()
        .map(|w| nidan_service::webhooks::Webhook {
            name: w.name.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            secret: zeroize::Zeroizing::new(w.secret.clone()),
        })
        .collect::<Vec<_>>();
    tracing::info!(webhooks = ?hooks.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), "security events go to webhooks");
    let sender = nidan_delivery::HttpHookSender::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(service.with_webhooks(hooks, Arc::new(sender)))
}

/// The country database of `[risk] geoip_db`, when set. A missing or unreadable file stops the
/// start: with the rule on, signing people in without it would silently drop a protection.
pub fn countries(config: &Config) -> Result<Option<CountryDb>> {
    let Some(path) = &config.risk.geoip_db else {
        return Ok(None);
    };
    let db = CountryDb::open(path)
        .map_err(|e| anyhow::anyhow!("setting `risk.geoip_db` (NIDAN_RISK_GEOIP_DB): {e}"))?;
    tracing::info!(path = %path.display(), home = ?config.risk.home_countries, "country database loaded");
    Ok(Some(db))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml_str(toml, Vec::new()).unwrap()
    }

    #[test]
    fn the_policy_follows_the_config() {
        let p = policy(&config(
            "[totp]\nissuer = \"Acme\"\nwindow = 0\n[signup]\nopen = false\n\
             [session]\nidle_timeout_secs = 600\n[throttle]\nlock_at = 50\n",
        ))
        .unwrap();
        assert_eq!(p.issuer, "Acme");
        assert_eq!(p.totp_window, TotpWindow::new(0).unwrap());
        assert!(!p.signup_open);
        assert_eq!(p.session_idle_secs, 600);
        assert_eq!(p.throttle.lock_at, 50);
    }

    #[test]
    fn the_default_config_gives_the_default_policy() {
        let p = policy(&config("")).unwrap();
        let d = Policy::default();
        assert_eq!(
            (p.issuer, p.totp_window, p.signup_open, p.password_min_chars),
            (d.issuer, d.totp_window, d.signup_open, d.password_min_chars)
        );
        assert_eq!(
            (
                p.session_idle_secs,
                p.session_absolute_secs,
                p.challenge_ttl_secs
            ),
            (
                d.session_idle_secs,
                d.session_absolute_secs,
                d.challenge_ttl_secs
            )
        );
        assert_eq!((p.challenge_max_attempts, p.remember_days), (5, 30));
        assert_eq!(p.throttle, d.throttle);
    }

    #[test]
    fn trusted_proxies_reach_the_web_layer() {
        let web = web_options(&config(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\npublic_url = \"https://x.example\"\n",
        ));
        assert_eq!(
            web.trusted_proxies,
            vec![
                "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        assert_eq!(web.public_url, "https://x.example");
        assert_eq!(web.login_per_ip_per_minute, 60);
    }
}
