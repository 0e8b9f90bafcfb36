//! The security rules of nidan core, each tested through the real router: guessing limits,
//! enumeration, hostile input, and secrets at rest.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use nidan_domain::ThrottlePolicy;
use nidan_service::Policy;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp, failures, wrong_code};

#[tokio::test]
async fn a_challenge_dies_after_five_wrong_codes() {
    let app = TestApp::new().await;
    let user = app.enrolled("t04@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let wrong = wrong_code(&app, &user.secret);
    for left in (0..5).rev() {
        let r = app.verify(&challenge, "totp", &wrong).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert_eq!(r.json["error"]["attempts_left"], left);
        // Stay below the account throttle: it is tested on its own.
        app.advance(0);
    }
    let r = app
        .verify(&challenge, "totp", &app.code(&user.secret))
        .await;
    assert_eq!(
        r.status,
        StatusCode::GONE,
        "the right code after five wrong ones: {}",
        r.text
    );
    assert_eq!(
        failures(&app, &user.email).await,
        5,
        "the dead challenge evaluated nothing more"
    );
}

#[tokio::test]
async fn failures_count_across_challenges_with_a_doubling_delay_and_success_resets_them() {
    let app = TestApp::new().await;
    let user = app.enrolled("t05@example.com").await;
    let wrong = wrong_code(&app, &user.secret);
    for i in 0..5 {
        // A fresh challenge every time: re-login must not reset anything.
        let c = app.challenge(&user.email).await;
        let r = app.verify(&c, "totp", &wrong).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "failure {i}: {}",
            r.text
        );
    }
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.headers["retry-after"], "30");
    assert_eq!(r.json["error"]["code"], "rate_limited");
    assert_eq!(r.json["error"]["retry_after"], 30);
    // The app API is throttled by the same count.
    let (_, key) = app
        .service
        .create_api_key("t05", &["verify"])
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": user.email, "code": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    app.advance(30);
    let wrong = wrong_code(&app, &user.secret);
    let r = app
        .post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": user.email, "code": wrong}),
        )
        .await;
    assert_eq!(r.json["valid"], false, "{}", r.text);
    let r = app.verify(&c, "totp", &wrong).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "60", "the delay doubles");

    app.advance(60);
    let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        failures(&app, &user.email).await,
        0,
        "a success resets the count"
    );
}

#[tokio::test]
async fn a_hundred_consecutive_failures_lock_the_second_factor_until_a_recovery_code() {
    let policy = Policy {
        throttle: ThrottlePolicy {
            free_failures: 5,
            base_delay_secs: 1,
            max_delay_secs: 2,
            lock_at: 100,
        },
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    let user = app.enrolled("lock@example.com").await;
    let (_, key) = app
        .service
        .create_api_key("lock", &["verify"])
        .await
        .unwrap();
    let mut evaluated = 0;
    for _ in 0..150 {
        app.advance(3);
        let wrong = wrong_code(&app, &user.secret);
        let r = app
            .post(
                "/api/v1/verify",
                Some(key.expose()),
                json!({"user": user.email, "code": wrong}),
            )
            .await;
        match r.status {
            StatusCode::OK => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.json["error"]["locked"], true, "{}", r.text);
                break;
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert_eq!(
        evaluated, 100,
        "exactly 100 guesses evaluated before the lock"
    );
    app.advance(3);
    let r = app
        .post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": user.email, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right code is refused while locked"
    );
    assert_eq!(r.json["error"]["locked"], true);
    let c = app.challenge(&user.email).await;
    assert_eq!(
        app.verify(&c, "totp", &app.code(&user.secret)).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "sign-in too"
    );
    let r = app.verify(&c, "recovery", &user.recovery_codes[0]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a recovery code unlocks: {}",
        r.text
    );
    app.advance(30);
    let c = app.challenge(&user.email).await;
    assert_eq!(
        app.verify(&c, "totp", &app.code(&user.secret)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_emails_and_wrong_passwords_get_the_same_answer_and_take_as_long() {
    let app = TestApp::new().await;
    let _ = app.enrolled("known@example.com").await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let a = app.post("/api/v1/login", None, json!({"email": format!("nobody{i}@example.com"), "password": "some password here"})).await;
        unknown.push(t.elapsed());
        let t = Instant::now();
        let b = app
            .post(
                "/api/v1/login",
                None,
                json!({"email": "known@example.com", "password": "some password here"}),
            )
            .await;
        wrong.push(t.elapsed());
        assert_eq!(
            (a.status, b.status),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        bodies.push((a.text, b.text));
    }
    for (a, b) in &bodies {
        assert_eq!(a, b, "identical bodies");
    }
    unknown.sort();
    wrong.sort();
    let (mu, mw) = (unknown[2].as_secs_f64(), wrong[2].as_secs_f64());
    assert!(
        mu > 0.5 * mw && mw > 0.5 * mu,
        "medians: unknown {mu:.4}s, wrong password {mw:.4}s"
    );
    // An email that is not an email at all gets the same answer too.
    let r = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": "not an email", "password": "some password here"}),
        )
        .await;
    assert_eq!(r.text, bodies[0].0);
}

async fn raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    token: Option<&str>,
) -> Response {
    let mut req = Request::builder().method(Method::POST).uri(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body)).unwrap()).await
}

#[tokio::test]
async fn hostile_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::new().await;
    let user = app.enrolled("t25@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let (_, key) = app
        .service
        .create_api_key("t25", &["verify"])
        .await
        .unwrap();

    let big = vec![b' '; 70 * 1024];
    let r = raw(&app, "/api/v1/login", Some("application/json"), big, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json["error"]["code"], "payload_too_large");
    let r = raw(&app, "/api/v1/login", None, b"{}".to_vec(), None).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = raw(
        &app,
        "/api/v1/login",
        Some("application/json"),
        b"{\"email\": ".to_vec(),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"]["code"], "invalid_request");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = raw(
        &app,
        "/api/v1/login",
        Some("application/json"),
        deep.into_bytes(),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let code = app.code(&user.secret);
    let hostile: Vec<Value> = vec![
        json!(123456),
        json!(code.parse::<u64>().unwrap()),
        json!([code.clone(), "000000"]),
        json!({"$ne": null}),
        Value::Null,
        json!(true),
        json!(format!("{code}\u{0}")),
        json!("١٢٣٤٥٦"),
        json!("१२३४५६"),
        json!("¹²³⁴⁵⁶"),
        json!("12345"),
        json!("1234567"),
        json!("1".repeat(1000)),
        json!("+12345"),
        json!("12e345"),
        json!("' OR '1'='1"),
        json!("%%%%%%"),
        json!("______"),
    ];
    for code_value in &hostile {
        let r = app
            .post(
                "/api/v1/login/verify",
                None,
                json!({"challenge_id": challenge, "method": "totp", "code": code_value}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "code {code_value}: {}",
            r.text
        );
        assert_eq!(r.json["error"]["code"], "invalid_request");
        let r = app
            .post(
                "/api/v1/verify",
                Some(key.expose()),
                json!({"user": user.email, "code": code_value}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "verify {code_value}: {}",
            r.text
        );
    }
    let r = app.post("/api/v1/login/verify", None, json!({"challenge_id": challenge, "method": "totp", "code": code, "user": "someone@else"})).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let r = app
        .post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": challenge, "method": "sms-ish", "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        failures(&app, &user.email).await,
        0,
        "junk is not a counted guess"
    );
    let r = app
        .verify(
            &challenge,
            "totp",
            &format!("{}-{}", &code[..3], &code[3..]),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the challenge is intact and takes the code with a hyphen: {}",
        r.text
    );

    let r = app.call(Method::GET, "/no/such/path", None, None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let r = app.call(Method::PUT, "/api/v1/login", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn protected_calls_refuse_challenges_ended_sessions_and_api_keys() {
    let app = TestApp::new().await;
    let user = app.enrolled("t01@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let (_, key) = app
        .service
        .create_api_key("t01", &["verify"])
        .await
        .unwrap();
    let r = app
        .call(Method::POST, "/api/v1/logout", Some(&user.session), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for token in [
        challenge.as_str(),
        key.expose(),
        user.session.as_str(),
        "",
        "nds_forged",
    ] {
        for (m, p) in [
            (Method::GET, "/api/v1/me"),
            (Method::GET, "/api/v1/me/sessions"),
            (Method::GET, "/api/v1/me/devices"),
            (Method::GET, "/api/v1/me/activity"),
            (Method::GET, "/api/v1/me/recovery-codes"),
        ] {
            let r = app.call(m, p, Some(token), None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{p} with {token:.8}");
            assert_eq!(r.json["error"]["code"], "unauthenticated");
        }
        let r = app
            .post(
                "/api/v1/me/two-step",
                Some(token),
                json!({"password": PASSWORD, "code": "123456", "state": "off"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_database_dump_holds_no_secret_in_plain_text() {
    let app = TestApp::new().await;
    let user = app.enrolled("dump@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let r = app.post("/api/v1/login/verify", None, json!({"challenge_id": challenge, "method": "totp", "code": app.code(&user.secret), "remember_device": true})).await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let device = r.json["device_token"].as_str().unwrap().to_owned();
    let (_, key) = app
        .service
        .create_api_key("dump", &["verify"])
        .await
        .unwrap();
    app.advance(30);
    let recreated = app
        .post(
            "/api/v1/me/recovery-codes",
            Some(&session),
            json!({"password": PASSWORD, "code": app.code(&user.secret)}),
        )
        .await;
    let new_codes: Vec<String> = recreated.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    let mut needles: Vec<Vec<u8>> = vec![
        PASSWORD.as_bytes().to_vec(),
        user.secret.as_bytes().to_vec(),
        user.secret.to_base32().into_bytes(),
        user.secret.to_base32().to_lowercase().into_bytes(),
        user.secret
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
        session.clone().into_bytes(),
        user.session.clone().into_bytes(),
        device.into_bytes(),
        challenge.into_bytes(),
        key.expose().as_bytes().to_vec(),
    ];
    for c in user.recovery_codes.iter().chain(&new_codes) {
        needles.push(c.clone().into_bytes());
        needles.push(c.to_uppercase().replace('-', "").into_bytes());
        needles.push(c.replace('-', "").into_bytes());
    }
    let mut haystack = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            haystack.extend(bytes);
        }
    }
    assert!(haystack.len() > 10_000, "the database was read");
    let text = String::from_utf8_lossy(&haystack);
    assert!(
        text.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "passwords are Argon2id with OWASP parameters"
    );
    for needle in &needles {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_slice()),
            "found a secret in the database: {}",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test]
async fn secret_types_print_nothing_useful_in_debug() {
    let secret = nidan_domain::TotpSecret::from_random([0xAB; 20]);
    let token = nidan_domain::BearerToken::from_random("nds_", &[0xCD; 32]);
    let code = nidan_domain::RecoveryCode::from_random(&[3; 10]);
    for (debug, value) in [
        (format!("{secret:?}"), secret.to_base32()),
        (format!("{token:?}"), token.expose().to_owned()),
        (format!("{code:?}"), code.canonical().to_owned()),
    ] {
        assert!(!debug.contains(&value), "{debug}");
    }
}
