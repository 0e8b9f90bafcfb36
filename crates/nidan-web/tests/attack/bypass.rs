//! Going around the second step: protected calls with the wrong kind of token, forged client
//! state, another user's challenge or device, settings changes without step-up, session fixation,
//! sessions that outlive two-step being turned on, and other users' sessions and devices by id.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::support::*;

/// Calls every protected endpoint (and the app API) with `token` and expects 401
/// `unauthenticated` from each, with nothing changed in the database.
async fn refused_everywhere(app: &TestApp, token: &str, code: &str, what: &str) {
    let before = Snapshot::take(app).await;
    for (method, path, body) in protected_calls(code) {
        let r = app.call(method.clone(), path, Some(token), body).await;
        assert_eq!(
            (r.status, r.json["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{what}: {method} {path}: {}",
            r.text
        );
        assert!(r.json.get("id").is_none() && r.json.get("email").is_none());
    }
    assert_unchanged(&before, &Snapshot::take(app).await, what);
}

/// T01, V1/V9: the challenge id from the password step, sent as a bearer token to every
/// protected call and to the app API. All 401; the challenge itself is untouched and still
/// finishes the sign-in afterwards.
#[tokio::test]
async fn reaching_every_protected_call_with_a_challenge_id_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("t01@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let code = app.code(&user.secret);
    refused_everywhere(&app, &challenge, &code, "a challenge id").await;
    let r = app_verify(&app, &challenge, &user.email, &code).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app.verify(&challenge, "totp", &code).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the challenge still works: {}",
        r.text
    );
}

/// T19/T21, V11: a session that was logged out, ended from another session, left idle past the
/// limit, or ended by a support reset is refused by every protected call, writes included.
#[tokio::test]
async fn reaching_protected_calls_with_an_ended_session_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("ended@example.com").await;
    let code = app.code(&user.secret);
    // Logged out.
    let c = app.challenge(&user.email).await;
    let s1 = app.verify(&c, "totp", &code).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(Method::POST, "/api/v1/logout", Some(&s1), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    refused_everywhere(&app, &s1, &code, "a logged-out session").await;

    // Ended from another session.
    app.advance(30);
    let c = app.challenge(&user.email).await;
    let s2 = app.verify(&c, "totp", &app.code(&user.secret)).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app.get("/api/v1/me/sessions", &user.session).await;
    let id = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{id}"),
            Some(&user.session),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    refused_everywhere(&app, &s2, &code, "an ended session").await;

    // Idle past the limit (30 minutes). The first request finds it idle and deletes it.
    app.advance(30 * 60);
    let r = app.get("/api/v1/me", &user.session).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    refused_everywhere(&app, &user.session, &code, "an idle session").await;

    // Ended by a support reset.
    app.advance(30);
    let c = app.challenge(&user.email).await;
    let s3 = app.verify(&c, "totp", &app.code(&user.secret)).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.service
        .admin_reset_two_step(&user.email, "lost phone, ticket 42", "support")
        .await
        .unwrap();
    refused_everywhere(&app, &s3, &code, "a session ended by a support reset").await;
}

/// T01/T27: an API key and a remembered-device token are not sessions; a session, a device token
/// and a challenge id are not API keys.
#[tokio::test]
async fn reaching_me_with_an_api_key_or_a_device_token_and_verify_with_a_session_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("kinds@example.com").await;
    let key = api_key(&app, "kinds").await;
    let c = app.challenge(&user.email).await;
    let r = app
        .post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": c, "method": "totp", "code": app.code(&user.secret), "remember_device": true}),
        )
        .await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let device = r.json["device_token"].as_str().unwrap().to_owned();
    app.advance(30);
    let code = app.code(&user.secret);
    refused_everywhere(&app, &key, &code, "an API key").await;
    refused_everywhere(&app, &device, &code, "a device token").await;
    let before = Snapshot::take(&app).await;
    for token in [&session, &device, &user.session] {
        let r = app_verify(&app, token, &user.email, &code).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "verify with the wrong token kind",
    );
    // The code was not consumed by any of that.
    let r = app_verify(&app, &key, &user.email, &code).await;
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}));
}

/// T27/T23, V9: credentials anywhere but `Authorization: Bearer` are ignored: an API key in the
/// query string, HTTP Basic with the user's email and password, a session token in a cookie, a
/// token without the scheme.
#[tokio::test]
async fn reaching_the_api_with_credentials_outside_the_bearer_header_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("basic@example.com").await;
    let key = api_key(&app, "query").await;
    let code = app.code(&user.secret);
    let before = Snapshot::take(&app).await;
    let body = json!({"user": user.email, "code": code}).to_string();
    for path in [
        format!("/api/v1/verify?api_key={key}"),
        format!("/api/v1/verify?access_token={key}"),
    ] {
        let r = raw(
            &app,
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{}:{PASSWORD}", user.email).as_bytes())
    );
    let cookie = format!(
        "session={0}; __Host-session={0}; nidan_session={0}",
        user.session
    );
    let headers: Vec<Vec<(&str, &str)>> = vec![
        vec![("authorization", basic.as_str())],
        vec![("cookie", cookie.as_str())],
        vec![("authorization", user.session.as_str())],
        vec![("authorization", "Bearer")],
        vec![("x-api-key", key.as_str())],
    ];
    for h in &headers {
        let r = raw(&app, Method::GET, "/api/v1/me", h, "").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
        let mut with_type = h.clone();
        with_type.push(("content-type", "application/json"));
        let r = raw(
            &app,
            Method::POST,
            "/api/v1/verify",
            &with_type,
            body.clone(),
        )
        .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "credentials outside the header",
    );
}

/// T02, V15: a wrong code accompanied by forged client state — extra JSON fields, cookies and
/// headers claiming the second step is done. The body is refused (unknown fields), the headers
/// and cookies are ignored, no session is minted, and the challenge stays a challenge.
#[tokio::test]
async fn forging_client_state_around_a_wrong_code_grants_nothing() {
    let app = TestApp::new().await;
    let user = app.enrolled("forge@example.com").await;
    let c = app.challenge(&user.email).await;
    let wrong = wrong_code(&app, &user.secret);
    let before = Snapshot::take(&app).await;
    for extra in [
        json!({"mfa_verified": true}),
        json!({"verified": true}),
        json!({"status": "signed_in"}),
        json!({"user": "forge@example.com"}),
    ] {
        let mut body = json!({"challenge_id": c, "method": "totp", "code": wrong});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.post("/api/v1/login/verify", None, body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_unchanged(&before, &Snapshot::take(&app).await, "forged fields");

    let body = json!({"challenge_id": c, "method": "totp", "code": wrong}).to_string();
    let r = raw_json_with(
        &app,
        "/api/v1/login/verify",
        &[
            ("x-mfa", "ok"),
            (
                "cookie",
                "mfa=1; 2fa_verified=true; verified=forge@example.com",
            ),
            ("x-forwarded-user", "forge@example.com"),
        ],
        body,
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    assert!(
        r.headers.get("set-cookie").is_none(),
        "no cookie is ever set"
    );
    assert!(r.json.get("session_token").is_none());
    let r = raw(
        &app,
        Method::GET,
        "/api/v1/me",
        &[
            ("authorization", &format!("Bearer {c}")),
            ("x-mfa", "ok"),
            ("cookie", "mfa=1; 2fa_verified=true"),
        ],
        "",
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let after = Snapshot::take(&app).await;
    assert_eq!(after.rows("sessions"), before.rows("sessions"));
}

async fn raw_json_with(
    app: &TestApp,
    path: &str,
    extra: &[(&str, &str)],
    body: String,
) -> Response {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    raw(app, Method::POST, path, &headers, body).await
}

/// T03, V2: A's valid code sent on B's challenge. It is a wrong code for B (counted against B,
/// not A), signs in no one, and A's code is not consumed: A still signs in with it.
#[tokio::test]
async fn a_code_for_user_a_on_user_bs_challenge_is_refused() {
    let app = TestApp::new().await;
    let a = app.enrolled("alice-t03@example.com").await;
    let b = app.enrolled("bob-t03@example.com").await;
    let ca = app.challenge(&a.email).await;
    let cb = app.challenge(&b.email).await;
    let code_a = app.code(&a.secret);
    let before = Snapshot::take(&app).await;
    let r = app.verify(&cb, "totp", &code_a).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    let r = app.verify(&cb, "recovery", &a.recovery_codes[0]).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_eq!(failures(&app, &b.email).await, 2);
    assert_eq!(failures(&app, &a.email).await, 0);
    let after = Snapshot::take(&app).await;
    assert_eq!(after.rows("sessions"), before.rows("sessions"));
    assert_eq!(
        after.rows("totp_credentials"),
        before.rows("totp_credentials")
    );
    assert_eq!(after.rows("recovery_codes"), before.rows("recovery_codes"));
    let r = app.verify(&ca, "totp", &code_a).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let me = app
        .get("/api/v1/me", r.json["session_token"].as_str().unwrap())
        .await;
    assert_eq!(me.json["email"], a.email, "the session is A's");
    let r = app.verify(&ca, "recovery", &a.recovery_codes[0]).await;
    assert_error(&r, StatusCode::GONE, "challenge_expired");
}

/// T22, V12: device tokens that must not skip the second step — another user's, one with a
/// character changed, one forgotten by its user, one from before two-step was turned off and on
/// again, one from before a support reset — and a spoofed `X-Forwarded-For` of the device's IP.
#[tokio::test]
async fn device_tokens_that_are_not_this_users_valid_device_do_not_skip_the_second_step() {
    let app = TestApp::new().await;
    let a = app.enrolled("dev-a@example.com").await;
    let b = app.enrolled("dev-b@example.com").await;
    let remember = |email: String, secret: nidan_domain::TotpSecret| {
        let app = &app;
        async move {
            let c = app.challenge(&email).await;
            let r = app
                .post(
                    "/api/v1/login/verify",
                    None,
                    json!({"challenge_id": c, "method": "totp", "code": app.code(&secret), "remember_device": true}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            app.advance(30);
            (
                r.json["device_token"].as_str().unwrap().to_owned(),
                r.json["session_token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let login_with = |email: String, device: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/login",
                None,
                json!({"email": email, "password": PASSWORD, "device_token": device}),
            )
            .await
        }
    };
    let (device_a, session_a) = remember(a.email.clone(), a.secret.clone()).await;
    assert_eq!(
        login_with(a.email.clone(), device_a.clone()).await.json["status"],
        "signed_in",
        "the device works for its own user"
    );
    let sessions = Snapshot::take(&app).await.rows("sessions").len();

    // Another user's device.
    let r = login_with(b.email.clone(), device_a.clone()).await;
    assert_eq!(r.json["status"], "second_factor_required");
    // One character changed (last, and first after the prefix).
    let mut tampered = device_a.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let r = login_with(a.email.clone(), String::from_utf8(tampered).unwrap()).await;
    assert_eq!(r.json["status"], "second_factor_required");
    // The challenge id or a session token in place of a device token.
    let c = app.challenge(&a.email).await;
    for fake in [c.as_str(), session_a.as_str(), a.session.as_str()] {
        let r = login_with(a.email.clone(), fake.to_owned()).await;
        assert_eq!(r.json["status"], "second_factor_required");
    }
    // The device's IP in X-Forwarded-For, without the token.
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/login",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", "127.0.0.1"),
        ],
        json!({"email": a.email, "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(r.json["status"], "second_factor_required");
    assert_eq!(
        Snapshot::take(&app).await.rows("sessions").len(),
        sessions,
        "no session minted"
    );

    // Turned off and on again: devices are forgotten.
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&session_a),
            json!({"password": PASSWORD, "code": app.code(&a.secret), "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.advance(30);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&session_a),
            json!({"password": PASSWORD, "code": app.code(&a.secret), "state": "on"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.advance(30);
    let r = login_with(a.email.clone(), device_a.clone()).await;
    assert_eq!(
        r.json["status"], "second_factor_required",
        "after off and on"
    );

    // A support reset forgets devices too (the account then has no two-step: a session is
    // expected, but the device must be gone from the table).
    let _ = remember(b.email.clone(), b.secret.clone()).await;
    assert_eq!(
        app.service.admin_show_user(&b.email).await.unwrap().devices,
        1
    );
    app.service
        .admin_reset_two_step(&b.email, "ticket 7", "support")
        .await
        .unwrap();
    let overview = app.service.admin_show_user(&b.email).await.unwrap();
    assert_eq!((overview.devices, overview.sessions), (0, 0));
}

/// T16/T17, V13: turning two-step off, removing it, removing the app, recreating recovery codes
/// and binding a new app — each without the password, without a code, with an empty code, and
/// with a wrong code. Refused every time with the exact answer; nothing changes but the failure
/// count for the wrong codes; the right code is not spent by a refused call.
#[tokio::test]
async fn changing_two_step_without_the_password_or_a_code_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("stepup@example.com").await;
    let s = user.session.as_str();
    let calls: Vec<(Method, &str, serde_json::Value)> = vec![
        (Method::POST, "/api/v1/me/two-step", json!({"state": "off"})),
        (Method::DELETE, "/api/v1/me/two-step", json!({})),
        (Method::DELETE, "/api/v1/me/totp", json!({})),
        (Method::POST, "/api/v1/me/recovery-codes", json!({})),
        (Method::POST, "/api/v1/me/totp/setup", json!({})),
    ];
    let with = |base: &serde_json::Value, fields: serde_json::Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        b
    };
    let right = app.code(&user.secret);
    let before = Snapshot::take(&app).await;
    let mut wrong_codes = 0;
    for (method, path, base) in &calls {
        // Wrong password, right code: 403, and the code is not spent.
        let r = app
            .call(
                method.clone(),
                path,
                Some(s),
                Some(with(
                    base,
                    json!({"password": "not the password at all", "code": right}),
                )),
            )
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "reauth_required");
        // No password at all: the body does not fit.
        let r = app
            .call(
                method.clone(),
                path,
                Some(s),
                Some(with(base, json!({"code": right}))),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Right password, no code / an empty code / only spaces.
        for code in [None, Some(""), Some("   ")] {
            let mut body = with(base, json!({"password": PASSWORD}));
            if let Some(c) = code {
                body["code"] = json!(c);
            }
            let r = app.call(method.clone(), path, Some(s), Some(body)).await;
            let code_required = *method == Method::DELETE || *path == "/api/v1/me/two-step";
            let expected = if code.is_none() && code_required {
                // These bodies declare `code` as required (api.md); the others make it optional
                // because the very first method needs none.
                (StatusCode::BAD_REQUEST, "invalid_request")
            } else {
                (StatusCode::FORBIDDEN, "reauth_required")
            };
            assert_error(&r, expected.0, expected.1);
        }
        // Right password, wrong code: a counted guess.
        let r = app
            .call(
                method.clone(),
                path,
                Some(s),
                Some(with(
                    base,
                    json!({"password": PASSWORD, "code": wrong_code_at(app.now(), &user.secret, wrong_codes)}),
                )),
            )
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
        wrong_codes += 1;
    }
    assert_unchanged(
        &before.without(&["users"]),
        &Snapshot::take(&app).await.without(&["users"]),
        "two-step changes without step-up",
    );
    assert_eq!(failures(&app, &user.email).await, wrong_codes as u32);
    let me = app.get("/api/v1/me", s).await;
    assert_eq!(me.json["two_step"]["state"], "on");
    assert_eq!(me.json["two_step"]["recovery_codes_left"], 8);
}

/// T19, SES-02/07: session fixation across the second step. The client arrives carrying a session
/// token the attacker knows (the attacker's own); the second step must mint a brand-new token
/// for the victim and leave the planted one the attacker's. The challenge id is never a session,
/// and a finished challenge is dead even for the next valid code.
#[tokio::test]
async fn session_fixation_across_the_second_step_is_impossible() {
    let app = TestApp::new().await;
    let victim = app.enrolled("victim@example.com").await;
    let attacker = app.signed_up("attacker@example.com").await;
    let planted = format!("Bearer {attacker}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", planted.as_str()),
        ("cookie", &format!("session={attacker}") as &str),
    ];
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/login",
        &headers,
        json!({"email": victim.email, "password": PASSWORD}).to_string(),
    )
    .await;
    let challenge = r.json["challenge_id"].as_str().unwrap().to_owned();
    assert_ne!(challenge, attacker);
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/login/verify",
        &headers,
        json!({"challenge_id": challenge, "method": "totp", "code": app.code(&victim.secret)})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("nds_") && challenge.starts_with("ndc_"));
    for old in [&attacker, &challenge, &victim.session] {
        assert_ne!(&session, old, "a new token after the second step");
    }
    assert_eq!(
        app.get("/api/v1/me", &session).await.json["email"],
        victim.email
    );
    assert_eq!(
        app.get("/api/v1/me", &attacker).await.json["email"],
        "attacker@example.com",
        "the planted token is still only the attacker's"
    );
    let r = app.get("/api/v1/me", &challenge).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");

    // The finished challenge is dead, also for the next step's valid code.
    app.advance(30);
    let before = Snapshot::take(&app).await;
    let r = app
        .verify(&challenge, "totp", &app.code(&victim.secret))
        .await;
    assert_error(&r, StatusCode::GONE, "challenge_expired");
    let r = app
        .verify(&challenge, "recovery", &victim.recovery_codes[0])
        .await;
    assert_error(&r, StatusCode::GONE, "challenge_expired");
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "a finished challenge reused",
    );

    // Two second steps give two different sessions.
    let c = app.challenge(&victim.email).await;
    let again = app.verify(&c, "totp", &app.code(&victim.secret)).await;
    assert_ne!(again.json["session_token"].as_str().unwrap(), session);
}

/// T23, V11: sessions opened with the password alone before two-step was turned on die when it
/// is turned on; only the session that turned it on lives on.
#[tokio::test]
async fn a_session_from_before_two_step_was_turned_on_is_ended() {
    let app = TestApp::new().await;
    let keeper = app.signed_up("v11@example.com").await;
    let stale = app.login("v11@example.com").await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/api/v1/me", &stale).await.status, StatusCode::OK);
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&keeper),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&keeper),
            json!({"code": app.code(&secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.get("/api/v1/me", &stale).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(app.get("/api/v1/me", &keeper).await.status, StatusCode::OK);
    assert_eq!(Snapshot::take(&app).await.rows("sessions").len(), 1);
}

/// T15, V14: with an app enrolled, binding a new one needs a current code as well as the
/// password (a password thief cannot add their own app); a pending setup is harmless until
/// confirmed; after the new app is confirmed, the old app's codes stop working.
#[tokio::test]
async fn binding_a_new_authenticator_with_only_the_password_is_refused() {
    let app = TestApp::new().await;
    let user = app.enrolled("rebind@example.com").await;
    let before = Snapshot::take(&app).await;
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&user.session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "reauth_required");
    assert!(r.json.get("secret").is_none());
    assert_unchanged(
        &before,
        &Snapshot::take(&app).await,
        "setup with the password only",
    );

    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    assert_ne!(new.as_bytes(), user.secret.as_bytes());
    // Pending: the old app still signs in; the new one does not yet.
    app.advance(30);
    let key = api_key(&app, "rebind").await;
    let r = app_verify(&app, &key, &user.email, &app.code(&new)).await;
    assert_eq!(r.json["valid"], false, "a pending app's code: {}", r.text);
    let r = app_verify(&app, &key, &user.email, &app.code(&user.secret)).await;
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}));
    // Confirmed: the old app's codes stop working.
    app.advance(30);
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&user.session),
            json!({"code": app.code(&new)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.json.get("recovery_codes").is_none(),
        "not the first method: {}",
        r.text
    );
    app.advance(30);
    let r = app_verify(&app, &key, &user.email, &app.code(&user.secret)).await;
    assert_eq!(r.json, json!({"valid": false, "reason": "invalid_code"}));
    assert_eq!(Snapshot::take(&app).await.rows("totp_credentials").len(), 1);
}

/// T15: a setup that was never confirmed (or confirmed with a wrong code) turns nothing on:
/// sign-in asks for no second factor and `/me` says `none`.
#[tokio::test]
async fn a_pending_setup_turns_nothing_on() {
    let app = TestApp::new().await;
    let session = app.signed_up("pending@example.com").await;
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&session),
            json!({"code": wrong_code(&app, &secret)}),
        )
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_eq!(
        app.login("pending@example.com").await.json["status"],
        "signed_in"
    );
    let me = app.get("/api/v1/me", &session).await;
    assert_eq!(me.json["two_step"]["state"], "none");
    assert_eq!(me.json["two_step"]["recovery_codes_left"], 0);
    let snap = Snapshot::take(&app).await;
    assert!(snap.rows("recovery_codes").is_empty());
    assert!(snap.rows("totp_credentials")[0].contains("confirmed_at=NULL"));
}

/// T16/T22, V13 (IDOR): user A ends B's session and forgets B's device by id. 404 `not_found`; B's
/// session and device live on.
#[tokio::test]
async fn ending_another_users_session_or_device_by_id_is_refused() {
    let app = TestApp::new().await;
    let a = app.enrolled("idor-a@example.com").await;
    let b = app.enrolled("idor-b@example.com").await;
    let c = app.challenge(&b.email).await;
    let r = app
        .post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": c, "method": "totp", "code": app.code(&b.secret), "remember_device": true}),
        )
        .await;
    let b_session = r.json["session_token"].as_str().unwrap().to_owned();
    let b_sessions = app.get("/api/v1/me/sessions", &b_session).await;
    let b_devices = app.get("/api/v1/me/devices", &b_session).await;
    let session_id = b_sessions.json[0]["id"].as_str().unwrap().to_owned();
    let device_id = b_devices.json[0]["id"].as_str().unwrap().to_owned();
    let before = Snapshot::take(&app).await;
    for path in [
        format!("/api/v1/me/sessions/{session_id}"),
        format!("/api/v1/me/devices/{device_id}"),
    ] {
        let r = app
            .call(Method::DELETE, &path, Some(&a.session), None)
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    // "Forget all devices" and the listings are A's alone.
    let r = app
        .call(Method::DELETE, "/api/v1/me/devices", Some(&a.session), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let listed = app.get("/api/v1/me/sessions", &a.session).await;
    assert!(!listed.text.contains(&session_id));
    assert_unchanged(
        &before.without_idle_timer(),
        &Snapshot::take(&app).await.without_idle_timer(),
        "A acting on B's ids",
    );
    assert_eq!(
        app.get("/api/v1/me", &b_session).await.status,
        StatusCode::OK
    );
}
