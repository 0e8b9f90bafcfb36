//! nidan's use cases: sign up, sign in, the second step, enrolment, recovery codes, the two-step
//! lifecycle, remembered devices, sessions, activity, app verification and support tools.
//!
//! Every use case is a method on [`Service`], written against the ports in [`ports`]: storage,
//! time and randomness come from outside, so the rules can be tested with a fake clock and any
//! store that passes the [`conformance`] suite. Domain rules (OTP math, codes, throttle schedule)
//! live in `nidan-domain`; this crate decides *when* they apply.
#![warn(missing_docs)]

pub mod account;
pub mod admin;
pub mod agent;
pub mod app;
mod attempt;
pub mod conformance;
pub mod courier;
pub mod error;
pub mod gate;
pub mod geo;
pub mod ids;
pub mod key_cache;
pub mod notices;
pub mod oidc;
pub mod oob;
pub mod password;
pub mod ports;
pub mod secrets;
pub mod session;
pub mod signin;
pub mod system;
pub mod two_step;
pub mod webauthn;
pub mod webhooks;

use std::sync::Arc;

use nidan_domain::{BearerToken, ThrottlePolicy, TotpWindow};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use error::{ServiceError, ServiceResult};
pub use ids::{ApiKeyId, CredentialId, DeviceId, SessionId, UserId};
pub use password::{HashParams, PasswordHasher};
pub use ports::{Clock, Rng, Store, StoreError, UnixTime};
pub use secrets::Secrets;

/// The operator's policy, read from config once at start.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Issuer shown in authenticator apps.
    pub issuer: String,
    /// TOTP steps accepted either side of now (0 or 1).
    pub totp_window: TotpWindow,
    /// Whether anyone may sign up.
    pub signup_open: bool,
    /// Minimum password length in characters.
    pub password_min_chars: usize,
    /// Password reset links an account may be sent per hour.
    pub password_resets_per_hour: u32,
    /// Where people reach the server (`[server] public_url`): links in emails start with it.
    pub public_url: String,
    /// How long the history and the sent notices are kept.
    pub retention: Retention,
    /// How people reach support, when set: `[support] contact_url`, else `mailto:` and
    /// `contact_email`. Shown where people get stuck and in every security notice.
    pub support: Option<String>,
    /// A session ends after this long without a request.
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in, whatever happens.
    pub session_absolute_secs: i64,
    /// A sign-in challenge lives this long.
    pub challenge_ttl_secs: i64,
    /// A sign-in challenge dies after this many codes.
    pub challenge_max_attempts: u32,
    /// "Remember this device" lasts this many days (0 = the feature is off).
    pub remember_days: u32,
    /// Per-account guessing limits.
    pub throttle: ThrottlePolicy,
    /// Codes sent by email and SMS.
    pub codes: CodePolicy,
    /// The "sign-in from a new country" rule.
    pub risk: geo::RiskPolicy,
    /// Methods people may enrol (`totp`, `sms`, `email`). A method left out cannot be added;
    /// what is already enrolled keeps working, so nobody is locked out by a config change.
    pub enabled_methods: Vec<nidan_domain::Method>,
}

/// How long the retention sweep keeps what is over (`[retention]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days of activity history kept.
    pub activity_days: u32,
    /// Days a sent (or given-up) notice is kept.
    pub sent_notices_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            activity_days: 400,
            sent_notices_days: 30,
        }
    }
}

/// Codes sent by email and SMS.
#[derive(Clone, Debug)]
pub struct CodePolicy {
    /// A code works this long (at most 600 s).
    pub ttl_secs: i64,
    /// Wrong tries one code allows.
    pub max_attempts: u32,
    /// How often codes may be sent.
    pub limits: ports::SendLimits,
    /// Email codes must go to an address other than the sign-in email.
    pub email_separate_address: bool,
    /// Region for phone numbers typed in national form (ISO 3166-1 alpha-2).
    pub default_region: String,
    /// Country calling codes a phone number for codes may have (`81`, `1`); empty: any.
    pub sms_allowed_countries: Vec<u16>,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            max_attempts: 5,
            limits: ports::SendLimits {
                min_interval_secs: 60,
                per_account_per_15min: 5,
                per_destination_per_day: 10,
                unconfirmed_per_account_per_day: 10,
                unconfirmed_per_client_per_hour: 10,
                unconfirmed_sms_per_hour: 100,
                unconfirmed_email_per_hour: 1000,
            },
            email_separate_address: false,
            default_region: "JP".into(),
            sms_allowed_countries: Vec::new(),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            issuer: "nidan".into(),
            totp_window: TotpWindow::DEFAULT,
            signup_open: true,
            password_min_chars: 15,
            password_resets_per_hour: 3,
            public_url: "http://localhost:8080".into(),
            support: None,
            retention: Retention::default(),
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            challenge_ttl_secs: 600,
            challenge_max_attempts: 5,
            remember_days: 30,
            throttle: ThrottlePolicy::default(),
            codes: CodePolicy::default(),
            risk: geo::RiskPolicy::default(),
            enabled_methods: vec![
                nidan_domain::Method::Webauthn,
                nidan_domain::Method::Totp,
                nidan_domain::Method::Sms,
                nidan_domain::Method::Email,
            ],
        }
    }
}

/// Who is calling: recorded in the activity history, never trusted for decisions.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Client address (after trusted-proxy resolution).
    pub ip: String,
    /// User agent, cut to a sane length.
    pub user_agent: String,
}

/// The service's connections to the outside world.
#[derive(Clone)]
pub struct Ports {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Rng>,
    /// Email and SMS.
    pub courier: Arc<dyn courier::Courier>,
}

/// The use cases, with their ports. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    courier: Arc<dyn courier::Courier>,
    secrets: Secrets,
    hasher: PasswordHasher,
    policy: Policy,
    countries: std::sync::OnceLock<Arc<dyn geo::CountryLookup>>,
    api_keys: key_cache::KeyCache,
    gate: key_cache::Recent<Arc<gate::GateUser>>,
    /// The OpenID Connect signing keys, opened, and when they were read.
    signers: std::sync::Mutex<Option<(UnixTime, Arc<oidc::keys::Signers>)>>,
    /// The operator's webhooks, set at start.
    hooks: std::sync::OnceLock<webhooks::Hooks>,
    caps: CapCounts,
    /// The WebAuthn relying party, when `public_url` names a host (not an IP address).
    webauthn: Option<webauthn_rs::Webauthn>,
}

/// How often each sending cap and the per-account password limit refused something, since
/// start (for `/metrics`).
#[derive(Default)]
pub(crate) struct CapCounts {
    sends: Family<CapLabel, Counter>,
    passwords: Counter,
}

/// The label of a sending cap's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabel {
    cap: &'static str,
}

impl CapCounts {
    pub(crate) fn hit(&self, cap: ports::SendCap) {
        self.sends
            .get_or_create(&CapLabel { cap: cap.as_str() })
            .inc();
    }

    pub(crate) fn password_refused(&self) {
        self.passwords.inc();
    }
}

impl Service {
    /// Builds the service from its ports.
    pub fn new(ports: Ports, secrets: Secrets, hasher: PasswordHasher, policy: Policy) -> Self {
        let Ports {
            store,
            clock,
            rng,
            courier,
        } = ports;
        let webauthn = webauthn::relying_party(&policy.public_url, &policy.issuer);
        Self {
            inner: Arc::new(Inner {
                webauthn,
                store,
                clock,
                rng,
                courier,
                secrets,
                hasher,
                policy,
                countries: std::sync::OnceLock::new(),
                api_keys: key_cache::KeyCache::default(),
                gate: key_cache::Recent::new(gate::GATE_CACHE_MAX),
                signers: std::sync::Mutex::new(None),
                hooks: std::sync::OnceLock::new(),
                caps: CapCounts::default(),
            }),
        }
    }

    /// Gives the service a country database (for `[risk]` and the country in activity). Set
    /// once, at start; later calls are ignored.
    pub fn with_country_lookup(self, lookup: Arc<dyn geo::CountryLookup>) -> Self {
        let _ = self.inner.countries.set(lookup);
        self
    }

    /// The country of a client address: `Some("JP")`, `Some("unknown")`, or `None` when no
    /// country database is configured.
    /// The country of a client address (ISO 3166-1 alpha-2, or "unknown"), when a country
    /// database is loaded.
    pub fn country_of(&self, ip: &str) -> Option<String> {
        let lookup = self.inner.countries.get()?;
        Some(
            ip.parse()
                .ok()
                .and_then(|ip| lookup.country(ip))
                .unwrap_or_else(|| "unknown".into()),
        )
    }

    /// The country that makes a sign-in from `ip` "from abroad" under `[risk]`, or `None` when the
    /// rule is off or the address is at home.
    pub(crate) fn abroad(&self, ip: &str) -> Option<String> {
        let risk = &self.inner.policy.risk;
        if risk.home_countries.is_empty() {
            return None;
        }
        let country = self.country_of(ip).unwrap_or_else(|| "unknown".into());
        if country == "unknown" {
            return risk.challenge_unknown.then_some(country);
        }
        (!risk
            .home_countries
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&country)))
        .then_some(country)
    }

    /// Refuses to enrol a method the operator turned off.
    pub(crate) fn check_enabled(&self, method: nidan_domain::Method) -> ServiceResult<()> {
        if self.inner.policy.enabled_methods.contains(&method) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "this server does not offer that method",
            ))
        }
    }

    /// Adds the service's series to `registry`: its own counters, the password-hashing pool,
    /// the store's and the couriers'.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let caps = &self.inner.caps;
        for cap in ports::SendCap::ALL {
            // Every cap shows from the start, at 0.
            drop(caps.sends.get_or_create(&CapLabel { cap: cap.as_str() }));
        }
        registry.register(
            "nidan_send_caps_hit",
            "Codes refused by a sending limit, by limit",
            caps.sends.clone(),
        );
        registry.register(
            "nidan_password_limit_refusals",
            "Sign-ins refused by the per-account limit on wrong passwords",
            caps.passwords.clone(),
        );
        self.inner.hasher.register_metrics(registry);
        self.inner.store.register_metrics(registry);
        self.inner.courier.register_metrics(registry);
    }

    /// Security notices waiting to be sent (for `/metrics`).
    pub async fn notices_waiting(&self) -> ServiceResult<u64> {
        Ok(self.store_ref().pending_notices().await?)
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    fn store_ref(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// Now, by the service's clock (the pages say "5 minutes ago" against it).
    pub fn now(&self) -> UnixTime {
        self.inner.clock.now()
    }

    fn random<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.inner.rng.fill(&mut buf);
        buf
    }

    pub(crate) fn new_token(&self, prefix: &str) -> BearerToken {
        let bytes: [u8; 32] = self.random();
        BearerToken::from_random(prefix, &bytes)
    }
}

/// Token prefixes: they make a leaked token recognisable (secret scanners, logs) and tell the
/// kinds apart; they carry no secret.
pub mod token_prefix {
    /// Session tokens.
    pub const SESSION: &str = "nds_";
    /// Sign-in challenge tokens.
    pub const CHALLENGE: &str = "ndc_";
    /// Remembered-device tokens.
    pub const DEVICE: &str = "ndd_";
    /// API keys.
    pub const API_KEY: &str = "ndk_";
    /// Password reset links.
    pub const RESET: &str = "ndr_";
    /// Passkey sign-in ceremonies (what binds one to the browser that started it).
    pub const PASSKEY: &str = "ndp_";
}
