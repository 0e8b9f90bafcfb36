//! Several nidan nodes on one PostgreSQL database: nothing nidan promises may break when a load
//! balancer spreads one person's requests over nodes. Each node here is the real router with its
//! own `Service` and its own connection pool; they share the database, the keys and the clock.
//!
//! Also resilience: `/readyz` follows the database, and when the connection to it is cut (a TCP
//! proxy in the test drops every connection and refuses new ones for a while) requests fail fast
//! with 503 `service_unavailable` and work again by themselves once it is back.
//!
//! Needs `NIDAN_TEST_DATABASE_URL`; without it every test says "skipped" and passes (unless
//! `NIDAN_REQUIRE_POSTGRES=1`, as in `.ci/run`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use nidan_store::StoreOptions;
use serde_json::json;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, watch};

use crate::nodes::{
    Node, PASSWORD, Shared, database_url, drop_schema, fresh_schema, last_code_to, mark_ran,
    small_pool, wrong_code,
};

/// Two nodes on one fresh schema.
struct Cluster {
    base: String,
    schema: String,
    url: String,
    shared: Shared,
    a: Node,
    b: Node,
}

impl Cluster {
    async fn start(test: &str) -> Option<Cluster> {
        let base = database_url(test)?;
        let (schema, url) = fresh_schema(&base).await;
        let shared = Shared::new();
        let a = Node::start(&url, &shared, &small_pool()).await;
        let b = Node::start(&url, &shared, &small_pool()).await;
        Some(Cluster {
            base,
            schema,
            url,
            shared,
            a,
            b,
        })
    }

    fn node(&self, i: usize) -> &Node {
        if i.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    async fn finish(self, test: &str) {
        let Cluster {
            base, schema, a, b, ..
        } = self;
        drop((a, b));
        drop_schema(&base, &schema).await;
        mark_ran(test);
    }
}

/// Signs `email` up and in on A (no two-step yet); returns the session.
async fn signed_up_on_a(c: &Cluster, email: &str) -> String {
    let r =
        c.a.post(
            "/api/v1/users",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    c.a.login(email).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs `email` up on A with SMS to `typed` as its only method, confirmed on B with the code A
/// sent to `e164`; returns the session.
async fn sms_only(c: &Cluster, email: &str, typed: &str, e164: &str) -> String {
    let session = signed_up_on_a(c, email).await;
    let r =
        c.a.post(
            "/api/v1/me/sms/setup",
            Some(&session),
            json!({"password": PASSWORD, "phone": typed}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r =
        c.b.post(
            "/api/v1/me/sms/confirm",
            Some(&session),
            json!({"code": last_code_to(&c.shared, e164)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "confirmed on B: {}", r.text);
    session
}

/// Submits `code` with `method` at `n` fresh challenges, half opened and submitted on each node,
/// all at once; returns the statuses.
async fn race(
    c: &Cluster,
    email: &str,
    method: &'static str,
    code: &str,
    n: usize,
) -> Vec<StatusCode> {
    let mut challenges = Vec::new();
    for i in 0..n {
        // The challenge is opened on one node and answered on the other.
        challenges.push((i, c.node(i + 1).challenge(email).await));
    }
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for (i, challenge) in challenges {
        let node = c.node(i).clone();
        let (barrier, code) = (barrier.clone(), code.to_owned());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            node.verify(&challenge, method, &code).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_step_on_another_node() {
    const TEST: &str = "multinode::second_step_on_another_node";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let (_, secret, _) = c.a.enrolled(&c.shared, "two-nodes@example.com").await;
    let challenge = c.a.challenge("two-nodes@example.com").await;
    let r =
        c.b.verify(&challenge, "totp", &c.shared.code(&secret))
            .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "second step on node B: {}",
        r.text
    );
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    // The session made on B works on A, and ending it on A ends it on B.
    let me = c.a.get("/api/v1/me", Some(&session)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let r = c.a.post("/api/v1/logout", Some(&session), json!({})).await;
    assert!(
        r.status.is_success(),
        "logout on A: {} {}",
        r.status,
        r.text
    );
    let me = c.b.get("/api/v1/me", Some(&session)).await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "revoked on A, so dead on B: {}",
        me.text
    );
    // The challenge was consumed on B: answering it again on A is refused.
    c.shared.advance(30);
    let again =
        c.a.verify(&challenge, "totp", &c.shared.code(&secret))
            .await;
    assert_ne!(
        again.status,
        StatusCode::OK,
        "a consumed challenge: {}",
        again.text
    );
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_totp_code_across_two_nodes_is_accepted_once() {
    const TEST: &str = "multinode::one_totp_code_across_two_nodes_is_accepted_once";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let (_, secret, _) = c.a.enrolled(&c.shared, "race-totp@example.com").await;
    let code = c.shared.code(&secret);
    let statuses = race(&c, "race-totp@example.com", "totp", &code, 64).await;
    let wins = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        wins, 1,
        "64 submissions of one TOTP code on two nodes: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
        .contains(s)),
        "losers are refused, never a server error: {statuses:?}"
    );
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_across_two_nodes_is_accepted_once() {
    const TEST: &str = "multinode::one_recovery_code_across_two_nodes_is_accepted_once";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let (session, _, codes) = c.a.enrolled(&c.shared, "race-recovery@example.com").await;
    let statuses = race(&c, "race-recovery@example.com", "recovery", &codes[2], 16).await;
    let wins = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        wins, 1,
        "16 uses of one recovery code on two nodes: {statuses:?}"
    );
    for node in [&c.a, &c.b] {
        let left = node.get("/api/v1/me/recovery-codes", Some(&session)).await;
        assert_eq!(
            left.json,
            json!({"remaining": 7}),
            "exactly one code used: {}",
            left.text
        );
    }
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttled_on_one_node_is_throttled_on_the_other() {
    const TEST: &str = "multinode::throttled_on_one_node_is_throttled_on_the_other";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let email = "throttle@example.com";
    let (_, secret, _) = c.a.enrolled(&c.shared, email).await;
    let wrong = wrong_code(&c.shared, &secret);
    for i in 0..5 {
        let challenge = c.a.challenge(email).await;
        let r = c.a.verify(&challenge, "totp", &wrong).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "failure {i} on A: {}",
            r.text
        );
    }
    // Node B has never seen this account fail, yet it refuses even the right code.
    let challenge = c.b.challenge(email).await;
    let r =
        c.b.verify(&challenge, "totp", &c.shared.code(&secret))
            .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled on B too: {}",
        r.text
    );
    assert_eq!(r.headers["retry-after"], "30");
    // The app API on B shares the count.
    let (_, key) =
        c.b.service
            .create_api_key("multinode", &["verify"])
            .await
            .unwrap();
    let r =
        c.b.post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": email, "code": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    // After the delay, the right code on A works.
    c.shared.advance(30);
    let r =
        c.a.verify(&challenge, "totp", &c.shared.code(&secret))
            .await;
    assert_eq!(r.status, StatusCode::OK, "after the delay: {}", r.text);
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sms_codes_and_resend_windows_across_two_nodes() {
    const TEST: &str = "multinode::sms_codes_and_resend_windows_across_two_nodes";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    const PHONE: &str = "+819012345678";
    let email = "sms-nodes@example.com";
    // The number is added on A (in its national form) and confirmed on B with the code A sent.
    sms_only(&c, email, "090-1234-5678", PHONE).await;

    // Sign-in on A sends a code; a resend on B right away is refused: one resend window.
    let login = c.a.login(email).await;
    assert_eq!(
        login.json["status"], "second_factor_required",
        "{}",
        login.text
    );
    let challenge = login.json["challenge_id"].as_str().unwrap().to_owned();
    let code = last_code_to(&c.shared, PHONE);
    let r =
        c.b.post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "sms"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "resend on B: {}",
        r.text
    );
    assert_eq!(r.headers["retry-after"], "60");

    // 16 concurrent submissions of the sent code over both nodes: one session.
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let node = c.node(i).clone();
        let (barrier, challenge, code) = (barrier.clone(), challenge.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            node.verify(&challenge, "sms", &code).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let wins = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(wins, 1, "one sent code, two nodes: {statuses:?}");
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_sent_for_an_app_is_accepted_once_across_two_nodes() {
    const TEST: &str = "multinode::a_code_sent_for_an_app_is_accepted_once_across_two_nodes";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    const PHONE: &str = "+819012345678";
    let email = "app-nodes@example.com";
    sms_only(&c, email, "090-1234-5678", PHONE).await;
    let (_, key) =
        c.a.service
            .create_api_key("shop", &["verify", "send"])
            .await
            .unwrap();
    let key = key.expose().to_owned();
    // Sent through A; a second ask on B waits its turn (one resend window).
    let r =
        c.a.post(
            "/api/v1/verify/send-code",
            Some(&key),
            json!({"user": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = last_code_to(&c.shared, PHONE);
    let r =
        c.b.post(
            "/api/v1/verify/send-code",
            Some(&key),
            json!({"user": email}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "on B: {}", r.text);

    // 16 concurrent checks of that code over both nodes: exactly one is valid.
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let node = c.node(i).clone();
        let (barrier, key, code) = (barrier.clone(), key.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = node
                .post(
                    "/api/v1/verify",
                    Some(&key),
                    json!({"user": email, "code": code}),
                )
                .await;
            (r.status, r.json["valid"] == true)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let valid = answers.iter().filter(|(_, v)| *v).count();
    assert_eq!(valid, 1, "one code for an app, two nodes: {answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _)| [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(s)),
        "the others are refused, never a server error: {answers:?}"
    );
    c.finish(TEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_notices_go_out_once_from_two_nodes() {
    const TEST: &str = "multinode::security_notices_go_out_once_from_two_nodes";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    // Enrolments queue notices (an app added, two-step on) for each account.
    for i in 0..4 {
        c.node(i)
            .enrolled(&c.shared, &format!("notice-{i}@example.com"))
            .await;
    }
    let mut conn = sqlx::postgres::PgConnection::connect(&c.url).await.unwrap();
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(queued >= 4, "enrolments queue notices, got {queued}");
    // Both nodes' workers run at once, twice over.
    let mut sent = 0;
    for _ in 0..2 {
        let (a, b) = (c.a.service.clone(), c.b.service.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.deliver_notices(50).await }),
            tokio::spawn(async move { b.deliver_notices(50).await })
        );
        sent += x.unwrap() + y.unwrap();
    }
    assert_eq!(
        sent as i64, queued,
        "each queued notice is sent exactly once"
    );
    let messages = nidan_delivery::outbox::read_all(
        c.shared.dir.path().join(nidan_delivery::outbox::FILE_NAME),
    );
    let to_accounts = messages
        .iter()
        .filter(|m| m["to"].as_str().is_some_and(|t| t.starts_with("notice-")))
        .count();
    assert_eq!(
        to_accounts as i64, queued,
        "no notice arrives twice: {messages:?}"
    );
    let unsent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE sent_at IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unsent, 0);
    drop(conn);
    c.finish(TEST).await;
}

/// A TCP proxy to the database that the test can cut: every open connection is dropped and new
/// ones are closed at once until it is restored.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let (up2, generation2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // refused while cut
                    continue;
                }
                let mut cut = generation2.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {} // both sockets are dropped here
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` with host and port replaced by `addr`, and the database's `host:port`.
fn through(url: &str, addr: SocketAddr) -> (String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map_or(0, |i| i + 1);
    let host_end = rest[host_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| host_start + i);
    let hostport = &rest[host_start..host_end];
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let proxied = format!(
        "{}{}{}{}",
        &url[..scheme_end],
        &rest[..host_start],
        addr,
        &rest[host_end..]
    );
    (proxied, upstream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_cut_answers_503_and_recovers() {
    const TEST: &str = "resilience::database_cut_answers_503_and_recovers";
    let Some(base) = database_url(TEST) else {
        return;
    };
    let (schema, url) = fresh_schema(&base).await;
    let (_, upstream) = through(&url, "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::start(upstream).await;
    let (proxied_url, _) = through(&url, proxy.addr);
    let shared = Shared::new();
    let options = StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
    };
    let node = Node::start(&proxied_url, &shared, &options).await;
    let email = "resilience@example.com";
    let (session, secret, _) = node.enrolled(&shared, email).await;
    assert_eq!(node.get("/readyz", None).await.status, StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    let ready = node.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "readyz with the database cut: {}",
        ready.text
    );
    let me = node.get("/api/v1/me", Some(&session)).await;
    assert_eq!(
        me.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a request with the database cut: {}",
        me.text
    );
    assert_eq!(
        me.json["error"]["code"], "service_unavailable",
        "{}",
        me.text
    );
    let r = node.login(email).await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "sign-in with the database cut: {}",
        r.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "three requests must fail fast (acquire timeout 1 s), took {:?}",
        started.elapsed()
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if node.get("/readyz", None).await.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never came back after the database did"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = node.get("/api/v1/me", Some(&session)).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "recovered by itself: {}",
        me.text
    );
    let challenge = node.challenge(email).await;
    let r = node.verify(&challenge, "totp", &shared.code(&secret)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a full sign-in after recovery: {}",
        r.text
    );

    drop(node);
    drop_schema(&base, &schema).await;
    mark_ran(TEST);
}

/// Two nodes with home country JP and a country database that puts 127.0.0.1 abroad.
async fn abroad_cluster(test: &str) -> Option<Cluster> {
    let base = database_url(test)?;
    let (schema, url) = fresh_schema(&base).await;
    let shared = Shared::new();
    let policy = nidan_service::Policy {
        risk: nidan_service::geo::RiskPolicy {
            home_countries: vec!["JP".into()],
            challenge_unknown: false,
        },
        ..nidan_service::Policy::default()
    };
    let a = Node::start_with(&url, &shared, &small_pool(), policy.clone()).await;
    let b = Node::start_with(&url, &shared, &small_pool(), policy).await;
    Some(Cluster {
        base,
        schema,
        url,
        shared,
        a,
        b,
    })
}

/// From abroad, an account with an authenticator app gets exactly its own methods on either
/// node; an email code neither goes out nor is accepted in place of the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abroad_an_email_code_never_replaces_the_app_on_any_node() {
    const TEST: &str = "multinode::abroad_an_email_code_never_replaces_the_app_on_any_node";
    let Some(c) = abroad_cluster(TEST).await else {
        return;
    };
    let (_, secret, _) = c.a.enrolled(&c.shared, "abroad@example.com").await;
    // Only now is 127.0.0.1 abroad: the test's own sign-up came from home.
    let db = nidan_geo::testing::country_db(&[(std::net::Ipv4Addr::new(127, 0, 0, 0), 8, "US")]);
    let path = c.shared.dir.path().join("country.mmdb");
    std::fs::write(&path, db).unwrap();
    for node in [&c.a, &c.b] {
        let lookup = nidan_geo::CountryDb::open(&path).unwrap();
        let _ = node.service.clone().with_country_lookup(Arc::new(lookup));
    }
    let r = c.a.login("abroad@example.com").await;
    assert_eq!(r.json["methods"], json!(["totp", "recovery"]), "{}", r.text);
    assert!(r.json.get("reason").is_none(), "{}", r.text);
    let challenge = r.json["challenge_id"].as_str().unwrap().to_owned();
    let r =
        c.b.post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "email"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        c.b.verify(&challenge, "email", "123456").await.status,
        StatusCode::BAD_REQUEST
    );
    let r =
        c.b.verify(&challenge, "totp", &c.shared.code(&secret))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    c.finish(TEST).await;
}

/// A password-only session made on one node while two-step was off ends when two-step is
/// turned back on through the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_step_back_on_ends_password_only_sessions_on_every_node() {
    const TEST: &str = "multinode::two_step_back_on_ends_password_only_sessions_on_every_node";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let email = "backon-nodes@example.com";
    let (session, secret, _) = c.a.enrolled(&c.shared, email).await;
    let r =
        c.a.post(
            "/api/v1/me/two-step",
            Some(&session),
            json!({"password": PASSWORD, "code": c.shared.code(&secret), "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = c.b.login(email).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    let password_only = r.json["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.b.get("/api/v1/me", Some(&password_only)).await.status,
        StatusCode::OK
    );
    c.shared.advance(30);
    let r =
        c.a.post(
            "/api/v1/me/two-step",
            Some(&session),
            json!({"password": PASSWORD, "code": c.shared.code(&secret), "state": "on"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        c.b.get("/api/v1/me", Some(&password_only)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.b.get("/api/v1/me", Some(&session)).await.status,
        StatusCode::OK
    );
    c.finish(TEST).await;
}

/// Twelve fresh accounts on both nodes ask to add the victim's number; the victim's sign-in
/// code still goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_cannot_use_up_a_victims_budget_across_nodes() {
    const TEST: &str = "multinode::strangers_cannot_use_up_a_victims_budget_across_nodes";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    const PHONE: &str = "+819012345678";
    let victim = "victim-nodes@example.com";
    sms_only(&c, victim, PHONE, PHONE).await;

    for i in 0..12 {
        let node = c.node(i);
        let ip = format!("192.0.2.{}", 10 + i);
        let email = format!("stranger{i}@example.com");
        let r = node
            .post_from(
                &ip,
                "/api/v1/users",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = node
            .post_from(
                &ip,
                "/api/v1/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        let s = r.json["session_token"].as_str().unwrap().to_owned();
        let r = node
            .post_from(
                &ip,
                "/api/v1/me/sms/setup",
                Some(&s),
                json!({"password": PASSWORD, "phone": PHONE}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    let r = c.b.login(victim).await;
    assert!(r.json.get("code_not_sent").is_none(), "{}", r.text);
    assert_eq!(r.json["code_sent_to"], "+81 **-****-5678", "{}", r.text);
    let challenge = r.json["challenge_id"].as_str().unwrap().to_owned();
    let r =
        c.a.verify(&challenge, "sms", &last_code_to(&c.shared, PHONE))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    c.finish(TEST).await;
}

/// Wrong passwords on both nodes count against one account: after five even the right
/// password waits, on either node; twenty parallel guesses over both nodes get at most five
/// judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_are_limited_per_account_across_nodes() {
    const TEST: &str = "multinode::wrong_passwords_are_limited_per_account_across_nodes";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    for email in ["guessed-nodes@example.com", "raced-nodes@example.com"] {
        let r =
            c.a.post(
                "/api/v1/users",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let guess = |i: usize, email: &'static str, password: &'static str| {
        let node = c.node(i).clone();
        async move {
            node.post_from(
                &format!("192.0.2.{}", 100 + i),
                "/api/v1/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
        }
    };
    for i in 0..5 {
        let r = guess(i, "guessed-nodes@example.com", "wrong guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    for i in 5..7 {
        let r = guess(i, "guessed-nodes@example.com", PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    }
    c.shared.advance(30);
    let r = guess(7, "guessed-nodes@example.com", PASSWORD).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);

    let barrier = Arc::new(Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (barrier, attempt) = (
            barrier.clone(),
            guess(i, "raced-nodes@example.com", "wrong guess"),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            attempt.await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let judged = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(judged <= 5, "{judged} judged: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    c.finish(TEST).await;
}

/// The options of a sign-in's security-key step, asked of `node`.
async fn key_options(node: &Node, challenge: &str) -> crate::common::Response {
    let r = node
        .post(
            "/api/v1/login/webauthn/start",
            None,
            json!({"challenge_id": challenge}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r
}

/// Security keys across nodes on PostgreSQL: a key registered through one node signs in through
/// the other; the options one node made are answered on the other, once (a replay of the same
/// answer on the first node finds the challenge spent); answers from another origin, for another
/// rp id or by another account's key are refused; a counter that went back is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_security_key_answer_signs_in_once_across_two_nodes() {
    use crate::common::softkey::{Claim, SoftKey};
    const TEST: &str = "multinode::a_security_key_answer_signs_in_once_across_two_nodes";
    const ORIGIN: &str = "http://localhost:8080";
    let Some(c) = Cluster::start(TEST).await else {
        return;
    };
    let email = "key-nodes@example.com";
    let session = signed_up_on_a(&c, email).await;
    let r =
        c.a.post(
            "/api/v1/me/webauthn/register/start",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut key = SoftKey::default();
    let credential = key.create(&r.json["options"], Claim::at(ORIGIN));
    // The registration started on A finishes on B.
    let r =
        c.b.post(
            "/api/v1/me/webauthn/register/finish",
            Some(&session),
            json!({"name": "YubiKey", "credential": credential}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Options from B, answered on A; the same answer again on B is refused.
    let challenge = c.b.challenge(email).await;
    let r = key_options(&c.b, &challenge).await;
    let options = r.json["options"].clone();
    let answer = key.get(&options, Claim::at(ORIGIN));
    let body = json!({"challenge_id": challenge, "method": "webauthn", "credential": answer});
    let r = c.a.post("/api/v1/login/verify", None, body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = c.b.post("/api/v1/login/verify", None, body).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text);

    // Two nodes answering one set of options at once: one sign-in at most.
    let challenge = c.a.challenge(email).await;
    let r = key_options(&c.a, &challenge).await;
    let options = r.json["options"].clone();
    let first = key.get(&options, Claim::at(ORIGIN));
    let second = key.get(&options, Claim::at(ORIGIN));
    let body = |credential: &serde_json::Value| json!({"challenge_id": challenge, "method": "webauthn", "credential": credential});
    let (x, y) = tokio::join!(
        c.a.post("/api/v1/login/verify", None, body(&first)),
        c.b.post("/api/v1/login/verify", None, body(&second)),
    );
    let wins = [&x, &y]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(wins, 1, "{} / {}", x.text, y.text);

    // An answer made on another origin, or for another rp id, or by another account's key.
    let other = "other-key-nodes@example.com";
    let other_session = signed_up_on_a(&c, other).await;
    let r =
        c.b.post(
            "/api/v1/me/webauthn/register/start",
            Some(&other_session),
            json!({"password": PASSWORD}),
        )
        .await;
    let mut other_key = SoftKey::default();
    let made = other_key.create(&r.json["options"], Claim::at(ORIGIN));
    let r =
        c.a.post(
            "/api/v1/me/webauthn/register/finish",
            Some(&other_session),
            json!({"name": "Other", "credential": made}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for (i, answer_with) in ["origin", "rp id", "another account's key"]
        .into_iter()
        .enumerate()
    {
        let challenge = c.node(i).challenge(email).await;
        let options = key_options(c.node(i), &challenge).await.json["options"].clone();
        let bad = match answer_with {
            "origin" => key.get(&options, Claim::at("http://evil.example")),
            "rp id" => key.get(
                &options,
                Claim {
                    origin: ORIGIN,
                    rp_id: Some("evil.example"),
                },
            ),
            _ => other_key.get(&options, Claim::at(ORIGIN)),
        };
        let r = c
            .node(i + 1)
            .post(
                "/api/v1/login/verify",
                None,
                json!({"challenge_id": challenge, "method": "webauthn", "credential": bad}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{answer_with}: {}",
            r.text
        );
    }

    // A counter from before the last use, on the other node.
    key.credentials[0].counter = 1;
    let challenge = c.b.challenge(email).await;
    let r = key_options(&c.b, &challenge).await;
    let stale = key.get(&r.json["options"], Claim::at(ORIGIN));
    let r =
        c.a.post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": challenge, "method": "webauthn", "credential": stale}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    c.finish(TEST).await;
}
