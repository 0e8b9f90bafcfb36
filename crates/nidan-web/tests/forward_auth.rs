//! Forward-auth through the real router: who may ask, how the original request is read, how each
//! decision is answered, the shared cookie's name, revocation, and `rd` on the pages. The
//! journeys through real nginx and Caddy are in `crates/nidan/tests/proxies.rs`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use nidan_domain::{AccessRules, Policy, Redirects, Rule};
use nidan_web::WebOptions;
use serde_json::json;

use crate::common::{PASSWORD, Response, TestApp};

const PUBLIC: &str = "https://auth.example.com";

fn rule(hosts: &[&str], paths: &[&str], groups: &[&str], policy: &str) -> Rule {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Rule::new(&v(hosts), &v(paths), &[], &v(groups), policy).unwrap()
}

async fn app() -> TestApp {
    let options = WebOptions {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        public_url: PUBLIC.into(),
        cookie_domain: Some("example.com".into()),
        access: AccessRules {
            rules: vec![
                rule(&["open.example.com"], &[], &[], "bypass"),
                rule(&["wiki.example.com"], &["/private"], &[], "deny"),
                rule(&["wiki.example.com"], &[], &[], "one_factor"),
                rule(&["*.example.com"], &["/admin"], &["admins"], "two_factor"),
                rule(&["*.example.com"], &["/admin"], &[], "deny"),
                rule(&["*.example.com"], &[], &[], "two_factor"),
            ],
            default_policy: Policy::Deny,
        },
        redirects: Redirects::new(PUBLIC, Some("example.com"), &[]).unwrap(),
        ..WebOptions::default()
    };
    TestApp::with(Default::default(), options).await
}

/// The proxy's question: from `peer`, about `url` (Traefik's headers), with `cookie` and `accept`.
async fn ask(
    app: &TestApp,
    endpoint: &str,
    peer: &str,
    url: &str,
    cookie: Option<&str>,
    accept: &str,
) -> Response {
    let parsed = url::Url::parse(url).unwrap();
    let mut req = Request::builder()
        .uri(format!("/api/v1/authz/{endpoint}"))
        .header("x-forwarded-proto", parsed.scheme())
        .header("x-forwarded-host", parsed.host_str().unwrap())
        .header("x-forwarded-uri", &url[url.find(parsed.path()).unwrap()..])
        .header("x-forwarded-method", "GET")
        .header("accept", accept);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::new(
            peer.parse().unwrap(),
            5000,
        )));
    app.send(req).await
}

const PAGE: &str = "text/html,application/xhtml+xml";

/// A browser's page request to an app, as the trusted proxy asks about it.
async fn browser(app: &TestApp, url: &str, cookie: Option<&str>) -> Response {
    ask(app, "forward-auth", PROXY, url, cookie, PAGE).await
}

/// `req` as it comes from the trusted proxy.
fn from_proxy(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::new(
            PROXY.parse().unwrap(),
            5000,
        )));
    req
}
const PROXY: &str = "10.1.2.3";

/// A browser's request for a page of nidan.
fn page(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn session_cookie(token: &str) -> String {
    format!("__Secure-nidan_session={token}")
}

fn location(r: &Response) -> String {
    r.headers["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_trusted_proxies_are_answered_and_they_must_say_what_they_ask_about() {
    let app = app().await;
    let r = ask(
        &app,
        "forward-auth",
        "192.0.2.7",
        "https://wiki.example.com/",
        None,
        PAGE,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("trusted_proxies"), "{}", r.text);

    let req = from_proxy(
        Request::builder()
            .uri("/api/v1/authz/forward-auth")
            .body(Body::empty())
            .unwrap(),
    );
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "invalid_request");

    // nginx's single header does as well as Traefik's four.
    let req = from_proxy(
        Request::builder()
            .uri("/api/v1/authz/auth-request")
            .header("x-original-url", "https://open.example.com/x?y=1")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_session_browsers_are_sent_to_sign_in_and_the_rest_refused() {
    let app = app().await;
    let url = "https://wiki.example.com/page?x=1&y=%20";
    let r = browser(&app, url, None).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let expected = format!(
        "{PUBLIC}/login?rd={}",
        percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC)
    );
    assert_eq!(location(&r), expected);
    // A script's request gets 401 (with the same address), not a page it cannot use.
    let r = ask(&app, "forward-auth", PROXY, url, None, "application/json").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(location(&r), expected);
    // nginx's endpoint always answers 401 and leaves the redirect to `error_page`.
    let r = ask(&app, "auth-request", PROXY, url, None, PAGE).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(location(&r), expected);
    // Deny and bypass need no session to be decided.
    let r = browser(&app, "https://wiki.example.com/private/x", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = browser(&app, "https://open.example.com/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["remote-user"], "", "no one is signed in");
    // A host no rule names is denied by default.
    let r = browser(&app, "https://other.example.org/", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_session_passes_by_its_factors_and_groups() {
    let app = app().await;
    let one = app.signed_up("one@example.com").await;
    let cookie = session_cookie(&one);
    let r = browser(&app, "https://wiki.example.com/", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["remote-user"], "one@example.com");
    assert_eq!(r.headers["remote-email"], "one@example.com");
    assert_eq!(r.headers["remote-name"], "one");
    assert_eq!(r.headers["remote-groups"], "");

    // Over https only the prefixed name is read: a plain cookie could be planted by a sibling.
    let plain = format!("nidan_session={one}");
    let r = browser(&app, "https://wiki.example.com/", Some(&plain)).await;
    assert_eq!(r.status, StatusCode::FOUND);

    // The password alone does not open a two-step app: turn two-step on first, then come back.
    let url = "https://grafana.example.com/d/1";
    let r = browser(&app, url, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(
        location(&r).starts_with(&format!(
            "{PUBLIC}/settings/security?done=two-step-needed&rd=https%3A%2F%2Fgrafana"
        )),
        "{}",
        location(&r)
    );

    // The session that turned two-step on counts as two steps.
    let two = app.enrolled("two@example.com").await;
    let cookie2 = session_cookie(&two.session);
    let r = browser(&app, url, Some(&cookie2)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["remote-user"], "two@example.com");

    // Groups: /admin needs `admins` (a one-second cache stands between the change and the
    // answer: the test's clock does not move it, so wait it out).
    let admin = "https://grafana.example.com/admin/users";
    let r = browser(&app, admin, Some(&cookie2)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let id = app
        .service
        .store()
        .user_by_email("two@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(app.service.store().add_group(&id, "admins").await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = browser(&app, admin, Some(&cookie2)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["remote-groups"], "admins");
}

#[tokio::test]
async fn a_session_ended_or_past_its_limits_stops_passing_at_once() {
    let app = app().await;
    let token = app.signed_up("gone@example.com").await;
    let cookie = session_cookie(&token);
    let url = "https://wiki.example.com/";
    assert_eq!(
        browser(&app, url, Some(&cookie)).await.status,
        StatusCode::OK
    );
    // Signed out through this process: forgotten at once, not a second later.
    let r = app.post("/api/v1/logout", Some(&token), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        browser(&app, url, Some(&cookie)).await.status,
        StatusCode::FOUND
    );

    // Idle too long: the limit is checked on every request, remembered or not.
    let token = app.login("gone@example.com").await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = session_cookie(&token);
    assert_eq!(
        browser(&app, url, Some(&cookie)).await.status,
        StatusCode::OK
    );
    app.advance(1801);
    assert_eq!(
        browser(&app, url, Some(&cookie)).await.status,
        StatusCode::FOUND
    );
}

#[tokio::test]
async fn rd_is_kept_only_for_addresses_a_browser_may_be_sent_to() {
    let app = app().await;
    let login = |rd: &str| {
        let uri = format!(
            "/login?rd={}",
            percent_encoding::utf8_percent_encode(rd, percent_encoding::NON_ALPHANUMERIC)
        );
        page(&uri)
    };
    let kept = |r: &Response| {
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-nidan_return="))
    };
    let r = app.send(login("https://wiki.example.com/page")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(kept(&r), "a host under the cookie domain is kept");
    // Browsers apply form-action to the redirect after the post: the app's origin is listed.
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://wiki.example.com;"),
        "{csp}"
    );
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "https://evil.example@wiki.example.com.evil.example/",
        "https://wiki.example.com.evil.example/",
        "https://%65vil.example/",
        "https://xn--exmple-cua.com/",
        "javascript:alert(1)",
        "http://wiki.example.com/",
    ] {
        let r = app.send(login(evil)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!kept(&r), "{evil} was kept");
    }

    // Signed in with the password (no two-step): straight back to the kept address.
    app.signed_up("rd@example.com").await;
    let r = app.send(login("https://wiki.example.com/page")).await;
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("__Host-nidan_csrf="))
        .unwrap()
        .to_owned();
    let body = format!(
        "csrf={csrf}&email=rd%40example.com&password={}",
        percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC)
    );
    let req = Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookies.join("; "))
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "https://wiki.example.com/page");
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Secure-nidan_session=") && c.contains("Domain=example.com")),
        "the session is shared with the apps: {set:?}"
    );

    // The sign-out page carries a good rd along and drops a bad one.
    let r = app
        .send(page("/logout?rd=https%3A%2F%2Fwiki.example.com%2F"))
        .await;
    assert!(
        r.text.contains("value=\"https://wiki.example.com/\""),
        "{}",
        r.text
    );
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://wiki.example.com;"),
        "{csp}"
    );
    let r = app
        .send(page("/logout?rd=https%3A%2F%2Fevil.example%2F"))
        .await;
    assert!(!r.text.contains("evil.example"), "{}", r.text);
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
}
