//! Every user flow of "nidan core", driven through the real router on a real SQLite file.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

#[tokio::test]
async fn sign_up_sign_in_and_me() {
    let app = TestApp::new().await;
    let session = app.signed_up("Alice@Example.com").await;
    let me = app.get("/api/v1/me", &session).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json["email"], "alice@example.com",
        "emails are normalised"
    );
    assert_eq!(me.json["two_step"]["state"], "none");
    assert_eq!(me.json["two_step"]["recovery_codes_left"], 0);

    let again = app
        .post(
            "/api/v1/users",
            None,
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["error"]["code"], "conflict");

    let weak = app
        .post(
            "/api/v1/users",
            None,
            json!({"email": "bob@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.json["error"]["code"], "weak_password");
    assert_eq!(weak.json["error"]["reason"], "too_short");
}

#[tokio::test]
async fn enrolling_an_authenticator_app_needs_the_password_and_a_confirming_code() {
    let app = TestApp::new().await;
    let session = app.signed_up("carol@example.com").await;

    let wrong = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.json["error"]["code"], "reauth_required");

    let setup = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK);
    assert_eq!(setup.headers["cache-control"], "no-store");
    let secret_text = setup.json["secret"].as_str().unwrap();
    assert!(
        secret_text.split(' ').all(|g| g.len() == 4),
        "secret in groups of 4: {secret_text}"
    );
    assert_eq!(secret_text.replace(' ', "").len(), 32, "160 bits of base32");
    let uri = setup.json["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/nidan:carol%40example.com?secret="),
        "{uri}"
    );
    assert!(uri.ends_with("&issuer=nidan"), "{uri}");
    assert!(
        setup.json["qr_svg"].as_str().unwrap().starts_with("<?xml"),
        "QR code as SVG"
    );

    // Pending until confirmed: sign-in does not ask for a code yet.
    let r = app.login("carol@example.com").await;
    assert_eq!(r.json["status"], "signed_in");

    let secret = nidan_domain::TotpSecret::from_base32(secret_text).unwrap();
    let bad = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&session),
            json!({"code": "000000"}),
        )
        .await;
    let expected_bad = if app.code(&secret) == "000000" {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    assert_eq!(bad.status, expected_bad);

    let ok = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&session),
            json!({"code": app.code(&secret)}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.headers["cache-control"], "no-store");
    let codes = ok.json["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 8);
    let shape = |c: &str| {
        c.len() == 11
            && c.as_bytes()[5] == b'-'
            && c.chars()
                .filter(|ch| *ch != '-')
                .all(|ch| "0123456789abcdefghjkmnpqrstvwxyz".contains(ch))
    };
    assert!(
        codes.iter().all(|c| shape(c.as_str().unwrap())),
        "{codes:?}"
    );

    let me = app.get("/api/v1/me", &session).await;
    assert_eq!(me.json["two_step"]["state"], "on");
    assert_eq!(me.json["two_step"]["methods"][0]["type"], "totp");
    assert_eq!(me.json["two_step"]["default_method"], "totp");
    assert_eq!(me.json["two_step"]["recovery_codes_left"], 8);
    let left = app.get("/api/v1/me/recovery-codes", &session).await;
    assert_eq!(left.json, json!({"remaining": 8}));

    // The enrolment code itself can never sign anyone in (its step is used).
    let challenge = app.challenge("carol@example.com").await;
    let replay = app.verify(&challenge, "totp", &app.code(&secret)).await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "enrolment code replayed: {}",
        replay.text
    );
}

#[tokio::test]
async fn sign_in_with_totp_recovery_code_and_remembered_device() {
    let app = TestApp::new().await;
    let user = app.enrolled("dave@example.com").await;

    let login = app.login(&user.email).await;
    assert_eq!(login.json["status"], "second_factor_required");
    assert_eq!(login.json["methods"], json!(["totp", "recovery"]));
    assert_eq!(login.json["default_method"], "totp");
    assert_eq!(login.json["expires_in"], 600);
    let challenge = login.json["challenge_id"].as_str().unwrap();

    // The challenge is not a session.
    assert_eq!(
        app.get("/api/v1/me", challenge).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Typed as people type: spaces and full-width digits.
    let code = app.code(&user.secret);
    let typed: String = format!("{} {}", &code[..3], &code[3..])
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect();
    let ok = app.verify(challenge, "totp", &typed).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["status"], "signed_in");
    let session = ok.json["session_token"].as_str().unwrap();
    assert_ne!(session, challenge);
    assert_eq!(app.get("/api/v1/me", session).await.status, StatusCode::OK);
    // The challenge is spent.
    let again = app.verify(challenge, "totp", &code).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert_eq!(again.json["error"]["code"], "challenge_expired");

    // Recovery code: once, and the count comes back.
    let challenge = app.challenge(&user.email).await;
    let r = app
        .verify(
            &challenge,
            "recovery",
            &user.recovery_codes[0].to_uppercase(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["recovery_codes_left"], 7);
    let challenge = app.challenge(&user.email).await;
    let r = app
        .verify(&challenge, "recovery", &user.recovery_codes[0])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"]["code"], "invalid_code");
    assert_eq!(r.json["error"]["attempts_left"], 4);

    // Remember this device.
    app.advance(30);
    let challenge = app.challenge(&user.email).await;
    let r = app.post("/api/v1/login/verify", None, json!({"challenge_id": challenge, "method": "totp", "code": app.code(&user.secret), "remember_device": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let device = r.json["device_token"].as_str().unwrap().to_owned();
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let skip = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": user.email, "password": PASSWORD, "device_token": device}),
        )
        .await;
    assert_eq!(skip.json["status"], "signed_in", "{}", skip.text);
    // ...never the password.
    let wrong = app.post("/api/v1/login", None, json!({"email": user.email, "password": "wrong password, but long", "device_token": device})).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // Listed and revocable.
    let devices = app.get("/api/v1/me/devices", &session).await;
    assert_eq!(devices.json.as_array().unwrap().len(), 1);
    assert_eq!(devices.json[0]["name"], "Linux");
    let id = devices.json[0]["id"].as_str().unwrap();
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/devices/{id}"),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let no_skip = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": user.email, "password": PASSWORD, "device_token": device}),
        )
        .await;
    assert_eq!(no_skip.json["status"], "second_factor_required");
}

#[tokio::test]
async fn a_device_token_only_skips_for_its_own_user() {
    let app = TestApp::new().await;
    let a = app.enrolled("erin@example.com").await;
    let b = app.enrolled("frank@example.com").await;
    let challenge = app.challenge(&a.email).await;
    let r = app.post("/api/v1/login/verify", None, json!({"challenge_id": challenge, "method": "totp", "code": app.code(&a.secret), "remember_device": true})).await;
    let device = r.json["device_token"].as_str().unwrap();
    let other = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": b.email, "password": PASSWORD, "device_token": device}),
        )
        .await;
    assert_eq!(other.json["status"], "second_factor_required");
}

#[tokio::test]
async fn recreate_codes_turn_off_and_on_and_remove() {
    let app = TestApp::new().await;
    let user = app.enrolled("grace@example.com").await;
    let s = user.session.as_str();

    // Without a code: refused.
    let r = app
        .post(
            "/api/v1/me/recovery-codes",
            Some(s),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"]["code"], "reauth_required");
    // With a code: a new set; the old set dies.
    let r = app
        .post(
            "/api/v1/me/recovery-codes",
            Some(s),
            json!({"password": PASSWORD, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    let new_codes: Vec<String> = r.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new_codes.len(), 8);
    let challenge = app.challenge(&user.email).await;
    assert_eq!(
        app.verify(&challenge, "recovery", &user.recovery_codes[1])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Off (a recovery code counts as the current code); methods kept; sign-in skips the step.
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(s),
            json!({"password": PASSWORD, "code": new_codes[0], "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "off");
    assert_eq!(app.login(&user.email).await.json["status"], "signed_in");
    let me = app.get("/api/v1/me", s).await;
    assert_eq!(me.json["two_step"]["state"], "off");
    assert_eq!(me.json["two_step"]["methods"][0]["type"], "totp");

    // Wrong password: refused, nothing changes.
    app.advance(30);
    let r = app.post("/api/v1/me/two-step", Some(s), json!({"password": "wrong password, but long", "code": app.code(&user.secret), "state": "on"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(s),
            json!({"password": PASSWORD, "code": app.code(&user.secret), "state": "on"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        app.login(&user.email).await.json["status"],
        "second_factor_required"
    );

    // Remove: everything goes.
    app.advance(30);
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me/two-step",
            Some(s),
            Some(json!({"password": PASSWORD, "code": app.code(&user.secret)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let me = app.get("/api/v1/me", s).await;
    assert_eq!(me.json["two_step"]["state"], "none");
    assert_eq!(me.json["two_step"]["recovery_codes_left"], 0);
    assert_eq!(app.login(&user.email).await.json["status"], "signed_in");
}

#[tokio::test]
async fn sessions_are_listed_ended_and_logged_out() {
    let app = TestApp::new().await;
    let first = app.signed_up("heidi@example.com").await;
    let second = app.login("heidi@example.com").await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = app.get("/api/v1/me/sessions", &first).await;
    assert_eq!(list.json.as_array().unwrap().len(), 2);
    let other = list
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
            &format!("/api/v1/me/sessions/{other}"),
            Some(&first),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .call(Method::POST, "/api/v1/logout", Some(&first), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &first).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    let app = TestApp::new().await;
    let s = app.signed_up("ivan@example.com").await;
    app.advance(29 * 60);
    assert_eq!(app.get("/api/v1/me", &s).await.status, StatusCode::OK);
    app.advance(31 * 60);
    assert_eq!(
        app.get("/api/v1/me", &s).await.status,
        StatusCode::UNAUTHORIZED,
        "idle 31 minutes"
    );
    let s = app.login("ivan@example.com").await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..25 {
        app.advance(29 * 60);
        let _ = app.get("/api/v1/me", &s).await;
    }
    assert_eq!(
        app.get("/api/v1/me", &s).await.status,
        StatusCode::UNAUTHORIZED,
        "past 12 hours"
    );
}

#[tokio::test]
async fn activity_records_sign_ins_and_changes_newest_first_with_paging() {
    let app = TestApp::new().await;
    let user = app.enrolled("judy@example.com").await;
    let _ = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": user.email, "password": "wrong password, but long"}),
        )
        .await;
    let challenge = app.challenge(&user.email).await;
    let _ = app.verify(&challenge, "totp", "123456").await;
    let all = app
        .get("/api/v1/me/activity?limit=200", &user.session)
        .await;
    assert_eq!(all.status, StatusCode::OK);
    let events = all.json["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("sign_in", "wrong_password")), "{kinds:?}");
    assert!(
        kinds.contains(&("sign_in", "second_factor_required")),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("method_added", "success")), "{kinds:?}");
    assert!(kinds.contains(&("two_step_on", "success")), "{kinds:?}");
    assert_eq!(events[0]["kind"], "second_step", "newest first");
    assert_eq!(events[0]["method"], "totp");
    assert_eq!(events[0]["user_agent"], "nidan-test/1.0 (Linux)");
    assert!(events[0]["at"].as_str().unwrap().ends_with('Z'));
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    let page1 = app.get("/api/v1/me/activity?limit=2", &user.session).await;
    assert_eq!(page1.json["events"].as_array().unwrap().len(), 2);
    let next = page1.json["next"].as_i64().unwrap();
    let page2 = app
        .get(
            &format!("/api/v1/me/activity?limit=2&before={next}"),
            &user.session,
        )
        .await;
    assert_eq!(page2.json["events"][0]["id"], json!(ids[2]));
    let bad = app
        .get("/api/v1/me/activity?limit=abc", &user.session)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn apps_verify_codes_with_an_api_key_sharing_replay_state_with_sign_in() {
    let app = TestApp::new().await;
    let user = app.enrolled("kim@example.com").await;
    let (_, key) = app
        .service
        .create_api_key("shop", &["verify"])
        .await
        .unwrap();
    let key = key.expose().to_owned();

    let code = app.code(&user.secret);
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": user.email, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, json!({"valid": true, "method": "totp"}));
    // Replay through the API...
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": user.email, "code": code}),
        )
        .await;
    assert_eq!(r.json, json!({"valid": false, "reason": "replayed"}));
    // ...and through sign-in.
    let challenge = app.challenge(&user.email).await;
    assert_eq!(
        app.verify(&challenge, "totp", &code).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The other way round: used at sign-in, refused to the app.
    app.advance(30);
    let code = app.code(&user.secret);
    assert_eq!(
        app.verify(&challenge, "totp", &code).await.status,
        StatusCode::OK
    );
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": user.email, "code": code}),
        )
        .await;
    assert_eq!(r.json["valid"], false);

    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": "nobody@example.com", "code": "123456"}),
        )
        .await;
    assert_eq!(r.json, json!({"valid": false, "reason": "unknown_user"}));
    let _ = app.signed_up("lee@example.com").await;
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": "lee@example.com", "code": "123456"}),
        )
        .await;
    assert_eq!(r.json, json!({"valid": false, "reason": "not_enrolled"}));
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": user.email, "code": user.recovery_codes[3]}),
        )
        .await;
    assert_eq!(r.json, json!({"valid": true, "method": "recovery"}));

    // Every settled app check is in the user's activity, written with its outcome by the
    // settling transaction: newest first, the recovery code, the code used at sign-in, the
    // replay, the first success.
    let events = app
        .get("/api/v1/me/activity?limit=200", &user.session)
        .await
        .json["events"]
        .as_array()
        .unwrap()
        .clone();
    let checks: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e["kind"] == "app_verify")
        .map(|e| {
            (
                e["method"].as_str().unwrap(),
                e["result"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("recovery", "success", "app: shop"),
            ("totp", "replayed", "app: shop"),
            ("totp", "replayed", "app: shop"),
            ("totp", "success", "app: shop"),
        ],
        "{events:?}"
    );

    // Keys: wrong, missing, a session token, revoked.
    let r = app
        .post(
            "/api/v1/verify",
            Some("ndk_not-a-key"),
            json!({"user": user.email, "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .post(
            "/api/v1/verify",
            None,
            json!({"user": user.email, "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .post(
            "/api/v1/verify",
            Some(&user.session),
            json!({"user": user.email, "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.service.revoke_api_key("shop").await.unwrap();
    let r = app
        .post(
            "/api/v1/verify",
            Some(&key),
            json!({"user": user.email, "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "ok"));
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let _ = app.signed_up("mia@example.com").await;
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert!(
        r.text.contains(
            "nidan_http_requests_total{route=\"/api/v1/login\",method=\"POST\",status=\"200\"} 1"
        ),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("nidan_http_request_duration_seconds_bucket{route=\"/api/v1/login\""),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(
            "nidan_verifications_total{path=\"password\",method=\"password\",result=\"success\"} 1"
        ),
        "{}",
        r.text
    );
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.json["openapi"], "3.1.0");
    assert!(r.json["paths"]["/api/v1/login/verify"]["post"].is_object());
}
