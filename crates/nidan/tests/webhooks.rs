//! The operator's webhooks against a real HTTP receiver: security events arrive signed (the
//! receiver checks `Nidan-Signature` with the shared secret and the replay window), in order,
//! only the events asked for, and a receiver that fails gets them again later.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Server, free_port, nidan_in};
use crate::journey::{log_file, tls_provider, unix_now, wait_for_port};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// One POST as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    signature: String,
    event_id: String,
    body: String,
}

/// What the receiver got, and how many POSTs it answered.
type Got = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<u32>>);

/// A receiver that answers its first POST with 500 and the rest with 204; its port.
fn receiver() -> (u16, Got) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let calls: Arc<Mutex<u32>> = Arc::default();
    let (got2, calls2) = (got.clone(), calls.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            // Read the head, then as much body as Content-Length says.
            let (head, body) = loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break (String::new(), String::new()),
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while data.len() < end + 4 + len {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => data.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&data[end + 4..]).into_owned();
                    break (head, body);
                }
            };
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let mut n = calls2.lock().unwrap();
            *n += 1;
            let status = if *n == 1 {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            if *n > 1 {
                got2.lock().unwrap().push(Received {
                    signature: header("nidan-signature"),
                    event_id: header("nidan-event-id"),
                    body,
                });
            }
            drop(n);
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (port, (got, calls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_reach_a_webhook_signed_in_order_and_again_after_a_failure() {
    tls_provider();
    let (hook_port, (got, calls)) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let hooks = format!(
        r#"[{{name = "siem", url = "http://127.0.0.1:{hook_port}/nidan", events = ["sign_in"], secret = "{SECRET}"}}]"#
    );
    let mut cmd = nidan_in(dir.path());
    cmd.arg("serve")
        .env("NIDAN_SERVER_LISTEN", format!("127.0.0.1:{port}"))
        .env("NIDAN_WEBHOOKS", hooks)
        .stdout(Stdio::null())
        .stderr(log_file(dir.path(), "nidan.log"));
    let mut server = Server(cmd.spawn().unwrap());
    wait_for_port(port, "nidan", &mut server.0, &dir.path().join("nidan.log"));

    let http = reqwest::Client::new();
    let post =
        |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
    let password = "correct horse battery staple";
    post(
        "/api/v1/users",
        serde_json::json!({"email": "hook@example.com", "password": password}),
    )
    .await
    .unwrap();
    post(
        "/api/v1/login",
        serde_json::json!({"email": "hook@example.com", "password": "wrong but long enough"}),
    )
    .await
    .unwrap();
    post(
        "/api/v1/login",
        serde_json::json!({"email": "hook@example.com", "password": password}),
    )
    .await
    .unwrap();

    // The first try fails (500); the retry comes 5 s later with both events.
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the events never arrived (calls: {}); log:\n{}",
            calls.lock().unwrap(),
            std::fs::read_to_string(dir.path().join("nidan.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = got.lock().unwrap().clone();
    assert!(
        *calls.lock().unwrap() >= 3,
        "the failed delivery was tried again"
    );
    let events: Vec<serde_json::Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "sign_in");
    assert_eq!(
        events[0]["result"], "wrong_password",
        "in order: {events:?}"
    );
    assert_eq!(events[1]["result"], "success");
    assert_eq!(events[0]["user"]["email"], "hook@example.com");
    assert!(
        events.iter().all(|e| e["event"] == "sign_in"),
        "only the events asked for (no sign-up): {events:?}"
    );
    for r in &got {
        assert!(
            nidan_domain::webhook_signature_valid(
                SECRET.as_bytes(),
                &r.signature,
                r.body.as_bytes(),
                unix_now()
            ),
            "a valid signature: {}",
            r.signature
        );
        assert!(!nidan_domain::webhook_signature_valid(
            b"another secret, as long",
            &r.signature,
            r.body.as_bytes(),
            unix_now()
        ));
        let id: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.event_id, id["id"].as_str().unwrap());
    }
}
