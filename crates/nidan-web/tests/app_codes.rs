//! Apps that keep their own sign-in: codes by SMS and email sent for an app, scoped keys, and
//! what a user has — through the real router, the outbox and a real (failing) SMTP server.

use axum::http::{Method, StatusCode};
use nidan_delivery::testing::TestSmtpServer;
use serde_json::json;

use crate::codes::{PHONE, sms_user};
use crate::common::{PASSWORD, Response, TestApp, failures};

/// `POST /api/v1/verify` with `key`.
async fn verify(app: &TestApp, key: &str, user: &str, code: &str) -> Response {
    app.post(
        "/api/v1/verify",
        Some(key),
        json!({"user": user, "code": code}),
    )
    .await
}

/// A key with these scopes.
async fn key(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let (_, key) = app.service.create_api_key(name, scopes).await.unwrap();
    key.expose().to_owned()
}

#[tokio::test]
async fn an_app_has_a_code_sent_and_verifies_it_once() {
    let app = TestApp::new().await;
    sms_user(&app, "sms@example.com").await;
    let shop = key(&app, "shop", &["verify", "send", "read"]).await;

    let r = app
        .post(
            "/api/v1/verify/send-code",
            Some(&shop),
            json!({"user": "sms@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["method"], "sms");
    assert_eq!(r.json["sent_to"], "+81 **-****-5678");
    assert_eq!(r.json["expires_in"], 300);
    assert_eq!(r.json["resend_after"], 60);
    let code = app.last_code_to(PHONE);

    // Asking again at once waits its turn, like a resend at sign-in.
    let again = app
        .post(
            "/api/v1/verify/send-code",
            Some(&shop),
            json!({"user": "sms@example.com", "method": "sms"}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.text
    );
    assert!(again.headers.contains_key("retry-after"));

    // It is not a sign-in code.
    let challenge = app.challenge("sms@example.com").await;
    let r = app.verify(&challenge, "sms", &code).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    let r = verify(&app, &shop, "sms@example.com", &code).await;
    assert_eq!(
        r.json,
        json!({"valid": true, "method": "sms"}),
        "{}",
        r.text
    );
    let r = verify(&app, &shop, "sms@example.com", &code).await;
    assert_eq!(r.json["valid"], false, "a code works once: {}", r.text);

    // Another app's key does not accept this app's code.
    let other = key(&app, "other", &["verify", "send"]).await;
    app.advance(61);
    let r = app
        .post(
            "/api/v1/verify/send-code",
            Some(&shop),
            json!({"user": "sms@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to(PHONE);
    let before = failures(&app, "sms@example.com").await;
    let r = verify(&app, &other, "sms@example.com", &code).await;
    assert_eq!(r.json["valid"], false, "{}", r.text);
    assert_eq!(
        failures(&app, "sms@example.com").await,
        before + 1,
        "a wrong code through an app counts with sign-in's"
    );

    // The account is told once which app sent it a code.
    app.service.deliver_notices(50).await;
    let told = app
        .outbox()
        .iter()
        .filter(|m| {
            m["to"] == "sms@example.com"
                && m["body"]
                    .as_str()
                    .unwrap_or("")
                    .contains("The app \u{201c}shop\u{201d}")
        })
        .count();
    assert_eq!(told, 1, "{:?}", app.outbox());

    // What a user has.
    let r = app
        .call(
            Method::GET,
            "/api/v1/verify/users/sms@example.com",
            Some(&shop),
            None,
        )
        .await;
    assert_eq!(
        r.json,
        json!({"state": "on", "methods": ["sms", "recovery"], "default_method": "sms"}),
        "{}",
        r.text
    );
    let r = app
        .call(
            Method::GET,
            "/api/v1/verify/users/nobody@example.com",
            Some(&shop),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let keys = app.service.list_api_keys().await.unwrap();
    let shop_key = keys.iter().find(|k| k.name == "shop").unwrap();
    assert_eq!(shop_key.scopes, "verify,send,read");
    assert!(
        shop_key.last_used_at.is_some(),
        "the key's last use is kept"
    );
}

#[tokio::test]
async fn unknown_and_not_enrolled_users_get_nothing_sent_and_scopes_are_enforced() {
    let app = TestApp::new().await;
    app.signed_up("plain@example.com").await;
    let user = app.enrolled("app@example.com").await;
    let sender = key(&app, "sender", &["send"]).await;
    let verifier = key(&app, "verifier", &["verify"]).await;

    for (email, reason) in [
        ("nobody@example.com", "unknown_user"),
        ("plain@example.com", "not_enrolled"),
        ("app@example.com", "not_enrolled"),
    ] {
        let r = app
            .post(
                "/api/v1/verify/send-code",
                Some(&sender),
                json!({"user": email}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json, json!({"sent": false, "reason": reason}), "{email}");
    }
    let r = app
        .post(
            "/api/v1/verify/send-code",
            Some(&sender),
            json!({"user": "app@example.com", "method": "totp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    let r = app
        .post(
            "/api/v1/verify/send-code",
            Some(&verifier),
            json!({"user": "app@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "forbidden");
    let r = verify(&app, &sender, "app@example.com", &app.code(&user.secret)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = app
        .call(
            Method::GET,
            "/api/v1/verify/users/app@example.com",
            Some(&verifier),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = verify(&app, &verifier, "app@example.com", &app.code(&user.secret)).await;
    assert_eq!(r.json["valid"], true, "{}", r.text);
}

#[tokio::test]
async fn a_failed_delivery_answers_502_and_loses_nothing() {
    let app = TestApp::new().await;
    let user = app.enrolled("mailed@example.com").await;
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "email": "codes@example.org", "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to("codes@example.org");
    let r = app
        .post(
            "/api/v1/me/email/confirm",
            Some(&user.session),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let shop = key(&app, "shop", &["verify", "send"]).await;

    let smtp = TestSmtpServer::start_failing().await;
    let down = app.restarted(Some(smtp.url())).await;
    let r = down
        .post(
            "/api/v1/verify/send-code",
            Some(&shop),
            json!({"user": "mailed@example.com", "method": "email"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "delivery_failed");

    // The mail server is back: the app asks again at once (the failed send used up nothing).
    let up = app.restarted(None).await;
    let r = up
        .post(
            "/api/v1/verify/send-code",
            Some(&shop),
            json!({"user": "mailed@example.com", "method": "email"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = up.last_code_to("codes@example.org");
    let r = verify(&up, &shop, "mailed@example.com", &code).await;
    assert_eq!(
        r.json,
        json!({"valid": true, "method": "email"}),
        "{}",
        r.text
    );
}
