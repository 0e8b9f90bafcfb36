//! Sign-ins from abroad (`[risk]`): an email code even without two-step, the country in the
//! activity history, and trusted-proxy handling of `X-Forwarded-For`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use nidan_service::Policy;
use nidan_service::geo::RiskPolicy;
use nidan_web::WebOptions;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp};

const JP: &str = "203.0.113.7";
const US: &str = "198.51.100.9";
const NOWHERE: &str = "192.0.2.1";
const PROXY: [u8; 4] = [10, 0, 0, 2];

/// nidan behind a proxy at 10.0.0.2, home country JP, a test country database.
async fn app_with(home: &[&str], challenge_unknown: bool) -> TestApp {
    let policy = Policy {
        risk: RiskPolicy {
            home_countries: home.iter().map(|c| (*c).to_owned()).collect(),
            challenge_unknown,
        },
        ..Policy::default()
    };
    let options = WebOptions {
        trusted_proxies: vec![std::net::IpAddr::from(PROXY).into()],
        ..WebOptions::default()
    };
    let app = TestApp::with(policy, options).await;
    let db = nidan_geo::testing::country_db(&[
        (Ipv4Addr::new(203, 0, 113, 0), 24, "JP"),
        (Ipv4Addr::new(198, 51, 100, 0), 24, "US"),
    ]);
    let path = app.dir.path().join("country.mmdb");
    std::fs::write(&path, db).unwrap();
    let lookup = nidan_geo::CountryDb::open(&path).unwrap();
    let _ = app.service.clone().with_country_lookup(Arc::new(lookup));
    app
}

/// A JSON POST as it arrives from `peer`, claiming `forwarded_for`.
async fn post_from(
    app: &TestApp,
    peer: [u8; 4],
    forwarded_for: &str,
    path: &str,
    body: Value,
) -> Response {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .header("user-agent", "abroad-test/1.0")
        .header("x-forwarded-for", forwarded_for)
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    app.send(req).await
}

/// Signs up and signs in from home (Japan); returns the session.
async fn signed_up_at_home(app: &TestApp, email: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = login_from(app, JP, email).await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
    r.json["session_token"].as_str().unwrap().to_owned()
}

/// Signs up at home and enrols an authenticator app; returns (session, secret).
async fn enrolled_at_home(app: &TestApp, email: &str) -> (String, nidan_domain::TotpSecret) {
    let session = signed_up_at_home(app, email).await;
    let r = app
        .post(
            "/api/v1/me/totp/setup",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    let secret = nidan_domain::TotpSecret::from_base32(r.json["secret"].as_str().unwrap()).unwrap();
    let r = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(&session),
            json!({"code": app.code(&secret)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.advance(30);
    (session, secret)
}

async fn login_from(app: &TestApp, ip: &str, email: &str) -> Response {
    post_from(
        app,
        PROXY,
        ip,
        "/api/v1/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
}

#[tokio::test]
async fn a_sign_in_from_abroad_asks_for_an_email_code_even_without_two_step() {
    let app = app_with(&["JP"], true).await;
    let _ = signed_up_at_home(&app, "none@example.com").await;

    let home = login_from(&app, JP, "none@example.com").await;
    assert_eq!(home.json["status"], "signed_in", "{}", home.text);

    let abroad = login_from(&app, US, "none@example.com").await;
    assert_eq!(abroad.status, StatusCode::OK, "{}", abroad.text);
    assert_eq!(abroad.json["status"], "second_factor_required");
    assert_eq!(abroad.json["methods"], json!(["email"]));
    assert_eq!(abroad.json["default_method"], "email");
    assert_eq!(abroad.json["reason"], "new_country");
    assert_eq!(abroad.json["code_sent_to"], "n***@example.com");
    let mail = app
        .outbox()
        .into_iter()
        .rev()
        .find(|m| m["to"] == "none@example.com")
        .unwrap();
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("country"),
        "the email says why: {mail}"
    );
    let code = app.last_code_to("none@example.com");
    let challenge = abroad.json["challenge_id"].as_str().unwrap();
    let r = post_from(
        &app,
        PROXY,
        US,
        "/api/v1/login/verify",
        json!({"challenge_id": challenge, "method": "email", "code": code}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Unknown places count as abroad with `unknown_country = challenge`.
    let nowhere = login_from(&app, NOWHERE, "none@example.com").await;
    assert_eq!(nowhere.json["reason"], "new_country");

    // The activity history carries the country.
    let session = r.json["session_token"].as_str().unwrap();
    let events = app.get("/api/v1/me/activity", session).await.json["events"]
        .as_array()
        .unwrap()
        .clone();
    let countries: Vec<&str> = events
        .iter()
        .filter_map(|e| e["country"].as_str())
        .collect();
    assert!(
        countries.contains(&"US") && countries.contains(&"JP"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["country"] == "unknown"),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_rule_asks_accounts_without_two_step_and_leaves_two_step_accounts_as_at_home() {
    let app = app_with(&["JP"], true).await;
    let (session, secret) = enrolled_at_home(&app, "on@example.com").await;
    let r = login_from(&app, US, "on@example.com").await;
    assert_eq!(
        r.json["methods"],
        json!(["totp", "recovery"]),
        "exactly the account's own methods: nothing the rule adds may stand in for them"
    );
    assert_eq!(r.json["default_method"], "totp", "own default kept");
    assert!(r.json.get("reason").is_none(), "{}", r.text);
    assert!(r.json.get("code_sent_to").is_none(), "{}", r.text);
    let challenge = r.json["challenge_id"].as_str().unwrap();
    let r = post_from(
        &app,
        PROXY,
        US,
        "/api/v1/login/verify",
        json!({"challenge_id": challenge, "method": "totp", "code": app.code(&secret)}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the account's own method still works: {}",
        r.text
    );

    // From home, nothing changes for it.
    let r = login_from(&app, JP, "on@example.com").await;
    assert_eq!(r.json["methods"], json!(["totp", "recovery"]));
    assert!(r.json.get("reason").is_none());

    // Two-step temporarily off: abroad still asks for the email code.
    app.advance(30);
    let r = app
        .post(
            "/api/v1/me/two-step",
            Some(&session),
            json!({"password": PASSWORD, "code": app.code(&secret), "state": "off"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        login_from(&app, JP, "on@example.com").await.json["status"],
        "signed_in"
    );
    let r = login_from(&app, US, "on@example.com").await;
    assert_eq!(r.json["methods"], json!(["email"]));
}

#[tokio::test]
async fn a_remembered_device_still_skips_the_code() {
    let app = app_with(&["JP"], true).await;
    let _ = signed_up_at_home(&app, "device@example.com").await;
    let r = login_from(&app, US, "device@example.com").await;
    let challenge = r.json["challenge_id"].as_str().unwrap();
    let code = app.last_code_to("device@example.com");
    let r = post_from(&app, PROXY, US, "/api/v1/login/verify", json!({"challenge_id": challenge, "method": "email", "code": code, "remember_device": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let device = r.json["device_token"].as_str().unwrap();
    let r = post_from(
        &app,
        PROXY,
        US,
        "/api/v1/login",
        json!({"email": "device@example.com", "password": PASSWORD, "device_token": device}),
    )
    .await;
    assert_eq!(r.json["status"], "signed_in", "{}", r.text);
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = app_with(&["JP"], true).await;
    let _ = signed_up_at_home(&app, "spoof@example.com").await;
    // A peer in the US that claims to forward for a Japanese address: the claim is ignored.
    let us_peer: [u8; 4] = [198, 51, 100, 9];
    let r = post_from(
        &app,
        us_peer,
        JP,
        "/api/v1/login",
        json!({"email": "spoof@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.json["status"], "second_factor_required", "{}", r.text);
    assert_eq!(r.json["reason"], "new_country");
    // The same claim through the trusted proxy is believed.
    let r = login_from(&app, JP, "spoof@example.com").await;
    assert_eq!(r.json["status"], "signed_in");
}

#[tokio::test]
async fn unknown_countries_pass_with_allow_and_the_rule_off_changes_nothing() {
    let app = app_with(&["JP"], false).await;
    let _ = signed_up_at_home(&app, "allow@example.com").await;
    assert_eq!(
        login_from(&app, NOWHERE, "allow@example.com").await.json["status"],
        "signed_in"
    );
    assert_eq!(
        login_from(&app, US, "allow@example.com").await.json["status"],
        "second_factor_required"
    );

    let off = app_with(&[], true).await;
    let _ = signed_up_at_home(&off, "off@example.com").await;
    assert_eq!(
        login_from(&off, US, "off@example.com").await.json["status"],
        "signed_in"
    );
}

/// The hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A request from the US through the trusted proxy, with cookies.
async fn page_from_us(
    app: &TestApp,
    method: Method,
    path: &str,
    cookies: &str,
    form: Option<String>,
) -> Response {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("x-forwarded-for", US)
        .header("cookie", cookies)
        .header("accept-language", "en");
    if form.is_some() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    let mut req = b
        .body(form.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((PROXY, 40000))));
    app.send(req).await
}

fn cookie_header(r: &Response, mut jar: Vec<String>) -> Vec<String> {
    for c in r.headers.get_all("set-cookie") {
        let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
        let name = pair.split('=').next().unwrap().to_owned();
        jar.retain(|p| !p.starts_with(&format!("{name}=")));
        jar.push(pair);
    }
    jar
}

#[tokio::test]
async fn the_second_step_page_says_why_a_code_is_asked_for() {
    let app = app_with(&["JP"], true).await;
    let _ = signed_up_at_home(&app, "page@example.com").await;
    let r = page_from_us(&app, Method::GET, "/login", "", None).await;
    let jar = cookie_header(&r, Vec::new());
    let csrf = hidden(&r.text, "csrf");
    let form = format!(
        "csrf={csrf}&email=page%40example.com&password={}",
        PASSWORD.replace(' ', "+")
    );
    let r = page_from_us(&app, Method::POST, "/login", &jar.join("; "), Some(form)).await;
    assert!(r.status.is_redirection(), "{} {}", r.status, r.text);
    let jar = cookie_header(&r, jar);
    let r = page_from_us(
        &app,
        Method::GET,
        "/login/second-step",
        &jar.join("; "),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text.contains("a country you do not usually sign in from"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("p***@example.com"),
        "where the code went: {}",
        r.text
    );
}
