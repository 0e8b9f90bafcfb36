//! Test harness: the real router on a real SQLite file, a clock the test moves, and helpers that
//! speak HTTP the way a client would (also used by the several-node harness in `nodes`), and log
//! capture.
#![allow(dead_code, clippy::unwrap_used)]

/// Log capture, shared with nidan-delivery's tests (one file for both crates).
#[path = "../../../nidan-delivery/tests/common/logs.rs"]
pub mod logs;
/// A software WebAuthn authenticator.
pub mod softkey;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use nidan_domain::{Keyring, SealKey, TotpSecret, totp_code};
use nidan_service::system::OsRng;
use nidan_service::{Clock, HashParams, PasswordHasher, Policy, Ports, Secrets, Service, UnixTime};
use nidan_web::WebOptions;
use serde_json::{Value, json};
use tower::ServiceExt;
use zeroize::Zeroizing;

/// A clock the test sets.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl Clock for TestClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub router: Router,
    pub service: Service,
    pub clock: TestClock,
    pub dir: std::sync::Arc<tempfile::TempDir>,
    pub db_path: std::path::PathBuf,
    keys: ([u8; 32], [u8; 32]),
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_policy(Policy::default()).await
    }

    pub async fn with_policy(policy: Policy) -> Self {
        Self::with(policy, WebOptions::default()).await
    }

    pub async fn with(policy: Policy, options: WebOptions) -> Self {
        Self::with_delivery(policy, options, None).await
    }

    /// With email over SMTP to `smtp_url` (else the outbox in the test's data directory).
    pub async fn with_delivery(
        policy: Policy,
        options: WebOptions,
        smtp_url: Option<String>,
    ) -> Self {
        let mut k1 = [0u8; 32];
        let mut hk = [0u8; 32];
        getrandom::fill(&mut k1).unwrap();
        getrandom::fill(&mut hk).unwrap();
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        let clock = TestClock(Arc::new(AtomicI64::new(1_800_000_015)));
        Self::build(dir, (k1, hk), clock, policy, options, smtp_url).await
    }

    /// The same data directory and keys, a new service (as after a restart), mailing through
    /// `smtp_url`.
    pub async fn restarted(&self, smtp_url: Option<String>) -> Self {
        Self::build(
            self.dir.clone(),
            self.keys,
            self.clock.clone(),
            Policy::default(),
            WebOptions::default(),
            smtp_url,
        )
        .await
    }

    async fn build(
        dir: std::sync::Arc<tempfile::TempDir>,
        keys: ([u8; 32], [u8; 32]),
        clock: TestClock,
        policy: Policy,
        options: WebOptions,
        smtp_url: Option<String>,
    ) -> Self {
        let (k1, hk) = keys;
        let db_path = dir.path().join("nidan.db");
        let url = format!("sqlite://{}", db_path.display());
        let store = nidan_store::open(&url, &nidan_store::StoreOptions::default())
            .await
            .unwrap();
        let secrets = Secrets {
            keyring: Keyring::new(vec![SealKey::new(1, k1)]).unwrap(),
            hash_key: Zeroizing::new(hk),
        };
        let hasher = PasswordHasher::new(HashParams::OWASP, 2, 64, [7u8; 16]).unwrap();
        let delivery = nidan_delivery::DeliveryConfig {
            data_dir: dir.path().to_path_buf(),
            smtp_url,
            email_from: "nidan test <nidan@test.example>".into(),
            sms: nidan_delivery::SmsConfig::Outbox,
        };
        let courier =
            nidan_delivery::Courier::with_clock(delivery, Arc::new(clock.clone())).unwrap();
        let ports = Ports {
            store,
            clock: Arc::new(clock.clone()),
            rng: Arc::new(OsRng),
            courier: Arc::new(courier),
        };
        let service = Service::new(ports, secrets, hasher, policy);
        let router = nidan_web::app(service.clone(), options);
        Self {
            router,
            service,
            clock,
            dir,
            db_path,
            keys,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.send(request(None, method, path, token, body)).await
    }

    /// A request from the client address `ip`.
    pub async fn call_from(
        &self,
        ip: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.send(request(Some(ip), method, path, token, body))
            .await
    }

    pub async fn send(&self, req: Request<Body>) -> Response {
        send_to(&self.router, req).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// Signs up and signs in; returns the session token.
    pub async fn signed_up(&self, email: &str) -> String {
        let r = self
            .post(
                "/api/v1/users",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = self
            .post(
                "/api/v1/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["status"], "signed_in");
        r.json["session_token"].as_str().unwrap().to_owned()
    }

    /// Signs up, enrols an authenticator app; returns (session token, secret, recovery codes).
    pub async fn enrolled(&self, email: &str) -> Enrolled {
        let session = self.signed_up(email).await;
        let r = self
            .post(
                "/api/v1/me/totp/setup",
                Some(&session),
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let secret = TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
        let code = totp_code(secret.as_bytes(), self.now());
        let r = self
            .post(
                "/api/v1/me/totp/confirm",
                Some(&session),
                json!({"code": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let codes: Vec<String> = r.json["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        // Move to the next step, so the enrolment code's step is in the past.
        self.advance(30);
        Enrolled {
            email: email.to_owned(),
            session,
            secret,
            recovery_codes: codes,
        }
    }

    /// The current TOTP code for a secret.
    pub fn code(&self, secret: &TotpSecret) -> String {
        totp_code(secret.as_bytes(), self.now())
    }

    /// Password step; returns the JSON answer.
    pub async fn login(&self, email: &str) -> Response {
        self.post(
            "/api/v1/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    /// Password step that must require a second factor; returns the challenge id.
    /// Signs `user` in through a new challenge with "remember this device"; returns the device
    /// token.
    pub async fn remembered_device(&self, user: &Enrolled) -> String {
        let c = self.challenge(&user.email).await;
        let r = self
            .post(
                "/api/v1/login/verify",
                None,
                json!({"challenge_id": c, "method": "totp", "code": self.code(&user.secret), "remember_device": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json["device_token"].as_str().unwrap().to_owned()
    }

    pub async fn challenge(&self, email: &str) -> String {
        let r = self.login(email).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
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

impl TestApp {
    /// Every message written to the outbox so far.
    pub fn outbox(&self) -> Vec<Value> {
        nidan_delivery::outbox::read_all(self.dir.path().join(nidan_delivery::outbox::FILE_NAME))
    }

    /// The 6-digit code in the newest outbox message to `to`.
    pub fn last_code_to(&self, to: &str) -> String {
        last_code_in(self.dir.path(), to)
    }
}

/// A request as the test client sends it: its user agent, a Bearer `token` and a JSON body when
/// given, and the client address `ip` when given (else the router sees no peer address).
pub fn request(
    ip: Option<&str>,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", "nidan-test/1.0 (Linux)");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    if let Some(ip) = ip {
        let addr: IpAddr = ip.parse().unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(addr, 40000)));
    }
    req
}

/// `req` through `router`, the whole answer read.
pub async fn send_to(router: &Router, req: Request<Body>) -> Response {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Response {
        status,
        headers,
        json,
        text,
    }
}

/// The 6-digit code in the newest message to `to` in the outbox of the data directory `dir`.
pub fn last_code_in(dir: &Path, to: &str) -> String {
    let messages = nidan_delivery::outbox::read_all(dir.join(nidan_delivery::outbox::FILE_NAME));
    let body = messages
        .iter()
        .rev()
        .find(|m| m["to"] == to)
        .unwrap_or_else(|| panic!("no message to {to}: {messages:?}"))["body"]
        .as_str()
        .unwrap()
        .to_owned();
    six_digits_in(&body).unwrap_or_else(|| panic!("no code in {body}"))
}

/// The reset link in the newest message to `to`, waiting a little: the link is sent after the
/// answer.
pub async fn reset_token_to(app: &TestApp, to: &str) -> Option<String> {
    for _ in 0..100 {
        let found = app
            .outbox()
            .iter()
            .rev()
            .find(|m| m["to"] == to && m["body"].as_str().unwrap_or("").contains("token="))
            .and_then(|m| {
                let body = m["body"].as_str()?;
                let start = body.find("token=")? + "token=".len();
                Some(
                    body[start..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>(),
                )
            });
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// A 6-digit code that is valid for none of the steps T-2..T+2 now.
pub fn wrong_code(app: &TestApp, secret: &TotpSecret) -> String {
    wrong_code_at(app.now(), secret, 0)
}

/// The `nth` such code (distinct guesses look more like an attacker's).
pub fn wrong_code_at(now: i64, secret: &TotpSecret, nth: usize) -> String {
    let valid: Vec<String> = (-2..=2)
        .map(|k| totp_code(secret.as_bytes(), now + 30 * k))
        .collect();
    (0..2000)
        .map(|i| format!("{:06}", 100_000 + i * 7))
        .filter(|c| !valid.contains(c))
        .nth(nth)
        .unwrap()
}

/// The account's count of failed attempts.
pub async fn failures(app: &TestApp, email: &str) -> u32 {
    app.service
        .admin_show_user(email)
        .await
        .unwrap()
        .user
        .failed_attempts
}

/// The first run of exactly six ASCII digits in a text.
pub fn six_digits_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let run = &bytes[i..i + 6];
        let before = i == 0 || !bytes[i - 1].is_ascii_digit();
        let after = i + 6 == bytes.len() || !bytes[i + 6].is_ascii_digit();
        (before && after && run.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(run).into_owned())
    })
}

pub struct Enrolled {
    pub email: String,
    pub session: String,
    pub secret: TotpSecret,
    pub recovery_codes: Vec<String>,
}
