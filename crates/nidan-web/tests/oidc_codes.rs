//! OpenID Connect codes against the test clock: a code works for 60 seconds, no longer. (The
//! whole flow with a relying-party library is in `crates/nidan/tests/oidc.rs`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use nidan_service::oidc::clients::NewClient;

use crate::common::TestApp;

const CALLBACK: &str = "http://127.0.0.1:9/cb";

async fn code_and_secret(app: &TestApp) -> (String, String) {
    let secret = app
        .service
        .add_oidc_client(NewClient {
            id: "grafana".into(),
            redirect_uris: vec![CALLBACK.into()],
            first_party: true,
            ..NewClient::default()
        })
        .await
        .unwrap()
        .unwrap();
    let session = app.signed_up("codes@example.com").await;
    let req = Request::builder()
        .uri(format!(
            "/oauth2/authorize?response_type=code&client_id=grafana&scope=openid&redirect_uri={}",
            percent_encoding::utf8_percent_encode(CALLBACK, percent_encoding::NON_ALPHANUMERIC)
        ))
        .header("cookie", format!("nidan_session={session}"))
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let to = r.headers["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (code, secret)
}

async fn redeem(app: &TestApp, code: &str, secret: &str) -> (StatusCode, serde_json::Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", "grafana"),
            ("client_secret", secret),
        ])
        .finish();
    let req = Request::builder()
        .method("POST")
        .uri("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    (r.status, r.json)
}

#[tokio::test]
async fn a_code_expires_after_a_minute() {
    let app = TestApp::new().await;
    let (code, secret) = code_and_secret(&app).await;
    app.advance(61);
    let (status, body) = redeem(&app, &code, &secret).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn a_code_works_within_its_minute_with_client_secret_post() {
    let app = TestApp::new().await;
    let (code, secret) = code_and_secret(&app).await;
    app.advance(59);
    let (status, body) = redeem(&app, &code, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["id_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert_eq!(body["token_type"], "Bearer");
}
