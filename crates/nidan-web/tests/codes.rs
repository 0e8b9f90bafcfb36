//! Codes by email and SMS, "try another method", and security notices — through the real router,
//! the real delivery crate (outbox and a real SMTP server in the test process) and SQLite.

use axum::http::{Method, StatusCode};
use nidan_delivery::testing::TestSmtpServer;
use nidan_domain::ThrottlePolicy;
use nidan_service::{CodePolicy, Policy};
use nidan_web::WebOptions;
use serde_json::json;

use crate::common::{PASSWORD, TestApp, six_digits_in};

pub(crate) const PHONE: &str = "+819012345678";

/// Signs up and turns two-step on with SMS; returns the session and the recovery codes.
pub(crate) async fn sms_user(app: &TestApp, email: &str) -> (String, Vec<String>) {
    let s = app.signed_up(email).await;
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": "090-1234-5678"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["sent_to"], "+81 **-****-5678");
    assert_eq!(r.json["expires_in"], 300);
    assert_eq!(r.json["resend_after"], 60);
    let code = app.last_code_to(PHONE);
    let r = app
        .post("/api/v1/me/sms/confirm", Some(&s), json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let codes = r.json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (s, codes)
}

#[tokio::test]
async fn sms_enrolment_and_sign_in_with_a_code_sent_at_once() {
    let app = TestApp::new().await;
    let (s, codes) = sms_user(&app, "sms@example.com").await;
    assert_eq!(
        codes.len(),
        8,
        "the first method turns two-step on with recovery codes"
    );
    let me = app.get("/api/v1/me", &s).await;
    assert_eq!(me.json["two_step"]["state"], "on");
    assert_eq!(
        me.json["two_step"]["methods"][0],
        json!({"type": "sms", "created_at": me.json["two_step"]["methods"][0]["created_at"], "hint": "+81 **-****-5678"})
    );
    assert_eq!(me.json["two_step"]["default_method"], "sms");

    let login = app.login("sms@example.com").await;
    assert_eq!(login.json["status"], "second_factor_required");
    assert_eq!(login.json["methods"], json!(["sms", "recovery"]));
    assert_eq!(login.json["code_sent_to"], "+81 **-****-5678");
    let challenge = login.json["challenge_id"].as_str().unwrap();
    let code = app.last_code_to(PHONE);
    assert!(
        !login.text.contains(&code),
        "the code never appears in a response"
    );
    let r = app.verify(challenge, "sms", &code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Single use, and bound to its challenge.
    let other = app.challenge("sms@example.com").await;
    assert_eq!(
        app.verify(&other, "sms", &code).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_sent_code_expires_and_a_resend_waits_and_keeps_the_failure_count() {
    let policy = Policy {
        throttle: ThrottlePolicy {
            free_failures: 20,
            ..ThrottlePolicy::default()
        },
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    sms_user(&app, "expiry@example.com").await;

    let challenge = app.challenge("expiry@example.com").await;
    let first = app.last_code_to(PHONE);
    // Too soon to resend.
    let r = app
        .post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.headers["retry-after"], "60");
    // Expired after 5 minutes.
    app.advance(301);
    assert_eq!(
        app.verify(&challenge, "sms", &first).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A resend works, and kills the old code.
    let r = app
        .post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let second = app.last_code_to(PHONE);
    assert_ne!(first, second);
    let r = app.verify(&challenge, "sms", &second).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn a_sent_code_allows_five_wrong_tries_and_a_resend_does_not_reset_them() {
    let policy = Policy {
        throttle: ThrottlePolicy {
            free_failures: 20,
            ..ThrottlePolicy::default()
        },
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    let s = app.signed_up("tries@example.com").await;
    let _ = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
    let right = app.last_code_to(PHONE);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        assert_eq!(
            app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": wrong}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    app.advance(61);
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "a resend: {}", r.text);
    let resent = app.last_code_to(PHONE);
    let wrong = if resent == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": wrong}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .post("/api/v1/me/sms/confirm", Some(&s), json!({"code": resent}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "five wrong tries across the resend kill the code: {}",
        r.text
    );
}

#[tokio::test]
async fn invalid_phone_numbers_get_400_and_a_new_number_kills_the_earlier_code() {
    let app = TestApp::new().await;
    let s = app.signed_up("numbers@example.com").await;
    for bad in ["12", "phone", "+81 0", "１２"] {
        let r = app
            .post(
                "/api/v1/me/sms/setup",
                Some(&s),
                json!({"password": PASSWORD, "phone": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    let _ = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
    let old = app.last_code_to(PHONE);
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": "+14155552671"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["sent_to"], "+1 ***-***-2671");
    assert_eq!(
        app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": old}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let new = app.last_code_to("+14155552671");
    assert_eq!(
        app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": new}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn email_codes_go_to_a_separate_address_when_the_operator_demands_it() {
    let policy = Policy {
        codes: CodePolicy {
            email_separate_address: true,
            ..CodePolicy::default()
        },
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    let s = app.signed_up("kintone@example.com").await;
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&s),
            json!({"password": PASSWORD, "email": "Kintone@Example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&s),
            json!({"password": PASSWORD, "email": "codes@example.net"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["sent_to"], "c***@example.net");
    let mail = app
        .outbox()
        .into_iter()
        .rev()
        .find(|m| m["to"] == "codes@example.net")
        .unwrap();
    assert_eq!(mail["subject"], "[nidan] Verification code");
    let code = six_digits_in(mail["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        app.post("/api/v1/me/email/confirm", Some(&s), json!({"code": code}))
            .await
            .status,
        StatusCode::OK
    );
    let login = app.login("kintone@example.com").await;
    assert_eq!(login.json["code_sent_to"], "c***@example.net");
}

#[tokio::test]
async fn email_codes_travel_over_real_smtp_in_the_accounts_language() {
    let smtp = TestSmtpServer::start().await;
    let app =
        TestApp::with_delivery(Policy::default(), WebOptions::default(), Some(smtp.url())).await;
    let r = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/v1/users")
                .header("content-type", "application/json")
                .header("accept-language", "ja-JP,ja;q=0.9,en;q=0.5")
                .body(axum::body::Body::from(
                    json!({"email": "taro@example.jp", "password": PASSWORD}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = app.login("taro@example.jp").await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&s),
            json!({"password": PASSWORD, "email": "taro.codes@example.jp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let mails = smtp.messages();
    let mail = mails.last().unwrap();
    assert_eq!(mail.to, vec!["taro.codes@example.jp".to_owned()]);
    let data = mail.data.clone();
    assert!(data.contains("Subject:"), "{data}");
    // The code is in the message (decoded text part or raw); find a 6-digit run and use it.
    let decoded = decode_mime_loosely(&data);
    let code = six_digits_in(&decoded).unwrap_or_else(|| panic!("no code in {decoded}"));
    assert!(
        decoded.contains("確認コード") || data.contains("=?utf-8?"),
        "Japanese mail: {decoded}"
    );
    let r = app
        .post("/api/v1/me/email/confirm", Some(&s), json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Decodes quoted-printable and base64 bodies well enough to read a code.
fn decode_mime_loosely(raw: &str) -> String {
    let mut out = raw.replace("=\r\n", "").replace("=\n", "");
    // Quoted-printable bytes.
    let bytes = out.as_bytes().to_vec();
    let mut qp = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16).ok())
            .flatten();
        if let Some(b) = hex {
            qp.push(b);
            i += 3;
            continue;
        }
        qp.push(bytes[i]);
        i += 1;
    }
    out = String::from_utf8_lossy(&qp).into_owned();
    // Base64 parts.
    for line in raw.lines() {
        let l = line.trim();
        let looks_base64 = l.len() >= 16
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=');
        if let Some(b) = looks_base64
            .then(|| data_encoding::BASE64.decode(l.as_bytes()).ok())
            .flatten()
        {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

#[tokio::test]
async fn try_another_method_sends_an_sms_to_a_totp_user_and_a_failing_gateway_keeps_the_challenge()
{
    let app = TestApp::new().await;
    let user = app.enrolled("both@example.com").await;
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "phone": PHONE, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "a new number needs the password and a current code: {}",
        r.text
    );
    let code = app.last_code_to(PHONE);
    let r = app
        .post(
            "/api/v1/me/sms/confirm",
            Some(&user.session),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json.get("recovery_codes").is_none(),
        "codes come only with the first method"
    );

    let login = app.login(&user.email).await;
    assert_eq!(login.json["methods"], json!(["totp", "sms", "recovery"]));
    assert_eq!(login.json["default_method"], "totp");
    assert!(login.json.get("code_sent_to").is_none());
    let challenge = login.json["challenge_id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "sms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = app
        .post(
            "/api/v1/login/send-code",
            None,
            json!({"challenge_id": challenge, "method": "email"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "not a method of this account"
    );
    let r = app.verify(challenge, "sms", &app.last_code_to(PHONE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn a_failing_smtp_server_gives_502_and_the_challenge_stays_usable() {
    let smtp = TestSmtpServer::start_failing().await;
    let app =
        TestApp::with_delivery(Policy::default(), WebOptions::default(), Some(smtp.url())).await;
    let user = app.enrolled("outage@example.com").await;
    // Enrol email while the server works? It fails: setup answers 502 and nothing is stored.
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "email": "x@example.org", "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "delivery_failed");
    // The challenge of a sign-in stays usable with another method.
    app.advance(30);
    let challenge = app.challenge(&user.email).await;
    let r = app
        .verify(&challenge, "totp", &app.code(&user.secret))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains("nidan_code_deliveries_total{channel=\"email\",result=\"failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn security_notices_are_queued_and_survive_an_smtp_outage_and_a_restart() {
    let failing = TestSmtpServer::start_failing().await;
    let app = TestApp::with_delivery(
        Policy::default(),
        WebOptions::default(),
        Some(failing.url()),
    )
    .await;
    let user = app.enrolled("notices@example.com").await;
    // Changes while the mail server is down.
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&user.session),
            json!({"password": PASSWORD, "code": app.code(&user.secret), "state": "off"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the change never waits for the notice: {}",
        r.text
    );
    assert_eq!(
        app.service.deliver_notices(50).await,
        0,
        "nothing can be sent now"
    );

    // A restart with a working mail server: every notice arrives, retried after its delay.
    let smtp = TestSmtpServer::start().await;
    let restarted = app.restarted(Some(smtp.url())).await;
    restarted.advance(3600);
    let sent = restarted.service.deliver_notices(50).await;
    assert!(sent >= 3, "method added, two-step on, two-step off: {sent}");
    let subjects: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| {
            m.data
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(subjects.len(), sent);
    assert!(
        smtp.messages()
            .iter()
            .all(|m| m.to == vec!["notices@example.com".to_owned()])
    );
    assert_eq!(
        restarted.service.deliver_notices(50).await,
        0,
        "each notice once"
    );
}

#[tokio::test]
async fn a_right_password_without_a_second_step_is_reported() {
    let app = TestApp::new().await;
    let user = app.enrolled("unfinished@example.com").await;
    app.service.deliver_notices(50).await;
    let before = app.outbox().len();
    let _ = app.challenge(&user.email).await;
    app.advance(5 * 60);
    assert_eq!(
        app.service.report_unfinished_sign_ins().await,
        0,
        "not yet: 10 minutes"
    );
    app.advance(6 * 60);
    assert_eq!(app.service.report_unfinished_sign_ins().await, 1);
    assert_eq!(
        app.service.report_unfinished_sign_ins().await,
        0,
        "reported once"
    );
    assert_eq!(app.service.deliver_notices(50).await, 1);
    let mail = &app.outbox()[before];
    assert_eq!(mail["to"], "unfinished@example.com");
    assert!(
        mail["body"].as_str().unwrap().contains("nidan-test/1.0"),
        "{mail}"
    );
}

#[tokio::test]
async fn sms_only_users_step_up_with_a_code_sent_for_the_session() {
    let app = TestApp::new().await;
    let (s, _) = sms_user(&app, "stepup@example.com").await;
    app.advance(61);
    let r = app
        .post("/api/v1/me/send-code", Some(&s), json!({"method": "sms"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to(PHONE);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&s),
            json!({"password": PASSWORD, "code": code, "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&s),
            json!({"password": PASSWORD, "code": code, "state": "on"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the step-up code works once"
    );
}

#[tokio::test]
async fn the_user_picks_the_default_method_and_the_language_of_emails() {
    let app = TestApp::new().await;
    let user = app.enrolled("default@example.com").await;
    let r = app.post("/api/v1/me/email/setup", Some(&user.session), json!({"password": PASSWORD, "email": "codes@example.org", "code": app.code(&user.secret)})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to("codes@example.org");
    assert_eq!(
        app.post(
            "/api/v1/me/email/confirm",
            Some(&user.session),
            json!({"code": code})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(app.login(&user.email).await.json["default_method"], "totp");

    let r = app
        .call(
            Method::PUT,
            "/api/v1/me/default-method",
            Some(&user.session),
            Some(json!({"method": "email"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app
        .call(
            Method::PUT,
            "/api/v1/me/default-method",
            Some(&user.session),
            Some(json!({"method": "sms"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "not enrolled: {}",
        r.text
    );
    let r = app
        .call(
            Method::PUT,
            "/api/v1/me/locale",
            Some(&user.session),
            Some(json!({"locale": "ja"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .call(
            Method::PUT,
            "/api/v1/me/locale",
            Some(&user.session),
            Some(json!({"locale": "fr"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    app.advance(61);
    let login = app.login(&user.email).await;
    assert_eq!(login.json["default_method"], "email");
    assert_eq!(
        login.json["code_sent_to"], "c***@example.org",
        "the code goes out at once"
    );
    let mail = app
        .outbox()
        .into_iter()
        .rev()
        .find(|m| m["to"] == "codes@example.org")
        .unwrap();
    assert!(
        mail["subject"].as_str().unwrap().contains("確認コード"),
        "Japanese now: {mail}"
    );
}

#[tokio::test]
async fn an_operator_can_turn_a_method_off_for_new_enrolments() {
    use nidan_domain::Method as M;
    let policy = Policy {
        enabled_methods: vec![M::Totp, M::Sms],
        ..Policy::default()
    };
    let app = TestApp::with_policy(policy).await;
    let user = app.enrolled("methods@example.com").await;
    let r = app
        .post(
            "/api/v1/me/email/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "email": "x@example.org", "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "forbidden");
    assert!(
        app.outbox().iter().all(|m| m["to"] != "x@example.org"),
        "nothing was sent"
    );
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&user.session),
            json!({"password": PASSWORD, "phone": PHONE, "code": app.code(&user.secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);

    let totp_off = TestApp::with_policy(Policy {
        enabled_methods: vec![M::Email],
        ..Policy::default()
    })
    .await;
    let s = totp_off.signed_up("noapp@example.com").await;
    let r = totp_off
        .post(
            "/api/v1/me/totp/setup",
            Some(&s),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

#[tokio::test]
async fn resending_while_adding_a_number_waits_its_turn_and_kills_the_earlier_code() {
    let app = TestApp::new().await;
    let s = app.signed_up("resend@example.com").await;
    let r = app.post("/api/v1/me/sms/resend", Some(&s), json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "nothing is being added yet: {}",
        r.text
    );
    let _ = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            json!({"password": PASSWORD, "phone": PHONE}),
        )
        .await;
    let first = app.last_code_to(PHONE);
    let r = app
        .call(Method::POST, "/api/v1/me/sms/resend", Some(&s), None)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    app.advance(61);
    let r = app
        .call(Method::POST, "/api/v1/me/sms/resend", Some(&s), None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.json["sent_to"], "+81 **-****-5678");
    let second = app.last_code_to(PHONE);
    if first != second {
        assert_eq!(
            app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": first}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.post("/api/v1/me/sms/confirm", Some(&s), json!({"code": second}))
            .await
            .status,
        StatusCode::OK
    );
}
