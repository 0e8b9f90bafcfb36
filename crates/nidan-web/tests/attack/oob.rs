//! Attacks on codes sent by email and SMS: guessing within a challenge and across challenges,
//! replaying a code on another challenge or another user, racing one code, and flooding sends
//! (SMS pumping, mail bombing).

use axum::http::StatusCode;
use serde_json::json;

use super::support::*;

const PHONE: &str = "+819012345678";

/// A 6-digit code other than `right`.
fn not(right: &str) -> String {
    if right == "000000" {
        "000001".into()
    } else {
        "000000".into()
    }
}

/// T04/T10 — five wrong SMS codes kill the challenge; the right one after them is not evaluated.
#[tokio::test]
async fn guessing_an_sms_code_within_one_challenge_stops_after_five() {
    let app = TestApp::new().await;
    sms_only(&app, "g1@example.com", PHONE).await;
    let login = app.login("g1@example.com").await;
    let challenge = login.json["challenge_id"].as_str().unwrap().to_owned();
    let right = app.last_code_to(PHONE);
    for _ in 0..5 {
        assert_error(
            &app.verify(&challenge, "sms", &not(&right)).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        );
    }
    let before = Snapshot::take(&app).await;
    let r = app.verify(&challenge, "sms", &right).await;
    assert_error(&r, StatusCode::GONE, "challenge_expired");
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "the right code on a dead challenge",
    );
}

/// T05/T10 — wrong email codes count against the same account throttle across fresh challenges.
#[tokio::test]
async fn guessing_email_codes_across_fresh_challenges_hits_the_account_throttle() {
    let app = TestApp::new().await;
    let s = app.signed_up("g2@example.com").await;
    let _ = app
        .post(
            "/api/v1/me/email/setup",
            Some(&s),
            json!({"password": PASSWORD, "email": "g2-codes@example.net"}),
        )
        .await;
    let code = app.last_code_to("g2-codes@example.net");
    assert_eq!(
        app.post("/api/v1/me/email/confirm", Some(&s), json!({"code": code}))
            .await
            .status,
        StatusCode::OK
    );
    // Spaced so the sends stay within 5 per 15 minutes; each challenge gets one wrong code.
    let mut last = (String::new(), String::new());
    for i in 0..5 {
        app.advance(181);
        let login = app.login("g2@example.com").await;
        let challenge = login.json["challenge_id"].as_str().unwrap().to_owned();
        let right = app.last_code_to("g2-codes@example.net");
        let r = app.verify(&challenge, "email", &not(&right)).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
        assert_eq!(failures(&app, "g2@example.com").await, i + 1);
        last = (challenge, right);
    }
    // Right after the fifth failure even the right code waits: the throttle is per account.
    let before = Snapshot::take(&app).await;
    let r = app.verify(&last.0, "email", &last.1).await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "a throttled email code",
    );
}

/// T10 — a code sent for one challenge is refused on another challenge and for another user.
#[tokio::test]
async fn replaying_an_sms_code_on_another_challenge_or_user_is_refused() {
    let app = TestApp::new().await;
    sms_only(&app, "a@example.com", PHONE).await;
    sms_only(&app, "b@example.com", "+819087654321").await;
    let first = app.login("a@example.com").await.json["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code_for_first = app.last_code_to(PHONE);
    app.advance(61);
    let second = app.login("a@example.com").await.json["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_user = app.login("b@example.com").await.json["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code_for_second = app.last_code_to(PHONE);
    if code_for_first != code_for_second {
        assert_error(
            &app.verify(&second, "sms", &code_for_first).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        );
    }
    let code_for_b = app.last_code_to("+819087654321");
    if code_for_b != code_for_second {
        assert_error(
            &app.verify(&other_user, "sms", &code_for_second).await,
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        );
    }
    assert_eq!(
        app.verify(&first, "sms", &code_for_first).await.status,
        StatusCode::OK,
        "its own challenge takes it"
    );
    assert_error(
        &app.verify(&second, "sms", &code_for_first).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
}

/// T08/T10 — twenty submissions of one SMS code on its challenge at once: one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_one_sms_code_signs_in_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    sms_only(&app, "race@example.com", PHONE).await;
    let challenge = app.login("race@example.com").await.json["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.last_code_to(PHONE);
    let answers = at_once(20, |_| {
        let (app, challenge, code) = (app.clone(), challenge.clone(), code.clone());
        async move { app.verify(&challenge, "sms", &code).await }
    })
    .await;
    assert_no_5xx(&answers);
    assert_eq!(
        answers
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count(),
        1
    );
}

/// T15 — twenty confirms of one SMS enrolment code at once turn it on once, with one set of
/// recovery codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_confirms_of_one_sms_enrolment_turns_it_on_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let s = app.signed_up("confirm-race@example.com").await;
    let _ = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
    let code = app.last_code_to(PHONE);
    let answers = at_once(20, |_| {
        let (app, s, code) = (app.clone(), s.clone(), code.clone());
        async move {
            app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": code}))
                .await
        }
    })
    .await;
    assert_no_5xx(&answers);
    let with_codes = answers
        .iter()
        .filter(|r| r.json["recovery_codes"].is_array())
        .count();
    assert_eq!(
        with_codes,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(
        app.get("/api/v1/me/recovery-codes", &s).await.json["remaining"],
        8
    );
}

/// T11 — asking for codes again and again sends no more than the limits allow, and the outbox
/// holds exactly the accepted sends.
#[tokio::test]
async fn flooding_send_code_sends_no_more_than_the_limits() {
    let app = TestApp::new().await;
    let user = app.enrolled("flood@example.com").await;
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "phone": PHONE, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = app.last_code_to(PHONE);
    assert_eq!(
        app.post(
            "/api/v1/me/sms/confirm",
            Some(&user.session),
            json!({"code": code})
        )
        .await
        .status,
        StatusCode::OK
    );
    let sent_before = app.outbox().iter().filter(|m| m["to"] == PHONE).count();

    let challenge = app.challenge(&user.email).await;
    let mut accepted = 0;
    for _ in 0..20 {
        let r = app
            .post(
                "/api/v1/login/send-code",
                None,
                json!({"challenge_id": challenge, "method": "sms"}),
            )
            .await;
        match r.status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => assert!(r.headers.contains_key("retry-after")),
            s => panic!("{s}: {}", r.text),
        }
        app.advance(20);
    }
    // 20 asks over ~6.5 minutes: one every 60 s at most, and 5 per account per 15 minutes in all
    // (the enrolment code counts too).
    assert!(accepted <= 4, "{accepted} sends accepted");
    let sent = app.outbox().iter().filter(|m| m["to"] == PHONE).count() - sent_before;
    assert_eq!(
        sent, accepted,
        "the outbox holds exactly the accepted sends"
    );
}
