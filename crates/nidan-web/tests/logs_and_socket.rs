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
