//! Attacks from a security review, each driven as the reviewer drove it: an email code from
//! abroad standing in for the authenticator app, trust that outlived turning two-step on, a
//! stranger using up someone else's code budget, paid SMS pumped through scripted accounts, plain
//! cookies planted over https, passwords guessed across addresses, and invented HTTP methods in
//! metric labels.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use nidan_domain::Method as Factor;
use nidan_service::Policy;
use nidan_service::geo::RiskPolicy;
use nidan_web::WebOptions;
use serde_json::{Value, json};

use super::support::*;

const PHONE: &str = "+819012345678";
const PROXY: [u8; 4] = [10, 0, 0, 2];
const US: &str = "198.51.100.9";

async fn post_from(
    app: &TestApp,
    ip: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Response {
    app.call_from(ip, Method::POST, path, token, Some(body))
        .await
}

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    post_from(
        app,
        ip,
        "/api/v1/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// A fresh account signed in from `ip`; returns its session.
async fn stranger(app: &TestApp, ip: &str, email: &str) -> String {
    let r = post_from(
        app,
        ip,
        "/api/v1/users",
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = login_from(app, ip, email, PASSWORD).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    r.json["session_token"].as_str().unwrap().to_owned()
}

/// Home country JP behind a trusted proxy; `enabled` are the methods the operator offers.
async fn abroad_app(enabled: Vec<Factor>) -> TestApp {
    let policy = Policy {
        risk: RiskPolicy {
            home_countries: vec!["JP".into()],
            challenge_unknown: false,
        },
        enabled_methods: enabled,
        ..Policy::default()
    };
    let options = WebOptions {
        trusted_proxies: vec![IpAddr::from(PROXY).into()],
        ..WebOptions::default()
    };
    let app = TestApp::with(policy, options).await;
    let db = nidan_geo::testing::country_db(&[(Ipv4Addr::new(198, 51, 100, 0), 24, "US")]);
    let path = app.dir.path().join("country.mmdb");
    std::fs::write(&path, db).unwrap();
    let lookup = nidan_geo::CountryDb::open(&path).unwrap();
    let _ = app.service.clone().with_country_lookup(Arc::new(lookup));
    app
}

/// A JSON POST through the trusted proxy on behalf of `client`.
async fn via_proxy(app: &TestApp, client: &str, path: &str, body: Value) -> Response {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((PROXY, 40000))));
    app.send(req).await
}

/// An account with only an authenticator app signs in from abroad: it gets its own methods and
/// nothing else; an email code to the sign-in address is neither sent nor accepted, whether or
/// not the operator offers email codes.
#[tokio::test]
async fn an_email_code_from_abroad_does_not_replace_the_authenticator_app() {
    for enabled in [
        vec![Factor::Totp, Factor::Sms, Factor::Email],
        vec![Factor::Totp, Factor::Sms],
    ] {
        let app = abroad_app(enabled.clone()).await;
        let user = app.enrolled("app-only@example.com").await;
        let mails_before = app.outbox().len();
        let r = via_proxy(
            &app,
            US,
            "/api/v1/login",
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
        assert_eq!(
            r.json["methods"],
            json!(["totp", "recovery"]),
            "exactly the methods it has at home ({enabled:?})"
        );
        assert!(r.json.get("reason").is_none(), "{}", r.text);
        assert!(r.json.get("code_sent_to").is_none(), "{}", r.text);
        assert_eq!(app.outbox().len(), mails_before, "no code went out");
        let challenge = r.json["challenge_id"].as_str().unwrap().to_owned();

        let r = via_proxy(
            &app,
            US,
            "/api/v1/login/send-code",
            json!({"challenge_id": challenge, "method": "email"}),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.outbox().len(), mails_before, "no code went out");
        let r = via_proxy(
            &app,
            US,
            "/api/v1/login/verify",
            json!({"challenge_id": challenge, "method": "email", "code": "123456"}),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");

        let r = via_proxy(
            &app,
            US,
            "/api/v1/login/verify",
            json!({"challenge_id": challenge, "method": "totp", "code": app.code(&user.secret)}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "the app still works: {}", r.text);
    }
}

/// A session made with the password alone while two-step was off dies when two-step is turned
/// back on; the session that turned it on lives.
#[tokio::test]
async fn turning_two_step_back_on_ends_password_only_sessions() {
    let app = TestApp::new().await;
    let user = app.enrolled("backon@example.com").await;
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": app.code(&user.secret), "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.login(&user.email).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    let password_only = r.json["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/me", &password_only).await.status,
        StatusCode::OK
    );

    app.advance(30);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": app.code(&user.secret), "state": "on"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_error(
        &app.get("/api/v1/me", &password_only).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(
        app.get("/api/v1/me", &user.session).await.status,
        StatusCode::OK,
        "the session that turned it on lives"
    );
}

/// Twelve fresh accounts each ask to add the victim's number: the victim's own sign-in code
/// still goes out (each account has its own budget for a destination).
#[tokio::test]
async fn strangers_cannot_use_up_a_victims_sms_budget() {
    let app = TestApp::new().await;
    let _victim = sms_only(&app, "victim@example.com", PHONE).await;
    for i in 0..12 {
        let ip = format!("192.0.2.{}", 10 + i);
        let s = stranger(&app, &ip, &format!("stranger{i}@example.com")).await;
        let r = post_from(
            &app,
            &ip,
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    let r = app.login("victim@example.com").await;
    assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
    assert!(r.json.get("send_error").is_none(), "{}", r.text);
    assert_eq!(r.json["code_sent_to"], "+81 **-****-5678", "{}", r.text);
    let challenge = r.json["challenge_id"].as_str().unwrap();
    let r = app.verify(challenge, "sms", &app.last_code_to(PHONE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Scripted sign-ups from one address are capped (an IPv6 client by its /64), and so are
/// sign-in attempts per address.
#[tokio::test]
async fn scripted_sign_ups_and_sign_ins_from_one_address_are_capped() {
    let app = TestApp::with(
        Policy::default(),
        WebOptions {
            signup_per_ip_per_hour: 3,
            login_per_ip_per_minute: 3,
            ..WebOptions::default()
        },
    )
    .await;
    async fn sign_up(app: &TestApp, ip: &str, n: usize) -> Response {
        let email = format!("s{n}-{}@example.com", ip.replace([':', '.'], "-"));
        post_from(
            app,
            ip,
            "/api/v1/users",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }
    for (n, ip) in ["2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:ffff::3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(sign_up(&app, ip, n).await.status, StatusCode::CREATED);
    }
    let r = sign_up(&app, "2001:db8:5:6::9", 9).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        sign_up(&app, "2001:db8:5:7::1", 10).await.status,
        StatusCode::CREATED,
        "another /64 has its own budget"
    );

    for ip in ["2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:9::3"] {
        let r = login_from(&app, ip, "nobody@example.com", "wrong password, surely").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let r = login_from(&app, "2001:db8:9:9::4", "nobody2@example.com", "another").await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// Sends to numbers not yet confirmed are capped per account, per client address and overall;
/// a number of a country the operator does not serve is refused; the caps show in `/metrics`;
/// and a confirmed number's sign-in code still goes out when the overall cap is reached.
#[tokio::test]
async fn sms_pumping_to_unconfirmed_numbers_is_capped() {
    let mut policy = Policy::default();
    policy.codes.limits.per_account_per_15min = 50;
    policy.codes.limits.unconfirmed_per_account_per_day = 3;
    policy.codes.limits.unconfirmed_per_client_per_hour = 4;
    policy.codes.limits.unconfirmed_sms_per_hour = 7;
    policy.codes.sms_allowed_countries = vec![81];
    let app = TestApp::with_policy(policy).await;
    // One send to a number not yet confirmed (from 127.0.0.1).
    let _victim = sms_only(&app, "owner@example.com", PHONE).await;
    async fn setup(app: &TestApp, ip: &str, session: &str, n: u32) -> Response {
        let phone = format!("+8190{:08}", 10_000_000 + n);
        post_from(
            app,
            ip,
            "/api/v1/me/sms/setup",
            Some(session),
            json!({"password": PASSWORD, "phone": phone}),
        )
        .await
    }
    let a = "203.0.113.1";
    let one = stranger(&app, a, "one@example.com").await;
    for n in 0..3 {
        assert_eq!(setup(&app, a, &one, n).await.status, StatusCode::ACCEPTED);
    }
    let r = setup(&app, a, &one, 3).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let two = stranger(&app, a, "two@example.com").await;
    assert_eq!(setup(&app, a, &two, 10).await.status, StatusCode::ACCEPTED);
    let r = setup(&app, a, &two, 11).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Overall: 1 + 3 + 1 so far; two more from other addresses, then none.
    for (ip, email, n) in [
        ("203.0.113.2", "three@example.com", 20),
        ("203.0.113.3", "four@example.com", 30),
    ] {
        let s = stranger(&app, ip, email).await;
        assert_eq!(setup(&app, ip, &s, n).await.status, StatusCode::ACCEPTED);
    }
    let five = stranger(&app, "203.0.113.4", "five@example.com").await;
    let r = setup(&app, "203.0.113.4", &five, 40).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // A number of a country the operator does not serve.
    let r = post_from(
        &app,
        "203.0.113.4",
        "/api/v1/me/sms/setup",
        Some(&five),
        json!({"password": PASSWORD, "phone": "+442079460958"}),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(r.text.contains("+44"), "{}", r.text);

    // The owner's sign-in code to the confirmed number still goes out.
    let r = app.login("owner@example.com").await;
    assert_eq!(r.json["code_sent_to"], "+81 **-****-5678", "{}", r.text);

    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    for line in [
        "nidan_send_caps_hit_total{cap=\"unconfirmed_account\"} 1",
        "nidan_send_caps_hit_total{cap=\"unconfirmed_client\"} 1",
        "nidan_send_caps_hit_total{cap=\"unconfirmed_global\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// Over https only the `__Host-` cookies are read: a plain session cookie does not sign in,
/// and a plain CSRF cookie planted beside a matching form field does not pass.
#[tokio::test]
async fn plain_cookies_are_not_read_over_https() {
    let app = TestApp::with(
        Policy::default(),
        WebOptions {
            public_url: "https://nidan.example".into(),
            ..WebOptions::default()
        },
    )
    .await;
    let session = app.signed_up("cookie@example.com").await;
    async fn page(app: &TestApp, cookie: String) -> Response {
        let req = Request::builder()
            .uri("/settings/security")
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap();
        app.send(req).await
    }
    let plain = page(&app, format!("nidan_session={session}")).await;
    assert!(
        plain.status.is_redirection(),
        "a plain session cookie is not read: {}",
        plain.status
    );
    let prefixed = page(&app, format!("__Host-nidan_session={session}")).await;
    assert_eq!(prefixed.status, StatusCode::OK);

    async fn post(app: &TestApp, cookie: &str) -> Response {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/signup")
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(
                "csrf=planted&email=new%40example.com&password=correct+horse+battery+staple",
            ))
            .unwrap();
        app.send(req).await
    }
    assert_eq!(
        post(&app, "nidan_csrf=planted").await.status,
        StatusCode::FORBIDDEN,
        "a planted plain CSRF cookie is not read"
    );
    assert_ne!(
        post(&app, "__Host-nidan_csrf=planted").await.status,
        StatusCode::FORBIDDEN
    );
}

/// Wrong passwords from many addresses count against one account: after five, even the right
/// password waits (and an unknown email answers exactly the same); after the wait it works and
/// the count starts again.
#[tokio::test]
async fn wrong_passwords_are_limited_per_account_across_addresses() {
    let app = Arc::new(TestApp::new().await);
    let _ = app.signed_up("guessed@example.com").await;
    for email in ["guessed@example.com", "nobody@example.com"] {
        for i in 0..5 {
            let r = login_from(&app, &format!("192.0.2.{}", 50 + i), email, "wrong guess").await;
            assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
        }
        let r = login_from(&app, "192.0.2.99", email, PASSWORD).await;
        assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert_eq!(r.headers["retry-after"], "30", "{email}");
    }
    app.advance(30);
    let r = login_from(&app, "192.0.2.99", "guessed@example.com", PASSWORD).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    for _ in 0..5 {
        let r = login_from(&app, "192.0.2.98", "guessed@example.com", "wrong guess").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }

    // Parallel guesses get no more judged passwords than the schedule allows.
    let _ = app.signed_up("raced@example.com").await;
    let answers = at_once(20, |i| {
        let app = app.clone();
        async move {
            login_from(
                &app,
                &format!("198.51.100.{}", i + 1),
                "raced@example.com",
                "wrong guess",
            )
            .await
        }
    })
    .await;
    assert_no_5xx(&answers);
    let judged = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    assert!(judged <= 5, "{judged} passwords judged");
    assert!(answers.iter().all(|r| matches!(
        r.status,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    )));
}

/// At 100 (here: 4) wrong passwords the password sign-in is locked, but the owner on a
/// remembered device still signs in.
#[tokio::test]
async fn a_remembered_device_still_signs_in_when_the_password_is_locked() {
    let mut policy = Policy::default();
    policy.throttle.free_failures = 2;
    policy.throttle.base_delay_secs = 30;
    policy.throttle.max_delay_secs = 60;
    policy.throttle.lock_at = 4;
    let app = TestApp::with_policy(policy).await;
    let user = app.enrolled("locked@example.com").await;
    let device = app.remembered_device(&user).await;

    for wait in [0, 0, 30, 60] {
        app.advance(wait);
        let r = login_from(&app, "192.0.2.7", &user.email, "wrong guess").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    app.advance(3600);
    let r = login_from(&app, "192.0.2.8", &user.email, PASSWORD).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let r = post_from(
        &app,
        "192.0.2.9",
        "/api/v1/login",
        None,
        json!({"email": user.email, "password": PASSWORD, "device_token": device}),
    )
    .await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    // The owner's right password cleared the count.
    let r = login_from(&app, "192.0.2.8", &user.email, PASSWORD).await;
    assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
}

/// A method a client invents is counted as `other`, never as a label of its own.
#[tokio::test]
async fn invented_http_methods_do_not_become_metric_labels() {
    let app = TestApp::new().await;
    for m in ["FOOBAR", "BREW", "PROPFIND"] {
        let req = Request::builder()
            .method(Method::from_bytes(m.as_bytes()).unwrap())
            .uri("/healthz")
            .body(Body::empty())
            .unwrap();
        let _ = app.send(req).await;
    }
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    for m in ["FOOBAR", "BREW", "PROPFIND"] {
        assert!(!metrics.contains(m), "{m} in {metrics}");
    }
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}
