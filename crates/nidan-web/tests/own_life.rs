//! The account's own life through the real router: change the password, reset a forgotten one,
//! change the sign-in email, delete the account.

use axum::http::{Method, StatusCode};
use nidan_service::Policy;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp, reset_token_to, wrong_code};

const NEW_PASSWORD: &str = "seven purple kites over a quiet harbour";

/// The bodies of every message to `to` after the notice queue ran.
async fn notices_to(app: &TestApp, to: &str) -> Vec<String> {
    app.service.deliver_notices(100).await;
    app.outbox()
        .iter()
        .filter(|m| m["to"] == to)
        .map(|m| format!("{} {}", m["subject"], m["body"]))
        .collect()
}

/// Signs in with the new password and the remembered `device`: the answer must ask for the
/// second step (`why` says why it must).
async fn second_step_asked(app: &TestApp, email: &str, device: &str, why: &str) -> Response {
    let r = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": email, "password": NEW_PASSWORD, "device_token": device}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "second_factor_required", "{why}");
    r
}

async fn login_with(app: &TestApp, email: &str, password: &str) -> Response {
    app.post(
        "/api/v1/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test]
async fn changing_the_password_needs_step_up_and_ends_every_other_session_and_device() {
    let app = TestApp::new().await;
    let user = app.enrolled("change@example.com").await;
    let device = app.remembered_device(&user).await;
    app.advance(30);
    let c = app.challenge(&user.email).await;
    let other = app.verify(&c, "totp", &app.code(&user.secret)).await;
    let other = other.json["session_token"].as_str().unwrap().to_owned();
    app.advance(30);

    let change = |current: &str, new: &str, code: Option<String>| {
        let mut body = json!({"current_password": current, "new_password": new});
        if let Some(c) = code {
            body["code"] = Value::from(c);
        }
        body
    };
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&user.session),
            change(PASSWORD, NEW_PASSWORD, None),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "reauth_required");
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&user.session),
            change(
                "not my password at all",
                NEW_PASSWORD,
                Some(app.code(&user.secret)),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&user.session),
            change(PASSWORD, "password1password1", Some(app.code(&user.secret))),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "weak_password");
    assert!(r.json["error"]["reason"].is_string(), "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&user.session),
            change(PASSWORD, NEW_PASSWORD, Some(wrong_code(&app, &user.secret))),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/password",
            Some(&user.session),
            change(PASSWORD, NEW_PASSWORD, Some(app.code(&user.secret))),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    assert_eq!(
        app.get("/api/v1/me", &user.session).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/me", &other).await.status,
        StatusCode::UNAUTHORIZED,
        "another session ends with the password change"
    );
    assert_eq!(
        login_with(&app, &user.email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    second_step_asked(
        &app,
        &user.email,
        &device,
        "the remembered device was forgotten with the change",
    )
    .await;
    let notices = notices_to(&app, &user.email).await;
    assert!(
        notices.iter().any(|n| n.contains("password was changed")),
        "{notices:?}"
    );
}

#[tokio::test]
async fn a_reset_answers_alike_for_every_address_and_never_skips_the_second_step() {
    let app = TestApp::new().await;
    let user = app.enrolled("forgot@example.com").await;
    let device = app.remembered_device(&user).await;

    let known = app
        .post("/api/v1/password-reset", None, json!({"email": user.email}))
        .await;
    let unknown = app
        .post(
            "/api/v1/password-reset",
            None,
            json!({"email": "nobody-here@example.com"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.text, known.text, "the same body for both addresses");
    let token = reset_token_to(&app, &user.email)
        .await
        .expect("a reset link went to the account's address");
    assert!(token.starts_with("ndr_"), "{token}");
    assert!(
        reset_token_to(&app, "nobody-here@example.com")
            .await
            .is_none(),
        "nothing goes to an address without an account"
    );
    let bad = app
        .post(
            "/api/v1/password-reset",
            None,
            json!({"email": "not an address"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);

    let r = app
        .post(
            "/api/v1/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "12345678"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "weak_password");
    assert_eq!(r.json["error"]["reason"], "too_short");
    let r = app
        .post(
            "/api/v1/password-reset/confirm",
            None,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(
        r.json.get("session_token").is_none(),
        "a reset does not sign in"
    );

    assert_eq!(
        app.get("/api/v1/me", &user.session).await.status,
        StatusCode::UNAUTHORIZED,
        "every session ends with a reset"
    );
    let r = second_step_asked(
        &app,
        &user.email,
        &device,
        "the new password still needs the second step, even with the remembered device",
    )
    .await;
    let c = r.json["challenge_id"].as_str().unwrap().to_owned();
    app.advance(30);
    let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let again = app
        .post(
            "/api/v1/password-reset/confirm",
            None,
            json!({"token": token, "new_password": "another long passphrase of mine"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.text);
    assert_eq!(again.json["error"]["code"], "challenge_expired");
    let notices = notices_to(&app, &user.email).await;
    assert!(
        notices.iter().any(|n| n.contains("password was reset")),
        "{notices:?}"
    );
}

#[tokio::test]
async fn a_reset_link_expires_after_30_minutes_and_dies_with_its_account() {
    let app = TestApp::new().await;
    app.signed_up("expiring@example.com").await;
    app.post(
        "/api/v1/password-reset",
        None,
        json!({"email": "expiring@example.com"}),
    )
    .await;
    let token = reset_token_to(&app, "expiring@example.com").await.unwrap();
    app.advance(30 * 60);
    let r = app
        .post(
            "/api/v1/password-reset/confirm",
            None,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);

    // Three links an hour per account: a fourth request goes out silently unanswered.
    app.advance(3600);
    for _ in 0..4 {
        let r = app
            .post(
                "/api/v1/password-reset",
                None,
                json!({"email": "expiring@example.com"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let links = app
        .outbox()
        .iter()
        .filter(|m| m["body"].as_str().unwrap_or("").contains("token="))
        .count();
    assert_eq!(
        links, 4,
        "the first link and three more within the next hour"
    );

    let token = reset_token_to(&app, "expiring@example.com").await.unwrap();
    let session = login_with(&app, "expiring@example.com", PASSWORD)
        .await
        .json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me",
            Some(&session),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app
        .post(
            "/api/v1/password-reset/confirm",
            None,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::GONE,
        "a link of a deleted account: {}",
        r.text
    );
}

#[tokio::test]
async fn with_the_minimum_at_8_common_passwords_are_refused_with_a_reason() {
    let policy = Policy {
        password_min_chars: 8,
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    for (i, weak) in ["password1", "12345678", "qwerty123"].iter().enumerate() {
        let r = app
            .post(
                "/api/v1/users",
                None,
                json!({"email": format!("weak{i}@example.com"), "password": weak}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{weak}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "weak_password", "{weak}");
        assert_eq!(r.json["error"]["reason"], "common", "{weak}");
    }
    let r = app
        .post(
            "/api/v1/users",
            None,
            json!({"email": "fine@example.com", "password": "kite harbour 93"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            "/api/v1/users",
            None,
            json!({"email": "mine@example.com", "password": "mine.example.com1"}),
        )
        .await;
    assert_eq!(r.json["error"]["reason"], "personal", "{}", r.text);
}

#[tokio::test]
async fn the_sign_in_email_changes_only_with_a_code_from_the_new_address() {
    let app = TestApp::new().await;
    let session = app.signed_up("old@example.com").await;
    let other = app.signed_up("taken@example.com").await;
    drop(other);

    let r = app
        .post(
            "/api/v1/me/sign-in-email",
            Some(&session),
            json!({"password": PASSWORD, "email": "taken@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/sign-in-email",
            Some(&session),
            json!({"password": "wrong wrong wrong wrong", "email": "new@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/sign-in-email",
            Some(&session),
            json!({"password": PASSWORD, "email": "new@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["sent_to"], "n***@example.com");
    let code = app.last_code_to("new@example.com");
    assert_eq!(
        app.get("/api/v1/me", &session).await.json["email"],
        "old@example.com",
        "nothing changes before the code is confirmed"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .post(
            "/api/v1/me/sign-in-email/confirm",
            Some(&session),
            json!({"code": wrong}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/sign-in-email/confirm",
            Some(&session),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["email"], "new@example.com");
    assert_eq!(
        login_with(&app, "old@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_with(&app, "new@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let old = notices_to(&app, "old@example.com").await;
    assert!(
        old.iter()
            .any(|n| n.contains("sign-in email was changed") && n.contains("n***@example.com")),
        "the old address is told: {old:?}"
    );
}

#[tokio::test]
async fn with_separate_addresses_the_code_address_cannot_become_the_sign_in_email() {
    let mut policy = Policy::default();
    policy.codes.email_separate_address = true;
    let app = TestApp::with_policy(policy).await;
    let session = app.signed_up("main@example.com").await;
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&session),
            json!({"password": PASSWORD, "email": "codes@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to("codes@example.com");
    let r = app
        .post(
            "/api/v1/me/email/confirm",
            Some(&session),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.advance(61);
    let r = app
        .post(
            "/api/v1/me/send-code",
            Some(&session),
            json!({"method": "email"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let step_up = app.last_code_to("codes@example.com");
    let r = app
        .post(
            "/api/v1/me/sign-in-email",
            Some(&session),
            json!({"password": PASSWORD, "code": step_up, "email": "codes@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.text.contains("other than the one you sign in with"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn deleting_the_account_needs_step_up_removes_it_and_sends_a_last_notice() {
    let app = TestApp::new().await;
    let user = app.enrolled("leaving@example.com").await;
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me",
            Some(&user.session),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a code is needed: {}",
        r.text
    );
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me",
            Some(&user.session),
            Some(json!({"password": PASSWORD, "code": user.recovery_codes[0]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/me", &user.session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_with(&app, &user.email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        app.service.admin_show_user(&user.email).await.is_err(),
        "support finds no such account"
    );
    let notices = notices_to(&app, &user.email).await;
    assert!(
        notices.iter().any(|n| n.contains("account was deleted")),
        "{notices:?}"
    );
    // The address is free again: a new account starts from nothing.
    let again = app.signed_up(&user.email).await;
    let me = app.get("/api/v1/me", &again).await;
    assert_eq!(me.json["two_step"]["state"], "none", "{}", me.text);
}

#[tokio::test]
async fn off_for_a_day_turns_back_on_by_itself_at_its_time() {
    let app = TestApp::new().await;
    let user = app.enrolled("away@example.com").await;
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": app.code(&user.secret), "state": "off", "off_for_days": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "off");
    let until = r.json["off_until"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/me", &user.session).await;
    assert_eq!(me.json["two_step"]["state"], "off");
    assert_eq!(me.json["two_step"]["off_until"], until.as_str());
    // While off, the password alone signs in.
    let r = login_with(&app, &user.email, PASSWORD).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    let password_only = r.json["session_token"].as_str().unwrap().to_owned();

    app.advance(86_400 - 60);
    assert_eq!(app.service.two_step_back_on_when_due().await, 0, "not yet");
    app.advance(60);
    assert_eq!(app.service.two_step_back_on_when_due().await, 1);
    assert_eq!(app.service.two_step_back_on_when_due().await, 0, "once");
    assert_eq!(
        app.get("/api/v1/me", &password_only).await.status,
        StatusCode::UNAUTHORIZED,
        "a session made with the password alone ends when two-step is back on"
    );
    let c = app.challenge(&user.email).await;
    app.advance(30);
    let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let notices = notices_to(&app, &user.email).await;
    assert!(
        notices
            .iter()
            .any(|n| n.contains("turns back on by itself")),
        "{notices:?}"
    );
    assert!(
        notices.iter().any(|n| n.contains("is on again")),
        "{notices:?}"
    );

    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&session),
            json!({"password": PASSWORD, "code": "000000", "state": "off", "off_for_days": 91}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn support_turns_two_step_off_for_a_week_and_disabling_ends_sessions() {
    let app = TestApp::new().await;
    let user = app.enrolled("helped@example.com").await;
    let until = app
        .service
        .admin_two_step_off(&user.email, "lost phone, identity checked", "agent", None)
        .await
        .unwrap();
    assert_eq!(until, app.now() + 7 * 86_400, "a week by default");
    let r = login_with(&app, &user.email, PASSWORD).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert_eq!(overview.user.two_step_off_until, Some(until));
    assert_eq!(overview.methods.len(), 1, "methods are kept");
    app.advance(7 * 86_400);
    assert_eq!(app.service.two_step_back_on_when_due().await, 1);
    let r = login_with(&app, &user.email, PASSWORD).await;
    assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
    let history = app.service.admin_activity(&user.email, 50).await.unwrap();
    assert!(
        history.iter().any(|e| e.kind == "support_two_step_off"
            && e.detail
                .as_deref()
                .unwrap_or("")
                .contains("identity checked (by agent)")),
        "{history:?}"
    );

    // Disabled: no sign-in, no app verification, the live session ends at once.
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "totp", &app.code(&user.secret)).await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    app.service
        .admin_set_disabled(&user.email, true, "abuse report 12", "agent")
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/me", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = login_with(&app, &user.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let wrong = login_with(&app, &user.email, "not the password at all").await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "said only after the right password"
    );
    let key = app
        .service
        .create_api_key("shop", &["verify"])
        .await
        .unwrap()
        .1;
    app.advance(30);
    let r = app
        .post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": user.email, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.json["valid"], false, "{}", r.text);
    assert_eq!(r.json["reason"], "account_disabled");
    app.service
        .admin_set_disabled(&user.email, false, "", "agent")
        .await
        .unwrap();
    let r = login_with(&app, &user.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let notices = notices_to(&app, &user.email).await;
    assert!(
        notices.iter().any(|n| n.contains("abuse report 12")),
        "{notices:?}"
    );
}

#[tokio::test]
async fn wrong_passwords_at_step_up_count_against_the_account() {
    let app = TestApp::new().await;
    let session = app.signed_up("guessed@example.com").await;
    let mut answers = Vec::new();
    for i in 0..7 {
        let r = app
            .post(
                "/api/v1/me/password",
                Some(&session),
                json!({"current_password": format!("guess number {i} of many"), "new_password": NEW_PASSWORD}),
            )
            .await;
        answers.push(r.status);
    }
    assert_eq!(
        answers[..5],
        [StatusCode::FORBIDDEN; 5],
        "five wrong passwords are judged: {answers:?}"
    );
    assert_eq!(
        answers[5],
        StatusCode::TOO_MANY_REQUESTS,
        "then the account's password limit holds: {answers:?}"
    );
    assert_eq!(
        login_with(&app, "guessed@example.com", PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same count as the sign-in form"
    );
}

#[tokio::test]
async fn the_retention_sweep_keeps_the_database_flat() {
    let app = TestApp::new().await;
    app.signed_up("busy@example.com").await;
    let user = app
        .service
        .admin_show_user("busy@example.com")
        .await
        .unwrap()
        .user;
    let mut sizes = Vec::new();
    for cycle in 0..4 {
        for i in 0..2_000 {
            app.service
                .store()
                .append_activity(nidan_service::ports::NewActivity {
                    user_id: user.id.clone(),
                    at: app.now() + i,
                    kind: "sign_in",
                    method: None,
                    result: "success",
                    ip: "192.0.2.7".into(),
                    user_agent: format!("load/{cycle}.{i} (a long enough user agent to take room)"),
                    detail: None,
                    country: None,
                })
                .await
                .unwrap();
        }
        app.advance(401 * 86_400);
        let gone = app.service.purge_expired().await;
        assert!(gone >= 2_000, "cycle {cycle}: {gone} rows went");
        let left = app
            .service
            .admin_activity("busy@example.com", 10_000)
            .await
            .unwrap();
        assert!(left.is_empty(), "cycle {cycle}: {} lines left", left.len());
        sizes.push(std::fs::metadata(&app.db_path).unwrap().len());
    }
    // 2,000 lines take about 300 kB: without their pages reused, two more cycles would add
    // twice that.
    assert!(
        sizes[3] < sizes[1] + 300_000,
        "the file stays flat once pages are reused: {sizes:?}"
    );
}
