//! Harness for tests with several nidan nodes on one database: each node is the real router with
//! its own `Service` and its own store connection pool (as separate processes would have), all
//! sharing one database, one key file and one clock the test moves. PostgreSQL schemas are fresh
//! per test (`nidan_t_<random>`, through the connection's `search_path`).
//!
//! Built on `common`'s requests, answers and clock; where `common` is one node on SQLite, this
//! harness is about shared state across nodes.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use nidan_domain::{Keyring, SealKey, TotpSecret, totp_code};
use nidan_service::system::OsRng;
use nidan_service::{HashParams, PasswordHasher, Policy, Ports, Secrets, Service};
use nidan_store::StoreOptions;
use nidan_web::WebOptions;
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub use crate::common::{PASSWORD, Response, TestClock};
use crate::common::{last_code_in, request, send_to};

#[path = "../../../nidan-store/tests/pg/schemas.rs"]
mod schemas;
pub use schemas::{database_url, drop_schema, mark_ran};

/// A new empty schema in the database at `base`; returns (schema, URL that uses it).
pub async fn fresh_schema(base: &str) -> (String, String) {
    let schema = schemas::create_schema(base).await;
    let url = schemas::url_in_schema(base, &schema);
    (schema, url)
}

/// What every node of one deployment shares: the key file's keys, the clock, a data directory.
#[derive(Clone)]
pub struct Shared {
    pub seal_keys: Vec<(u32, [u8; 32])>,
    pub hash_key: [u8; 32],
    pub clock: TestClock,
    pub dir: Arc<tempfile::TempDir>,
}

impl Shared {
    pub fn new() -> Self {
        let mut k1 = [0u8; 32];
        let mut hk = [0u8; 32];
        getrandom::fill(&mut k1).unwrap();
        getrandom::fill(&mut hk).unwrap();
        Self {
            seal_keys: vec![(1, k1)],
            hash_key: hk,
            clock: TestClock(Arc::new(AtomicI64::new(1_800_000_015))),
            dir: Arc::new(tempfile::tempdir().unwrap()),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn code(&self, secret: &TotpSecret) -> String {
        totp_code(secret.as_bytes(), self.now())
    }
}

/// One nidan node.
#[derive(Clone)]
pub struct Node {
    pub router: Router,
    pub service: Service,
}

impl Node {
    /// A node on the database at `url` with its own pool.
    pub async fn start(url: &str, shared: &Shared, options: &StoreOptions) -> Node {
        Self::start_with(url, shared, options, Policy::default()).await
    }

    /// A node with `policy`.
    pub async fn start_with(
        url: &str,
        shared: &Shared,
        options: &StoreOptions,
        policy: Policy,
    ) -> Node {
        let store = nidan_store::open(url, options).await.unwrap();
        let secrets = Secrets {
            keyring: Keyring::new(
                shared
                    .seal_keys
                    .iter()
                    .map(|(v, k)| SealKey::new(*v, *k))
                    .collect(),
            )
            .unwrap(),
            hash_key: Zeroizing::new(shared.hash_key),
        };
        let hasher = PasswordHasher::new(HashParams::OWASP, 2, 64, [7u8; 16]).unwrap();
        let delivery = nidan_delivery::DeliveryConfig {
            data_dir: shared.dir.path().to_path_buf(),
            smtp_url: None,
            email_from: "nidan test <nidan@test.example>".into(),
            sms: nidan_delivery::SmsConfig::Outbox,
        };
        let courier =
            nidan_delivery::Courier::with_clock(delivery, Arc::new(shared.clock.clone())).unwrap();
        let ports = Ports {
            store,
            clock: Arc::new(shared.clock.clone()),
            rng: Arc::new(OsRng),
            courier: Arc::new(courier),
        };
        let service = Service::new(ports, secrets, hasher, policy);
        let router = nidan_web::app(service.clone(), WebOptions::default());
        Node { router, service }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.call_from(None, method, path, token, body).await
    }

    /// A JSON POST from the client address `ip`.
    pub async fn post_from(
        &self,
        ip: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Response {
        self.call_from(Some(ip), Method::POST, path, token, Some(body))
            .await
    }

    /// A request, from the client address `ip` when given (else 127.0.0.1).
    pub async fn call_from(
        &self,
        ip: Option<&str>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        send_to(&self.router, request(ip, method, path, token, body)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    /// Signs up, enrols an authenticator app and moves the clock one step on; returns
    /// (session token, secret, recovery codes).
    pub async fn enrolled(
        &self,
        shared: &Shared,
        email: &str,
    ) -> (String, TotpSecret, Vec<String>) {
        let r = self
            .post(
                "/api/v1/users",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = self.login(email).await;
        assert_eq!(r.json["status"], "signed_in", "{}", r.text);
        let session = r.json["session_token"].as_str().unwrap().to_owned();
        let r = self
            .post(
                "/api/v1/me/totp/setup",
                Some(&session),
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let secret = TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
        let r = self
            .post(
                "/api/v1/me/totp/confirm",
                Some(&session),
                json!({"code": shared.code(&secret)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let codes = r.json["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        shared.advance(30);
        (session, secret, codes)
    }

    pub async fn login(&self, email: &str) -> Response {
        self.post(
            "/api/v1/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    /// Password step that must ask for a second factor; returns the challenge id.
    pub async fn challenge(&self, email: &str) -> String {
        let r = self.login(email).await;
        assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
        r.json["challenge_id"].as_str().unwrap().to_owned()
    }

    pub async fn verify(&self, challenge: &str, method: &str, code: &str) -> Response {
        self.post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": challenge, "method": method, "code": code}),
        )
        .await
    }
}

/// A six-digit code that is valid for none of the steps T-2..T+2 now.
pub fn wrong_code(shared: &Shared, secret: &TotpSecret) -> String {
    crate::common::wrong_code_at(shared.now(), secret, 0)
}

/// Store options for test nodes: a small pool (many tests share one server).
pub fn small_pool() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
        ..StoreOptions::default()
    }
}

/// The 6-digit code in the newest outbox message to `to` (every node writes to the shared
/// outbox of the test's data directory).
pub fn last_code_to(shared: &Shared, to: &str) -> String {
    last_code_in(shared.dir.path(), to)
}
