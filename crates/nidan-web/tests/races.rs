//! Races: many requests submit the same one-time code at once; exactly one may win.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

async fn race(
    app: Arc<TestApp>,
    email: &str,
    method: &'static str,
    code: String,
    n: usize,
) -> (usize, Vec<StatusCode>) {
    let mut challenges = Vec::new();
    for _ in 0..n {
        challenges.push(app.challenge(email).await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for c in challenges {
        let (app, code, barrier) = (app.clone(), code.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.verify(&c, method, &code).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    (
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        statuses,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_submissions_of_one_totp_code_sign_in_exactly_once() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("race-totp@example.com").await;
    let code = app.code(&user.secret);
    let (wins, statuses) = race(app.clone(), &user.email, "totp", code, 50).await;
    assert_eq!(wins, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK
            || *s == StatusCode::UNAUTHORIZED
            || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_submissions_of_one_recovery_code_sign_in_exactly_once() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("race-recovery@example.com").await;
    let (wins, statuses) = race(
        app.clone(),
        &user.email,
        "recovery",
        user.recovery_codes[2].clone(),
        50,
    )
    .await;
    assert_eq!(wins, 1, "{statuses:?}");
    let left = app.get("/api/v1/me/recovery-codes", &user.session).await;
    assert_eq!(left.json, json!({"remaining": 7}), "exactly one code used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_app_verifications_of_one_code_succeed_once() {
    let app = Arc::new(TestApp::new().await);
    let user = app.enrolled("race-app@example.com").await;
    let (_, key) = app
        .service
        .create_api_key("race", &["verify"])
        .await
        .unwrap();
    let key = key.expose().to_owned();
    let code = app.code(&user.secret);
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, key, code, barrier, email) = (
            app.clone(),
            key.clone(),
            code.clone(),
            barrier.clone(),
            user.email.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.post(
                "/api/v1/verify",
                Some(&key),
                json!({"user": email, "code": code}),
            )
            .await
            .json["valid"]
                == true
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}
