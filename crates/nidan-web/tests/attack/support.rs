//! What every attack needs: exact-answer assertions, codes that are surely wrong, and snapshots of
//! the database read straight from the SQLite file (read-only, beside the running service).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use nidan_domain::{TotpSecret, totp_code};
use rusqlite::OpenFlags;
use serde_json::Value;

pub use crate::common::{
    Enrolled, PASSWORD, Response, TestApp, failures, wrong_code, wrong_code_at,
};

/// The tables that hold security state. `activity` and `notices` are left out on purpose: an
/// attack is *meant* to leave a trace there (the user reads it, or is told); tests that care read
/// them through the API or the outbox.
pub const STATE_TABLES: &[&str] = &[
    "users",
    "totp_credentials",
    "recovery_codes",
    "challenges",
    "sessions",
    "devices",
    "api_keys",
    "oob_methods",
    "oob_codes",
];

/// Every row of every state table, each row rendered with SQLite's `quote()` so blobs, NULLs and
/// integers compare exactly. Rows are sorted, so the order of insertion does not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, Vec<String>>);

impl Snapshot {
    pub async fn take(app: &TestApp) -> Snapshot {
        let conn =
            rusqlite::Connection::open_with_flags(&app.db_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let all = |sql: &str, arg: Option<&str>| -> Vec<String> {
            let mut statement = conn.prepare(sql).unwrap();
            let args: Vec<&str> = arg.into_iter().collect();
            statement
                .query_map(rusqlite::params_from_iter(args), |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let mut tables = BTreeMap::new();
        for table in STATE_TABLES {
            let columns = all(
                "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                Some(table),
            );
            assert!(!columns.is_empty(), "table {table} exists");
            // When a key was last used is bookkeeping of the call itself, not state an attack
            // could change.
            let row = columns
                .iter()
                .filter(|c| !(*table == "api_keys" && c.as_str() == "last_used_at"))
                .map(|c| format!("'{c}=' || quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || ' ' || ");
            let sql = format!("SELECT {row} AS r FROM \"{table}\" ORDER BY r");
            tables.insert((*table).to_owned(), all(&sql, None));
        }
        Snapshot(tables)
    }

    /// The snapshot without some tables (those the attack may legitimately change).
    pub fn without(&self, tables: &[&str]) -> Snapshot {
        let mut copy = self.0.clone();
        for t in tables {
            copy.remove(*t);
        }
        Snapshot(copy)
    }

    /// The snapshot with each session's idle timer (`last_seen_at`) blanked: using a session is
    /// allowed to move it.
    pub fn without_idle_timer(&self) -> Snapshot {
        let mut copy = self.0.clone();
        if let Some(rows) = copy.get_mut("sessions") {
            for row in rows.iter_mut() {
                *row = row
                    .split(' ')
                    .filter(|kv| !kv.starts_with("last_seen_at="))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
        Snapshot(copy)
    }

    pub fn rows(&self, table: &str) -> &[String] {
        &self.0[table]
    }
}

/// Fails with the tables that differ.
#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot, attack: &str) {
    if before == after {
        return;
    }
    let mut report = String::new();
    for (table, rows) in &before.0 {
        let other = after.0.get(table).cloned().unwrap_or_default();
        if *rows != other {
            report.push_str(&format!(
                "\n  {table}:\n    before: {rows:#?}\n    after:  {other:#?}"
            ));
        }
    }
    panic!("{attack}: the database changed{report}");
}

/// Asserts an error answer exactly: status and `error.code`; and that it is never a 5xx.
#[track_caller]
pub fn assert_error(r: &Response, status: StatusCode, code: &str) {
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (status, Some(code)),
        "answer: {}",
        r.text
    );
}

/// A well-formed recovery code that is none of the user's.
pub fn wrong_recovery_code(user: &Enrolled, nth: usize) -> String {
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n = nth;
    let code: String = (0..10)
        .map(|_| {
            let c = alphabet[n % 32] as char;
            n /= 32;
            c
        })
        .collect();
    let code = format!("{}-{}", &code[..5], &code[5..]);
    assert!(
        !user
            .recovery_codes
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&code))
    );
    code
}

/// The code for the step `k` steps from now.
pub fn code_at(app: &TestApp, secret: &TotpSecret, k: i64) -> String {
    totp_code(secret.as_bytes(), app.now() + 30 * k)
}

pub async fn api_key(app: &TestApp, name: &str) -> String {
    let (_, key) = app.service.create_api_key(name, &["verify"]).await.unwrap();
    key.expose().to_owned()
}

/// `POST /api/v1/verify` with an API key.
pub async fn app_verify(app: &TestApp, key: &str, user: &str, code: &str) -> Response {
    app.post(
        "/api/v1/verify",
        Some(key),
        serde_json::json!({"user": user, "code": code}),
    )
    .await
}

/// A request with whatever headers and body the attacker chooses.
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    app.send(req.body(body.into()).unwrap()).await
}

/// A JSON body as text (for bodies `serde_json::json!` cannot express, or hand-made ones).
pub async fn raw_json(app: &TestApp, path: &str, token: Option<&str>, body: String) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    raw(app, Method::POST, path, &headers, body).await
}

/// Every call that needs a signed-in user, with a body that would be acceptable to a real
/// session, so that a refusal can only come from authentication.
pub fn protected_calls(code: &str) -> Vec<(Method, &'static str, Option<Value>)> {
    use serde_json::json;
    vec![
        (Method::GET, "/api/v1/me", None),
        (Method::GET, "/api/v1/me/sessions", None),
        (Method::DELETE, "/api/v1/me/sessions/any", None),
        (Method::GET, "/api/v1/me/devices", None),
        (Method::DELETE, "/api/v1/me/devices", None),
        (Method::DELETE, "/api/v1/me/devices/any", None),
        (Method::GET, "/api/v1/me/activity", None),
        (Method::GET, "/api/v1/me/recovery-codes", None),
        (
            Method::POST,
            "/api/v1/me/recovery-codes",
            Some(json!({"password": PASSWORD, "code": code})),
        ),
        (
            Method::POST,
            "/api/v1/me/totp/setup",
            Some(json!({"password": PASSWORD, "code": code})),
        ),
        (
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(json!({"code": code})),
        ),
        (
            Method::DELETE,
            "/api/v1/me/totp",
            Some(json!({"password": PASSWORD, "code": code})),
        ),
        (
            Method::POST,
            "/api/v1/me/two-step",
            Some(json!({"password": PASSWORD, "code": code, "state": "off"})),
        ),
        (
            Method::DELETE,
            "/api/v1/me/two-step",
            Some(json!({"password": PASSWORD, "code": code})),
        ),
        (Method::POST, "/api/v1/logout", None),
    ]
}

/// Runs `n` copies of a request at once (released together by a barrier) and returns the answers.
pub async fn at_once<F, Fut>(n: usize, f: F) -> Vec<Response>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let fut = f(i);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Asserts no answer is a 5xx.
#[track_caller]
pub fn assert_no_5xx(answers: &[Response]) {
    for r in answers {
        assert!(!r.status.is_server_error(), "a 5xx: {}", r.text);
    }
}

/// Signs up with SMS to `phone` as the only method; returns the session.
pub async fn sms_only(app: &TestApp, email: &str, phone: &str) -> String {
    let s = app.signed_up(email).await;
    let r = app
        .post(
            "/api/v1/me/sms/setup",
            Some(&s),
            serde_json::json!({"password": PASSWORD, "phone": phone}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let code = app.last_code_to(phone);
    let r = app
        .post(
            "/api/v1/me/sms/confirm",
            Some(&s),
            serde_json::json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    s
}
