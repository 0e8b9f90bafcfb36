//! Security keys and passkeys through the API, with a software authenticator that makes real
//! WebAuthn objects: registration (step-up, the first key turning two-step on with recovery
//! codes), sign-in as the second step, and every refusal the relying party owes: wrong origin,
//! wrong rp id, a replayed answer, a challenge answered twice, a counter going back, another
//! user's key; failures counted like wrong codes; removal with step-up.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::softkey::{Claim, SoftKey};
use crate::common::{PASSWORD, Response, TestApp};

/// The origin of `Policy::default()`'s `public_url`.
const ORIGIN: &str = "http://localhost:8080";
/// A phishing site that looks like nidan's host.
const PHISHING: &str = "http://localhost.evil.example";

/// A user with a registered security key (the first method: two-step is on).
struct KeyUser {
    email: String,
    session: String,
    key: SoftKey,
    recovery_codes: Vec<String>,
}

async fn register_start(app: &TestApp, session: &str, body: Value) -> Response {
    app.post("/api/v1/me/webauthn/register/start", Some(session), body)
        .await
}

async fn register_finish(app: &TestApp, session: &str, name: &str, credential: Value) -> Response {
    app.post(
        "/api/v1/me/webauthn/register/finish",
        Some(session),
        json!({"name": name, "credential": credential}),
    )
    .await
}

async fn key_user(app: &TestApp, email: &str) -> KeyUser {
    let session = app.signed_up(email).await;
    let r = register_start(app, &session, json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let options = &r.json["options"];
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert_eq!(options["attestation"], "none", "{options}");
    let mut key = SoftKey::default();
    let credential = key.create(options, Claim::at(ORIGIN));
    let r = register_finish(app, &session, "YubiKey 5", credential).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let recovery_codes: Vec<String> = r.json["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("the first key hands out recovery codes: {}", r.text))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 8);
    KeyUser {
        email: email.to_owned(),
        session,
        key,
        recovery_codes,
    }
}

/// A sign-in up to the security-key step: (challenge id, the options for the key).
async fn key_step(app: &TestApp, email: &str) -> (String, Value) {
    let r = app.login(email).await;
    assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
    assert_eq!(r.json["default_method"], "webauthn", "{}", r.text);
    assert_eq!(r.json["methods"][0], "webauthn", "{}", r.text);
    let challenge = r.json["challenge_id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/login/webauthn/start",
            None,
            json!({"challenge_id": challenge}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (challenge, r.json["options"].clone())
}

/// A whole sign-in with `user`'s newest key, answering as a browser at `claim`.
async fn key_sign_in(app: &TestApp, user: &mut KeyUser, claim: Claim<'_>) -> Response {
    let (challenge, options) = key_step(app, &user.email).await;
    let credential = user.key.get(&options, claim);
    answer(app, &challenge, &credential).await
}

async fn answer(app: &TestApp, challenge: &str, credential: &Value) -> Response {
    app.post(
        "/api/v1/login/verify",
        None,
        json!({"challenge_id": challenge, "method": "webauthn", "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn a_first_key_turns_two_step_on_and_signs_in() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "kei@example.com").await;

    let me = app.get("/api/v1/me", &user.session).await;
    assert_eq!(me.json["two_step"]["state"], "on", "{}", me.text);
    assert_eq!(
        me.json["two_step"]["methods"][0]["type"], "webauthn",
        "{}",
        me.text
    );
    assert_eq!(
        me.json["two_step"]["methods"][0]["hint"], "YubiKey 5",
        "{}",
        me.text
    );
    assert_eq!(
        me.json["two_step"]["default_method"], "webauthn",
        "{}",
        me.text
    );
    let keys = app.get("/api/v1/me/webauthn", &user.session).await;
    assert_eq!(keys.json["keys"][0]["name"], "YubiKey 5", "{}", keys.text);
    assert_eq!(keys.json["keys"][0]["passkey"], false);
    assert!(keys.json["keys"][0]["last_used_at"].is_null());

    let (challenge, options) = key_step(&app, &user.email).await;
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    let credential = user.key.get(&options, Claim::at(ORIGIN));
    let r = answer(&app, &challenge, &credential).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "signed_in");
    let session = r.json["session_token"].as_str().unwrap();
    let keys = app.get("/api/v1/me/webauthn", session).await;
    assert!(
        keys.json["keys"][0]["last_used_at"].is_string(),
        "{}",
        keys.text
    );
    // The history names the method.
    let history = app.get("/api/v1/me/activity", session).await;
    assert!(
        history.text.contains("\"second_step\"") && history.text.contains("\"webauthn\""),
        "{}",
        history.text
    );
    // The notice of the new key went out.
    app.service.deliver_notices(50).await;
    assert!(
        app.outbox().iter().any(|m| m["body"]
            .as_str()
            .is_some_and(|b| b.contains("security key or passkey"))),
        "{:?}",
        app.outbox()
    );
}

#[tokio::test]
async fn answers_from_elsewhere_are_refused_and_counted() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "eve-target@example.com").await;

    // A phishing site's origin.
    let r = key_sign_in(&app, &mut user, Claim::at(PHISHING)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "invalid_code", "{}", r.text);

    // The right origin but another rp id (a key registered elsewhere).
    let (challenge, options) = key_step(&app, &user.email).await;
    let other_rp = user.key.get(
        &options,
        Claim {
            origin: ORIGIN,
            rp_id: Some("evil.example"),
        },
    );
    let r = answer(&app, &challenge, &other_rp).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // Both counted against the account, as wrong codes are.
    assert_eq!(crate::common::failures(&app, &user.email).await, 2);

    // The owner's own answer still works (and clears the count).
    let r = key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(crate::common::failures(&app, &user.email).await, 0);
}

/// Security keys are guessed against like every factor: after 5 refused answers in a row the
/// account's delay starts, and even the owner's right answer is answered 429 with `Retry-After`
/// (as the second step and as a passkey sign-in), with nothing settled.
#[tokio::test]
async fn a_throttled_account_s_key_answers_wait_like_codes() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "throttled-key@example.com").await;
    for _ in 0..5 {
        let r = key_sign_in(&app, &mut user, Claim::at(PHISHING)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    let r = key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1, "Retry-After: {wait}");
    assert_eq!(crate::common::failures(&app, &user.email).await, 5);

    let mut passkey = passkey_user(&app, "throttled-passkey@example.com").await;
    for _ in 0..5 {
        let (ceremony, options) = passkey_start(&app).await;
        let phished = passkey.key.get(&options, Claim::at(PHISHING));
        let r = passkey_finish(&app, &ceremony, &phished).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    let (ceremony, options) = passkey_start(&app).await;
    let right = passkey.key.get(&options, Claim::at(ORIGIN));
    let r = passkey_finish(&app, &ceremony, &right).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert_eq!(crate::common::failures(&app, &passkey.email).await, 5);
}

#[tokio::test]
async fn an_answer_works_once_and_a_challenge_is_answered_once() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "once@example.com").await;

    let (challenge, options) = key_step(&app, &user.email).await;
    let first = user.key.get(&options, Claim::at(ORIGIN));
    // A second answer to the same options, made before the first is sent.
    let second = user.key.get(&options, Claim::at(ORIGIN));
    assert_eq!(
        answer(&app, &challenge, &first).await.status,
        StatusCode::OK
    );

    // The same answer again, on a new sign-in: its challenge is not this one's.
    let (challenge, _options) = key_step(&app, &user.email).await;
    let r = answer(&app, &challenge, &first).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // The options answered twice: the second answer finds the ceremony spent.
    let (challenge, options) = key_step(&app, &user.email).await;
    let a = user.key.get(&options, Claim::at("http://wrong.example"));
    let b = user.key.get(&options, Claim::at(ORIGIN));
    assert_eq!(
        answer(&app, &challenge, &a).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = answer(&app, &challenge, &b).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // `second`, made for the first (used) options, is refused too.
    let (challenge, _) = key_step(&app, &user.email).await;
    assert_eq!(
        answer(&app, &challenge, &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Without starting the key step there is nothing to answer.
    let r = app.login(&user.email).await;
    let challenge = r.json["challenge_id"].as_str().unwrap();
    let c = user.key.get(&options, Claim::at(ORIGIN));
    assert_eq!(
        answer(&app, challenge, &c).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_counter_going_back_is_refused() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "clone@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await.status,
            StatusCode::OK
        );
    }
    // A clone of the key, made when its counter was 1.
    user.key.credentials[0].counter = 1;
    let r = key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // The same counter as the last accepted one (3) is refused too.
    user.key.credentials[0].counter = 2;
    assert_eq!(
        key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Beyond it, the key works again.
    user.key.credentials[0].counter = 10;
    assert_eq!(
        key_sign_in(&app, &mut user, Claim::at(ORIGIN)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_users_key_does_not_answer_for_an_account() {
    let app = TestApp::new().await;
    let victim = key_user(&app, "victim@example.com").await;
    let mut attacker = key_user(&app, "attacker@example.com").await;
    let (challenge, options) = key_step(&app, &victim.email).await;
    // The attacker's own (registered, valid) key answers the victim's options.
    let c = attacker.key.get(&options, Claim::at(ORIGIN));
    let r = answer(&app, &challenge, &c).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(crate::common::failures(&app, &victim.email).await, 1);
}

#[tokio::test]
async fn registration_needs_step_up_and_refuses_bad_answers() {
    let app = TestApp::new().await;
    let mut user = key_user(&app, "second@example.com").await;

    // A second key: the password is not enough any more.
    let r = register_start(&app, &user.session, json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "reauth_required");
    let r = register_start(
        &app,
        &user.session,
        json!({"password": "not the password", "code": user.recovery_codes[0]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Finishing what was never started.
    let mut other = SoftKey::default();
    let fake_options =
        json!({"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"});
    let r = register_finish(
        &app,
        &user.session,
        "Nope",
        other.create(&fake_options, Claim::at(ORIGIN)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // With a recovery code as the current code; the options exclude the first key.
    let r = register_start(
        &app,
        &user.session,
        json!({"password": PASSWORD, "code": user.recovery_codes[1], "kind": "passkey"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let options = r.json["options"].clone();
    assert_eq!(options["excludeCredentials"].as_array().unwrap().len(), 1);
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    // An answer made for another origin is refused, and spends the registration.
    let wrong = user.key.create(&options, Claim::at("http://evil.example"));
    let r = register_finish(&app, &user.session, "Phone", wrong).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let right = user.key.create(&options, Claim::at(ORIGIN));
    let r = register_finish(&app, &user.session, "Phone", right).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // Again, properly: a passkey named "Phone", with no new recovery codes.
    let r = register_start(
        &app,
        &user.session,
        json!({"password": PASSWORD, "code": user.recovery_codes[2], "kind": "passkey"}),
    )
    .await;
    let options = r.json["options"].clone();
    let bad_name = user.key.create(&options, Claim::at(ORIGIN));
    let r = register_finish(&app, &user.session, " ", bad_name).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A bad name is refused before the ceremony is spent.
    let good = user.key.create(&options, Claim::at(ORIGIN));
    let r = register_finish(&app, &user.session, "Phone", good).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.json.get("recovery_codes").is_none(), "{}", r.text);
    let keys = app.get("/api/v1/me/webauthn", &user.session).await;
    let keys = keys.json["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    let phone = keys.iter().find(|k| k["name"] == "Phone").unwrap();
    assert_eq!(phone["passkey"], true, "{keys:?}");
}

#[tokio::test]
async fn removing_the_last_key_turns_two_step_off_with_step_up() {
    let app = TestApp::new().await;
    let user = key_user(&app, "remove@example.com").await;
    let keys = app.get("/api/v1/me/webauthn", &user.session).await;
    let id = keys.json["keys"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/me/webauthn/{id}");

    let r = app
        .call(
            Method::DELETE,
            &path,
            Some(&user.session),
            Some(json!({"password": PASSWORD, "code": "000000"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            "/api/v1/me/webauthn/nonexistent",
            Some(&user.session),
            Some(json!({"password": PASSWORD, "code": user.recovery_codes[0]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            &path,
            Some(&user.session),
            Some(json!({"password": PASSWORD, "code": user.recovery_codes[1]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let me = app.get("/api/v1/me", &user.session).await;
    assert_eq!(me.json["two_step"]["state"], "none", "{}", me.text);
    // Signing in needs only the password again, and the key step is gone.
    let r = app.login(&user.email).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
}

#[tokio::test]
async fn the_key_step_is_not_offered_without_a_key_and_other_methods_still_work() {
    let app = TestApp::new().await;
    let totp_user = app.enrolled("app-only@example.com").await;
    let challenge = app.challenge(&totp_user.email).await;
    let r = app
        .post(
            "/api/v1/login/webauthn/start",
            None,
            json!({"challenge_id": challenge}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A code where a credential is expected, and the other way round.
    let r = app
        .post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": challenge, "method": "webauthn", "code": "123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .post(
            "/api/v1/login/verify",
            None,
            json!({"challenge_id": challenge, "method": "totp", "credential": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // "Try another method": a key user signs in with a recovery code.
    let user = key_user(&app, "lost-key@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let r = app
        .verify(&challenge, "recovery", &user.recovery_codes[0])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// A user whose first method is a passkey.
async fn passkey_user(app: &TestApp, email: &str) -> KeyUser {
    let session = app.signed_up(email).await;
    let r = register_start(
        app,
        &session,
        json!({"password": PASSWORD, "kind": "passkey"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut key = SoftKey::default();
    let credential = key.create(&r.json["options"], Claim::at(ORIGIN));
    let r = register_finish(app, &session, "Phone", credential).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    KeyUser {
        email: email.to_owned(),
        session,
        key,
        recovery_codes: Vec::new(),
    }
}

async fn passkey_start(app: &TestApp) -> (String, Value) {
    let r = app
        .post("/api/v1/login/passkey/start", None, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json["options"]["userVerification"], "required",
        "{}",
        r.text
    );
    assert!(
        r.json["options"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        r.text
    );
    (
        r.json["ceremony_id"].as_str().unwrap().to_owned(),
        r.json["options"].clone(),
    )
}

async fn passkey_finish(app: &TestApp, ceremony: &str, credential: &Value) -> Response {
    app.post(
        "/api/v1/login/passkey/finish",
        None,
        json!({"ceremony_id": ceremony, "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn a_passkey_signs_in_without_a_password_once() {
    let app = TestApp::new().await;
    let mut user = passkey_user(&app, "passkey@example.com").await;
    let (ceremony, options) = passkey_start(&app).await;
    let answer = user.key.get(&options, Claim::at(ORIGIN));
    let r = passkey_finish(&app, &ceremony, &answer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let session = r.json["session_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", session).await;
    assert_eq!(me.json["email"], "passkey@example.com", "{}", me.text);
    let history = app.get("/api/v1/me/activity", session).await;
    assert!(history.text.contains("no password"), "{}", history.text);

    // The same answer again: its ceremony is spent, and a new one has another challenge.
    let r = passkey_finish(&app, &ceremony, &answer).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);
    let (ceremony, _) = passkey_start(&app).await;
    let r = passkey_finish(&app, &ceremony, &answer).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // A passkey that did not verify its user (no PIN, no biometric) is not enough.
    user.key.user_verified = false;
    let (ceremony, options) = passkey_start(&app).await;
    let unverified = user.key.get(&options, Claim::at(ORIGIN));
    let r = passkey_finish(&app, &ceremony, &unverified).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    user.key.user_verified = true;

    // From a phishing origin.
    let (ceremony, options) = passkey_start(&app).await;
    let phished = user.key.get(&options, Claim::at(PHISHING));
    let r = passkey_finish(&app, &ceremony, &phished).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // Each refused answer counted against the account, as a wrong code is.
    assert_eq!(crate::common::failures(&app, &user.email).await, 3);
}

#[tokio::test]
async fn a_passkey_cannot_claim_another_account() {
    let app = TestApp::new().await;
    let victim = passkey_user(&app, "victim-pk@example.com").await;
    let mut attacker = passkey_user(&app, "attacker-pk@example.com").await;
    // The attacker's own key, answering under the victim's credential id: the credential is the
    // victim's, but the user handle (and the signature) are the attacker's.
    attacker.key.credentials[0].id = victim.key.credentials[0].id.clone();
    let (ceremony, options) = passkey_start(&app).await;
    let forged = attacker.key.get(&options, Claim::at(ORIGIN));
    let r = passkey_finish(&app, &ceremony, &forged).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "invalid_credentials", "{}", r.text);
    // Now also the victim's user handle: the signature is still not the victim's key's.
    attacker.key.credentials[0].user_handle = victim.key.credentials[0].user_handle.clone();
    let (ceremony, options) = passkey_start(&app).await;
    let forged = attacker.key.get(&options, Claim::at(ORIGIN));
    let r = passkey_finish(&app, &ceremony, &forged).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(crate::common::failures(&app, &victim.email).await, 1);
}

#[tokio::test]
async fn passkey_sign_ins_are_limited_per_address_like_passwords() {
    let app = TestApp::with(
        nidan_service::Policy::default(),
        nidan_web::WebOptions {
            login_per_ip_per_minute: 3,
            ..nidan_web::WebOptions::default()
        },
    )
    .await;
    for _ in 0..3 {
        passkey_start(&app).await;
    }
    let r = app
        .post("/api/v1/login/passkey/start", None, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
}
