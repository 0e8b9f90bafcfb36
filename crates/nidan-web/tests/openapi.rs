//! The OpenAPI document is true to the server: every call the API answers is documented, and
//! every status a call returns is among the responses documented for it.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

/// One call: method, URI, the path template it matches, bearer token, JSON body.
type Call<'a> = (Method, &'a str, &'a str, Option<&'a str>, Option<Value>);

fn documented(doc: &Value, method: &Method, path: &str) -> Vec<String> {
    let op = &doc["paths"][path][method.as_str().to_lowercase()];
    assert!(
        op.is_object(),
        "{method} {path} is not in the OpenAPI document"
    );
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_answer_is_documented() {
    let app = TestApp::new().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .json;
    assert_eq!(doc["openapi"], "3.1.0");
    let user = app.enrolled("doc@example.com").await;
    let (_, key) = app
        .service
        .create_api_key("doc", &["verify"])
        .await
        .unwrap();
    let challenge = app.challenge(&user.email).await;
    let s = Some(user.session.as_str());
    let calls: Vec<Call<'_>> = vec![
        (
            Method::POST,
            "/api/v1/users",
            "/api/v1/users",
            None,
            Some(json!({"email": "doc2@example.com", "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/api/v1/users",
            "/api/v1/users",
            None,
            Some(json!({"email": "doc2@example.com", "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/api/v1/users",
            "/api/v1/users",
            None,
            Some(json!({"email": 5})),
        ),
        (
            Method::POST,
            "/api/v1/login",
            "/api/v1/login",
            None,
            Some(json!({"email": "doc@example.com", "password": "wrong password, long"})),
        ),
        (
            Method::POST,
            "/api/v1/login",
            "/api/v1/login",
            None,
            Some(json!({"email": "doc2@example.com", "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/api/v1/login/verify",
            "/api/v1/login/verify",
            None,
            Some(json!({"challenge_id": challenge, "method": "totp", "code": "12"})),
        ),
        (
            Method::POST,
            "/api/v1/login/verify",
            "/api/v1/login/verify",
            None,
            Some(json!({"challenge_id": "ndc_gone", "method": "totp", "code": "123456"})),
        ),
        (Method::GET, "/api/v1/me", "/api/v1/me", s, None),
        (Method::GET, "/api/v1/me", "/api/v1/me", None, None),
        (
            Method::GET,
            "/api/v1/me/sessions",
            "/api/v1/me/sessions",
            s,
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/me/sessions/nope",
            "/api/v1/me/sessions/{id}",
            s,
            None,
        ),
        (
            Method::GET,
            "/api/v1/me/devices",
            "/api/v1/me/devices",
            s,
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/me/devices/nope",
            "/api/v1/me/devices/{id}",
            s,
            None,
        ),
        (
            Method::GET,
            "/api/v1/me/activity?limit=3",
            "/api/v1/me/activity",
            s,
            None,
        ),
        (
            Method::GET,
            "/api/v1/me/activity?limit=0",
            "/api/v1/me/activity",
            s,
            None,
        ),
        (
            Method::GET,
            "/api/v1/me/recovery-codes",
            "/api/v1/me/recovery-codes",
            s,
            None,
        ),
        (
            Method::POST,
            "/api/v1/me/recovery-codes",
            "/api/v1/me/recovery-codes",
            s,
            Some(json!({"password": PASSWORD})),
        ),
        (
            Method::POST,
            "/api/v1/me/totp/setup",
            "/api/v1/me/totp/setup",
            s,
            Some(json!({"password": "nope nope nope nope"})),
        ),
        (
            Method::POST,
            "/api/v1/me/totp/confirm",
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": "123456"})),
        ),
        (
            Method::DELETE,
            "/api/v1/me/totp",
            "/api/v1/me/totp",
            s,
            Some(json!({"password": PASSWORD, "code": "000000"})),
        ),
        (
            Method::POST,
            "/api/v1/me/two-step",
            "/api/v1/me/two-step",
            s,
            Some(json!({"password": PASSWORD, "code": "1", "state": "off"})),
        ),
        (
            Method::DELETE,
            "/api/v1/me/two-step",
            "/api/v1/me/two-step",
            s,
            Some(json!({"password": "wrong wrong wrong wrong", "code": "123456"})),
        ),
        (
            Method::POST,
            "/api/v1/verify",
            "/api/v1/verify",
            Some(key.expose()),
            Some(json!({"user": "doc@example.com", "code": "000000"})),
        ),
        (
            Method::POST,
            "/api/v1/verify",
            "/api/v1/verify",
            None,
            Some(json!({"user": "doc@example.com", "code": "000000"})),
        ),
        (Method::POST, "/api/v1/logout", "/api/v1/logout", None, None),
        (Method::GET, "/healthz", "/healthz", None, None),
        (Method::GET, "/readyz", "/readyz", None, None),
        (Method::GET, "/metrics", "/metrics", None, None),
        (Method::POST, "/api/v1/logout", "/api/v1/logout", s, None),
    ];
    for (method, uri, template, token, body) in calls {
        let r = app.call(method.clone(), uri, token, body).await;
        let statuses = documented(&doc, &method, template);
        assert!(
            statuses.contains(&r.status.as_u16().to_string()),
            "{method} {uri} answered {} which is not documented ({statuses:?}): {}",
            r.status,
            r.text
        );
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    // And nothing documented is missing from the server: every documented path answers
    // something other than the router's 404 for its documented method.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let uri = path.replace("{id}", "x");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.call(m, &uri, None, None).await;
            assert!(
                !(r.status == StatusCode::NOT_FOUND
                    && r.json["error"]["message"] == "no such endpoint"),
                "{method} {path} is documented but not served"
            );
        }
    }
}
