//! Replaying codes: the same code on another challenge, on another path (web, app API, settings),
//! older steps after newer ones, the enrolment code, used and recreated recovery codes.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::*;

/// The TOTP credential's `last_used_step` column, read from the file.
async fn last_used_step(app: &TestApp) -> String {
    let snap = Snapshot::take(app).await;
    let rows = snap.rows("totp_credentials");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0]
        .split(' ')
        .find_map(|kv| kv.strip_prefix("last_used_step="))
        .unwrap()
        .to_owned()
}

/// T27/T07, V7: a code that signed someone in on the web is offered to the app API. It is
/// `replayed`, counted as a failed guess, and the stored step does not move.
#[tokio::test]
async fn replaying_a_code_from_the_web_through_the_api_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("web2api@example.com").await;
    let key = api_key(&app, "shop").await;
    let code = app.code(&user.secret);
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "totp", &code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let step = last_used_step(&app).await;
    let before = Snapshot::take(&app).await;

    let r = app_verify(&app, &key, &user.email, &code).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"valid": false, "reason": "replayed"}));
    // Later within the same step, and then at the next step (the code is then T-1): refused.
    assert_eq!(app.now() % 30, 15, "the harness starts mid-step");
    app.advance(14);
    let r = app_verify(&app, &key, &user.email, &code).await;
    assert_eq!(r.json, json!({"valid": false, "reason": "replayed"}));
    app.advance(1);
    let r = app_verify(&app, &key, &user.email, &code).await;
    assert_eq!(r.json, json!({"valid": false, "reason": "replayed"}));

    assert_eq!(last_used_step(&app).await, step);
    assert_eq!(
        failures(&app, &user.email).await,
        3,
        "a replay is a counted guess"
    );
    assert_unchanged(
        &before.without(&["users"]),
        &Snapshot::take(&app).await.without(&["users"]),
        "replays through the API",
    );
}

/// T27/T07: the other way round — a code an app checked is offered at sign-in, on a fresh
/// challenge. 401 `invalid_code`; the challenge and the account each count one failure.
#[tokio::test]
async fn replaying_a_code_from_the_api_at_sign_in_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("api2web@example.com").await;
    let key = api_key(&app, "shop").await;
    let code = app.code(&user.secret);
    let r = app_verify(&app, &key, &user.email, &code).await;
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}));
    let step = last_used_step(&app).await;
    let c = app.challenge(&user.email).await;
    let sessions_before = Snapshot::take(&app).await.rows("sessions").to_vec();

    let r = app.verify(&c, "totp", &code).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_eq!(r.json["error"]["attempts_left"], 4);
    assert!(r.json.get("session_token").is_none());
    assert_eq!(last_used_step(&app).await, step);
    assert_eq!(failures(&app, &user.email).await, 1);
    assert_eq!(
        Snapshot::take(&app).await.rows("sessions"),
        sessions_before,
        "no session was minted"
    );
}

/// T16/T07, V13 ("one OTP for enable, login and disable"): the code that just signed the user in is
/// offered as the step-up code to turn two-step off. Refused; two-step stays on.
#[tokio::test]
async fn replaying_a_sign_in_code_to_turn_two_step_off_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("stepreplay@example.com").await;
    let code = app.code(&user.secret);
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "totp", &code).await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let before = Snapshot::take(&app).await;

    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&session),
            json!({"password": PASSWORD, "code": code, "state": "off"}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me/two-step",
            Some(&session),
            Some(json!({"password": PASSWORD, "code": code})),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_unchanged(
        &before.without(&["users"]),
        &Snapshot::take(&app).await.without(&["users"]),
        "step-up with a used code",
    );
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert!(overview.user.two_step_enabled);
    assert_eq!(overview.user.failed_attempts, 2);
}

/// T09/T07: codes two steps away are wrong (not replays); once the code for T+1 (a phone whose
/// clock runs ahead) is used, the codes for T and T-1 are refused as replays, though both are
/// inside the window.
#[tokio::test]
async fn replaying_an_older_step_after_a_newer_one_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("window@example.com").await;
    let key = api_key(&app, "window").await;
    for k in [-2, 2] {
        let r = app_verify(&app, &key, &user.email, &code_at(&app, &user.secret, k)).await;
        assert_eq!(
            r.json,
            json!({"valid": false, "reason": "invalid_code"}),
            "step T{k:+}"
        );
    }
    let r = app_verify(&app, &key, &user.email, &code_at(&app, &user.secret, 1)).await;
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}), "step T+1");
    let step = last_used_step(&app).await;
    for k in [0, -1, 1] {
        let r = app_verify(&app, &key, &user.email, &code_at(&app, &user.secret, k)).await;
        assert_eq!(
            r.json,
            json!({"valid": false, "reason": "replayed"}),
            "step T{k:+}"
        );
    }
    assert_eq!(last_used_step(&app).await, step);
    // The next step after the one used works (once the clock gets there).
    app.advance(60);
    let r = app_verify(&app, &key, &user.email, &app.code(&user.secret)).await;
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}));
}

/// T09, V7 (hanko: setup-code reuse): the code that confirmed the enrolment is offered to the
/// app API within the same step. `replayed`.
#[tokio::test]
async fn replaying_the_enrolment_code_through_the_api_is_refused() {
    let app = TestApp::new().await;
    let session = app.signed_up("enrolreplay@example.com").await;
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    let code = app.code(&secret);
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&session),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let key = api_key(&app, "enrol").await;
    let r = app_verify(&app, &key, "enrolreplay@example.com", &code).await;
    assert_eq!(r.json, json!({"valid": false, "reason": "replayed"}));
}

/// T13: a recovery code used at sign-in is offered again on every path: a new challenge, the app
/// API, a settings step-up. Refused everywhere; the count of codes left stays at 7.
#[tokio::test]
async fn replaying_a_used_recovery_code_on_any_path_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("recreplay@example.com").await;
    let key = api_key(&app, "rec").await;
    let used = user.recovery_codes[5].clone();
    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "recovery", &used).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["recovery_codes_left"], 7);
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let before = Snapshot::take(&app).await;

    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "recovery", &used).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    // Lower case, no hyphen: the same code, still used.
    let r = app_verify(
        &app,
        &key,
        &user.email,
        &used.to_lowercase().replace('-', ""),
    )
    .await;
    assert_eq!(r.json["valid"], false, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/recovery-codes",
            Some(&session),
            json!({"password": PASSWORD, "code": used}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");

    assert_unchanged(
        &before.without(&["users", "challenges", "sessions"]),
        &Snapshot::take(&app)
            .await
            .without(&["users", "challenges", "sessions"]),
        "a used recovery code offered again",
    );
    let overview = app.service.admin_show_user(&user.email).await.unwrap();
    assert_eq!(overview.recovery_codes_left, 7);
    assert_eq!(overview.user.failed_attempts, 3);
}

/// T14: after the codes are recreated, every old code — used or not — is dead on every path.
#[tokio::test]
async fn replaying_recovery_codes_from_a_recreated_set_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("recreated@example.com").await;
    let key = api_key(&app, "recreated").await;
    let r = app
        .post(
            "/api/v1/me/recovery-codes",
            Some(&user.session),
            json!({"password": PASSWORD, "code": user.recovery_codes[0]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["recovery_codes"].as_array().unwrap().len(), 8);
    let snap = Snapshot::take(&app).await;
    assert_eq!(
        snap.rows("recovery_codes")
            .iter()
            .filter(|r| r.contains("used_at=NULL"))
            .count(),
        8,
        "exactly the 8 new codes are unused"
    );

    let c = app.challenge(&user.email).await;
    let r = app.verify(&c, "recovery", &user.recovery_codes[1]).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    let r = app_verify(&app, &key, &user.email, &user.recovery_codes[2]).await;
    assert_eq!(r.json, json!({"valid": false, "reason": "invalid_code"}));
    let r = app_verify(&app, &key, &user.email, &user.recovery_codes[0]).await;
    assert_eq!(r.json["valid"], false, "the code used for the recreation");
    assert_eq!(
        app.service
            .admin_show_user(&user.email)
            .await
            .unwrap()
            .recovery_codes_left,
        8
    );
}
