//! SMS over real HTTP: the webhook and the Twilio Messages API, against a local axum server that
//! records each request and answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use nidan_delivery::SmsConfig;
use nidan_service::courier::{Channel, CodePurpose, Courier as _, Locale};

use crate::common::{code, courier};

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Gateway {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Statuses to answer, in order; the last one repeats.
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Gateway {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(gateway): State<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    gateway.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let mut script = gateway.script.lock().unwrap();
    let status = if script.len() > 1 {
        script.pop_front().unwrap()
    } else {
        script.front().copied().unwrap_or(200)
    };
    (StatusCode::from_u16(status).unwrap(), "{}")
}

/// A gateway on loopback answering `statuses` in turn (the last one repeats).
async fn gateway(statuses: &[u16]) -> (Gateway, String) {
    let gateway = Gateway::default();
    gateway.script.lock().unwrap().extend(statuses);
    let app = axum::Router::new()
        .fallback(record)
        .with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (gateway, base)
}

fn webhook(base: &str) -> SmsConfig {
    SmsConfig::Webhook {
        url: format!("{base}/hooks/sms"),
        authorization: Some("Bearer hook-token".into()),
    }
}

fn twilio(base: &str) -> SmsConfig {
    SmsConfig::Twilio {
        account_sid: "AC123".into(),
        auth_token: "twilio-token".into(),
        from: "+15005550006".into(),
        base_url: format!("{base}/"),
    }
}

fn sms_code(locale: Locale) -> nidan_service::courier::CodeMessage {
    code(
        Channel::Sms,
        "+819012345678",
        "123456",
        CodePurpose::SignIn,
        locale,
    )
}

#[tokio::test]
async fn the_webhook_gets_a_json_post_with_the_authorization_header() {
    let (gateway, base) = gateway(&[200]).await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, webhook(&base));
    assert_eq!(courier.sms_provider(), "webhook");

    courier.send_code(&sms_code(Locale::En)).await.unwrap();

    let seen = gateway.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/hooks/sms");
    assert_eq!(request.headers["authorization"], "Bearer hook-token");
    assert!(
        request.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(json["to"], "+819012345678");
    assert_eq!(
        json["body"],
        "nidan: 123456 is your verification code. It expires in 5 minutes."
    );
    assert_eq!(
        json.as_object().unwrap().len(),
        2,
        "exactly to and body: {json}"
    );
    assert!(!dir.path().join("outbox.jsonl").exists());
    assert!(courier.delivery_counts().contains(&("sms", "sent", 1)));
}

#[tokio::test]
async fn twilio_gets_a_form_post_with_basic_auth() {
    let (gateway, base) = gateway(&[201]).await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, twilio(&base));
    assert_eq!(courier.sms_provider(), "twilio");

    courier.send_code(&sms_code(Locale::Ja)).await.unwrap();

    let seen = gateway.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/2010-04-01/Accounts/AC123/Messages.json");
    // base64("AC123:twilio-token")
    assert_eq!(
        request.headers["authorization"],
        "Basic QUMxMjM6dHdpbGlvLXRva2Vu"
    );
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("To"), Some("+819012345678"));
    assert_eq!(field("From"), Some("+15005550006"));
    assert_eq!(
        field("Body"),
        Some("nidan: 確認コードは 123456 です。有効期限は5分です。")
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_the_third_try() {
    for config in [webhook as fn(&str) -> SmsConfig, twilio] {
        let (gateway, base) = gateway(&[500, 503, 201]).await;
        let dir = tempfile::tempdir().unwrap();
        let courier = courier(dir.path(), None, config(&base));
        let started = std::time::Instant::now();
        courier.send_code(&sms_code(Locale::En)).await.unwrap();
        assert_eq!(gateway.requests().len(), 3);
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(900),
            "backoff"
        );
    }
}

#[tokio::test]
async fn a_client_error_fails_at_once() {
    for config in [webhook as fn(&str) -> SmsConfig, twilio] {
        let (gateway, base) = gateway(&[400]).await;
        let dir = tempfile::tempdir().unwrap();
        let courier = courier(dir.path(), None, config(&base));
        let err = courier.send_code(&sms_code(Locale::En)).await.unwrap_err();
        assert_eq!(gateway.requests().len(), 1, "no retry on 4xx");
        assert!(err.0.contains("400"), "{}", err.0);
        assert!(!err.0.contains("123456"));
        assert!(courier.delivery_counts().contains(&("sms", "failed", 1)));
    }
}

#[tokio::test]
async fn a_server_that_keeps_failing_fails_after_three_tries() {
    let (gateway, base) = gateway(&[500]).await;
    let dir = tempfile::tempdir().unwrap();
    let courier = courier(dir.path(), None, webhook(&base));
    let err = courier.send_code(&sms_code(Locale::En)).await.unwrap_err();
    assert_eq!(gateway.requests().len(), 3);
    assert!(
        err.0.contains("500") && err.0.contains("3 tries"),
        "{}",
        err.0
    );
    assert!(
        !dir.path().join("outbox.jsonl").exists(),
        "not diverted to the outbox"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_without_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = SmsConfig::Webhook {
        url: format!("http://127.0.0.1:{port}/send?key=query-secret"),
        authorization: None,
    };
    let courier = courier(dir.path(), None, config);
    let err = courier.send_code(&sms_code(Locale::En)).await.unwrap_err();
    assert!(err.0.contains("3 tries"), "{}", err.0);
    assert!(!err.0.contains("query-secret"), "{}", err.0);
}
