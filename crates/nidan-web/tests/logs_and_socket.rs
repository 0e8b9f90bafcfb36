//! Logs never carry a secret, and the router works over a real socket.

use serde_json::json;

use crate::common::{PASSWORD, TestApp, logs};

#[tokio::test]
async fn logs_at_trace_level_hold_no_secret() {
    let captured = logs::capture(tracing::Level::TRACE);

    let app = TestApp::new().await;
    let user = app.enrolled("logs@example.com").await;
    let challenge = app.challenge(&user.email).await;
    let code = app.code(&user.secret);
    let r = app.post("/api/v1/login/verify", None, json!({"challenge_id": challenge, "method": "totp", "code": code, "remember_device": true})).await;
    let session = r.json["session_token"].as_str().unwrap().to_owned();
    let device = r.json["device_token"].as_str().unwrap().to_owned();
    let (_, key) = app
        .service
        .create_api_key("logs", &["verify"])
        .await
        .unwrap();
    // A replay is logged as a warning: it must not carry the code.
    let _ = app
        .post(
            "/api/v1/verify",
            Some(key.expose()),
            json!({"user": user.email, "code": code}),
        )
        .await;
    let c2 = app.challenge(&user.email).await;
    let _ = app.verify(&c2, "recovery", &user.recovery_codes[0]).await;

    let logs = captured.text();
    assert!(
        logs.contains("a used code was submitted again"),
        "the replay warning was captured: logging works"
    );
    let mut needles = vec![
        PASSWORD.to_owned(),
        user.secret.to_base32(),
        session,
        user.session.clone(),
        device,
        challenge,
        c2,
        key.expose().to_owned(),
    ];
    needles.extend(user.recovery_codes.iter().cloned());
    needles.extend(
        user.recovery_codes
            .iter()
            .map(|c| c.to_uppercase().replace('-', "")),
    );
    for needle in needles {
        assert!(
            !logs.contains(&needle),
            "a secret reached the logs: {needle}"
        );
    }
}

#[tokio::test]
async fn the_router_serves_over_a_real_socket() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = json!({"email": "socket@example.com", "password": PASSWORD}).to_string();
    let request = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(
        response.contains("\"email\":\"socket@example.com\""),
        "{response}"
    );
    assert!(
        response
            .to_ascii_lowercase()
            .contains("cache-control: no-store")
    );
    server.abort();
}

/// Every answer names its request id (a trusted proxy's, or a new one), every log line of the
/// request carries it, and each request leaves one access line with the route template (never the
/// raw path or query) and its status; security events are logged as `nidan::audit` events.
#[tokio::test]
async fn requests_have_ids_access_lines_and_audit_events() {
    let captured = logs::capture(tracing::Level::INFO);
    let options = nidan_web::WebOptions {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..Default::default()
    };
    let app = TestApp::with(Default::default(), options).await;
    let with_id = |ip: &str, id: &str, path: &str| {
        let mut req = crate::common::request(Some(ip), axum::http::Method::GET, path, None, None);
        req.headers_mut()
            .insert("x-request-id", id.parse().unwrap());
        req
    };
    let r = app.send(with_id("10.0.0.2", "edge-42", "/healthz")).await;
    assert_eq!(
        r.headers["x-request-id"], "edge-42",
        "a trusted proxy's id is kept"
    );
    let r = app
        .send(with_id("192.0.2.9", "made-up-1", "/healthz"))
        .await;
    let own = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        !own.is_empty() && own != "made-up-1",
        "anyone else's is replaced: {own}"
    );
    let r = app
        .send(with_id("10.0.0.2", "bad id with spaces", "/healthz"))
        .await;
    assert_ne!(r.headers["x-request-id"], "bad id with spaces");
    let r = app
        .send(with_id(
            "10.0.0.2",
            "edge-43",
            "/api/v1/me/sessions?token=secret-in-query",
        ))
        .await;
    assert_eq!(r.status, axum::http::StatusCode::UNAUTHORIZED);

    app.signed_up("audit@example.com").await;
    let r = app
        .post(
            "/api/v1/login",
            None,
            json!({"email": "audit@example.com", "password": "not the password at all"}),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::UNAUTHORIZED);

    let logs = captured.text();
    let access: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("nidan::access"))
        .collect();
    assert!(
        access.iter().any(|l| l.contains("request_id=edge-42")
            && l.contains("route=/healthz")
            && l.contains("status=200")),
        "{logs}"
    );
    assert!(
        access.iter().any(|l| l.contains("request_id=edge-43")
            && l.contains("route=/api/v1/me/sessions ")
            && l.contains("status=401")),
        "{logs}"
    );
    assert!(
        !logs.contains("secret-in-query"),
        "no raw path or query in the logs"
    );
    assert!(
        logs.lines().any(|l| l.contains("nidan::audit")
            && l.contains("event=\"sign_in\"")
            && l.contains("result=\"wrong_password\"")),
        "{logs}"
    );
}
