//! The browser pages in process: every page in both languages, the CSRF check, cookie flags, the
//! page CSP, and sign-in through the forms exactly as a browser would post them.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use nidan_domain::{TotpSecret, totp_code};
use nidan_service::Policy;
use nidan_web::WebOptions;

use crate::common::{PASSWORD, TestApp};

/// The user agent the tiny browser sends: a real one, as the pages describe it in words.
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// A tiny browser: a cookie jar, a language, form posts, redirects followed.
struct Browser<'a> {
    app: &'a TestApp,
    jar: BTreeMap<String, String>,
    lang: &'static str,
    last_set_cookies: Vec<String>,
}

struct Page {
    status: StatusCode,
    url: String,
    html: String,
    headers: axum::http::HeaderMap,
}

/// The seconds of a page's `Retry-After`, if it has one.
fn retry_after(p: &Page) -> Option<u64> {
    p.headers
        .get(axum::http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp, lang: &'static str) -> Self {
        Browser {
            app,
            jar: BTreeMap::new(),
            lang,
            last_set_cookies: Vec::new(),
        }
    }

    async fn request(&mut self, method: &str, path: &str, form: Option<String>) -> Page {
        let mut url = path.to_string();
        let mut method = method.to_string();
        let mut body = form;
        loop {
            let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut req = Request::builder()
                .method(method.as_str())
                .uri(&url)
                .header("accept-language", self.lang)
                .header("user-agent", FIREFOX);
            if !cookie.is_empty() {
                req = req.header("cookie", cookie.join("; "));
            }
            let req = match body.take() {
                Some(b) => req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(b))
                    .unwrap(),
                None => req.body(Body::empty()).unwrap(),
            };
            let r = self.app.send(req).await;
            self.last_set_cookies.clear();
            for c in r.headers.get_all("set-cookie") {
                let c = c.to_str().unwrap().to_string();
                self.last_set_cookies.push(c.clone());
                let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() || attrs.contains("Max-Age=0") {
                    self.jar.remove(k);
                } else {
                    self.jar.insert(k.to_string(), v.to_string());
                }
            }
            if r.status == StatusCode::SEE_OTHER {
                url = r.headers["location"].to_str().unwrap().to_string();
                method = "GET".into();
                continue;
            }
            return Page {
                status: r.status,
                url,
                html: r.text,
                headers: r.headers,
            };
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.request("GET", path, None).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request("POST", path, Some(body)).await
    }

    /// Posts the password form for `email`; returns where that leads.
    async fn sign_in(&mut self, email: &str) -> Page {
        let csrf = self.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await
    }

    /// Signs out, then posts the password form for `email` again.
    async fn sign_in_again(&mut self, email: &str) -> Page {
        let csrf = self.csrf();
        self.post("/logout", &[("csrf", &csrf)]).await;
        self.sign_in(email).await
    }

    /// Moves the clock to the next time step and posts the app's code as the second step.
    async fn app_code(&mut self, secret: &TotpSecret) -> Page {
        self.app.advance(30);
        let code = totp_code(secret.as_bytes(), self.app.now());
        let csrf = self.csrf();
        self.post(
            "/login/second-step",
            &[("csrf", &csrf), ("method", "totp"), ("code", &code)],
        )
        .await
    }

    fn csrf(&self) -> String {
        self.jar
            .get("nidan_csrf")
            .or_else(|| self.jar.get("__Host-nidan_csrf"))
            .cloned()
            .unwrap()
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the first `name="<field>" value="..."` in the HTML.
fn field(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn secret_on(html: &str) -> TotpSecret {
    let at = html.find("id=\"totp-secret\"").unwrap();
    let rest = &html[at..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</code>").unwrap()];
    TotpSecret::from_base32(&text.replace(' ', "")).unwrap()
}

fn check_page(p: &Page, lang: &str) {
    assert!(
        !p.html.contains(nidan_web::pages::i18n::MISSING),
        "missing message on {}: {}",
        p.url,
        p.html
    );
    assert!(
        p.html.contains(&format!("<html lang=\"{lang}\">")),
        "{}",
        p.url
    );
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, nidan_web::pages::PAGE_CSP);
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert_eq!(p.headers["referrer-policy"], "no-referrer");
    assert_eq!(p.headers["cache-control"], "no-store");
    // Every form carries the CSRF token.
    assert_eq!(
        p.html.matches("<form ").count(),
        p.html.matches("name=\"csrf\"").count(),
        "a form without a CSRF field on {}",
        p.url
    );
}

/// Signs up through the form and enrols the authenticator app; returns the secret and codes.
async fn enrol(b: &mut Browser<'_>, email: &str) -> (TotpSecret, Vec<String>) {
    let p = b.get("/signup").await;
    assert_eq!(p.status, StatusCode::OK);
    let csrf = field(&p.html, "csrf");
    let p = b
        .post(
            "/signup",
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    // A new account lands on the security page with the app setup open, saying why and what to
    // keep.
    assert_eq!(p.url, "/settings/security?done=welcome");
    assert!(
        p.html.contains("<details id=\"add-totp\" open>"),
        "{}",
        p.html
    );
    let why = if b.lang == "en" {
        "cannot sign in without your phone"
    } else {
        "スマートフォンがなければログインできません"
    };
    assert!(p.html.contains(why), "{}", p.html);
    let csrf = b.csrf();
    let p = b
        .post(
            "/settings/security/totp/setup",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    check_page(&p, b.lang);
    assert!(p.html.contains("<svg"));
    assert!(p.html.contains("href=\"otpauth://totp/"));
    let secret = secret_on(&p.html);
    let uri = field(&p.html, "destination").replace("&amp;", "&");
    let code = totp_code(secret.as_bytes(), b.app.now());
    let p = b
        .post(
            "/settings/security/totp/confirm",
            &[("csrf", &csrf), ("code", &code), ("destination", &uri)],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let codes: Vec<String> = field(&p.html, "codes")
        .split(' ')
        .map(str::to_string)
        .collect();
    assert!(codes.len() >= 8, "{}", p.html);
    check_page(&p, b.lang);
    assert!(p.html.contains("download=\"nidan-recovery-codes.txt\""));
    // Not ticked: the codes show again, with the error.
    let joined = codes.join(" ");
    let p = b
        .post(
            "/settings/security/recovery/done",
            &[("csrf", &csrf), ("codes", &joined)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.html.contains("role=\"alert\""));
    assert!(p.html.contains(&codes[0]));
    let p = b
        .post(
            "/settings/security/recovery/done",
            &[("csrf", &csrf), ("codes", &joined), ("saved", "1")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("state-on"));
    (secret, codes)
}

/// Posts the email-method form (`action`: empty to add, `change` to change the address) with
/// the password and the app's next code.
async fn post_email_method(
    b: &mut Browser<'_>,
    secret: &TotpSecret,
    action: &str,
    destination: &str,
) -> Page {
    b.app.advance(30);
    let code = totp_code(secret.as_bytes(), b.app.now());
    let csrf = b.csrf();
    b.post(
        "/settings/security/oob/setup",
        &[
            ("csrf", &csrf),
            ("method", "email"),
            ("action", action),
            ("destination", destination),
            ("password", PASSWORD),
            ("code", &code),
        ],
    )
    .await
}

/// Adds `address` as the email method through the forms (the password, and `code` as the
/// step-up once the account has a method) and confirms it with the code sent there. Returns the
/// page the confirmation leads to and the address as the pages show it (masked).
async fn add_email(b: &mut Browser<'_>, address: &str, code: &str) -> (Page, String) {
    let csrf = b.csrf();
    let p = b
        .post(
            "/settings/security/oob/setup",
            &[
                ("csrf", &csrf),
                ("method", "email"),
                ("destination", address),
                ("password", PASSWORD),
                ("code", code),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    check_page(&p, b.lang);
    assert!(p.html.contains("autocomplete=\"one-time-code\""));
    assert!(!p.html.contains(address), "the address shows masked");
    let lifetime = if b.lang == "en" {
        "works for 5 minutes"
    } else {
        "有効期限は5分"
    };
    assert!(
        p.html.contains(lifetime),
        "the code page says how long the code lives"
    );
    let shown = field(&p.html, "destination");
    let sent = b.app.last_code_to(address);
    let p = b
        .post(
            "/settings/security/oob/confirm",
            &[
                ("csrf", &csrf),
                ("method", "email"),
                ("destination", &shown),
                ("code", &sent),
            ],
        )
        .await;
    (p, shown)
}

#[tokio::test]
async fn every_page_renders_in_both_languages() {
    let app = TestApp::new().await;
    for lang in ["en", "ja"] {
        let mut b = Browser::new(&app, lang);
        for path in ["/signup", "/login"] {
            let p = b.get(path).await;
            assert_eq!(p.status, StatusCode::OK);
            check_page(&p, lang);
        }
        let email = format!("pages-{lang}@example.com");
        let (secret, codes) = enrol(&mut b, &email).await;
        let p = b.get("/settings/security").await;
        check_page(&p, lang);
        let csrf = b.csrf();
        let p = b.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(p.url, "/login");
        let csrf = b.csrf();
        let p = b.sign_in(&email).await;
        assert_eq!(p.url, "/login/second-step");
        check_page(&p, lang);
        assert!(p.html.contains("autocomplete=\"one-time-code\""));
        assert!(p.html.contains("inputmode=\"numeric\""));
        let p = b.get("/login/second-step?method=recovery").await;
        check_page(&p, lang);
        let p = b
            .post(
                "/login/second-step",
                &[("csrf", &csrf), ("method", "totp"), ("code", "000000")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
        check_page(&p, lang);
        assert!(p.html.contains("aria-describedby=\"code-error\""));
        assert!(p.html.contains("role=\"alert\""));
        let p = b.app_code(&secret).await;
        assert_eq!(p.url, "/settings/security", "{}", p.html);
        check_page(&p, lang);
        let _ = codes;
    }
}

#[tokio::test]
async fn a_form_without_the_csrf_token_gets_403() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    b.get("/login").await;
    for path in [
        "/login",
        "/signup",
        "/login/second-step",
        "/logout",
        "/lang",
        "/settings/security/two-step",
        "/settings/security/totp/setup",
        "/settings/security/recovery/done",
    ] {
        let p = b
            .post(path, &[("email", "a@example.com"), ("password", PASSWORD)])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
        let p = b
            .post(path, &[("csrf", "forged"), ("password", PASSWORD)])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
    }
    // No cookie at all: 403 too.
    let mut fresh = Browser::new(&app, "ja");
    let p = fresh.post("/login", &[("csrf", "x")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    check_page(&p, "ja");
    assert!(!p.html.contains(nidan_web::pages::i18n::MISSING));
}

#[tokio::test]
async fn cookie_flags_over_http_and_https() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let p = b.get("/signup").await;
    let csrf = field(&p.html, "csrf");
    b.post(
        "/signup",
        &[
            ("csrf", &csrf),
            ("email", "c@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert!(b.jar.contains_key("nidan_session"));

    let https = TestApp::with(
        Policy::default(),
        WebOptions {
            public_url: "https://nidan.example".into(),
            ..WebOptions::default()
        },
    )
    .await;
    let mut b = Browser::new(&https, "en");
    b.get("/signup").await;
    let set = b.last_set_cookies.join("\n");
    assert!(set.starts_with("__Host-nidan_csrf="), "{set}");
    for flag in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Domain="));
    let csrf = b.csrf();
    b.post(
        "/signup",
        &[
            ("csrf", &csrf),
            ("email", "s@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let session = b.jar.get("__Host-nidan_session").cloned().unwrap();
    // The JSON API never takes the cookie.
    let req = Request::builder()
        .uri("/api/v1/me")
        .header("cookie", format!("__Host-nidan_session={session}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(https.send(req).await.status, StatusCode::UNAUTHORIZED);
    // API answers keep the strict policy.
    let r = https
        .call(axum::http::Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(
        r.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

#[tokio::test]
async fn sign_in_through_the_forms_with_app_recovery_code_and_remembered_device() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let (secret, codes) = enrol(&mut b, "flow@example.com").await;
    let first_session = b.jar["nidan_session"].clone();
    let csrf = b.csrf();
    b.post("/logout", &[("csrf", &csrf)]).await;
    assert!(!b.jar.contains_key("nidan_session"));
    // The old session is over.
    let r = app.get("/api/v1/me", &first_session).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Password, then a recovery code.
    let csrf = b.csrf();
    let p = b.sign_in("flow@example.com").await;
    assert_eq!(p.url, "/login/second-step");
    assert!(!p.url.contains("challenge"));
    let set = b.last_set_cookies.join("\n");
    let _ = set;
    let challenge = b.jar["nidan_challenge"].clone();
    assert!(!challenge.is_empty());
    let p = b
        .post(
            "/login/second-step",
            &[("csrf", &csrf), ("method", "recovery"), ("code", &codes[0])],
        )
        .await;
    assert_eq!(p.url, "/settings/security?done=recovery-used", "{}", p.html);
    assert!(!b.jar.contains_key("nidan_challenge"));
    let second_session = b.jar["nidan_session"].clone();
    assert_ne!(second_session, first_session);
    // A new CSRF token after sign-in.
    assert_ne!(b.csrf(), csrf);

    // Log out; sign in with the app and "remember this device".
    b.sign_in_again("flow@example.com").await;
    let csrf = b.csrf();
    app.advance(30);
    let code = totp_code(secret.as_bytes(), app.now());
    let p = b
        .post(
            "/login/second-step",
            &[
                ("csrf", &csrf),
                ("method", "totp"),
                ("code", &code),
                ("remember", "1"),
            ],
        )
        .await;
    assert_eq!(p.url, "/settings/security");
    assert!(b.jar.contains_key("nidan_device"));
    let device_cookie = b
        .last_set_cookies
        .iter()
        .find(|c| c.starts_with("nidan_device="))
        .cloned()
        .unwrap_or_default();
    let _ = device_cookie;
    let p = b.sign_in_again("flow@example.com").await;
    assert_eq!(
        p.url, "/settings/security",
        "the remembered device skips the code"
    );

    // Off for now, then on again, then removed: each asks for the password and a code.
    let csrf = b.csrf();
    let p = b
        .post(
            "/settings/security/two-step",
            &[("csrf", &csrf), ("action", "off"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::FORBIDDEN,
        "as the API's reauth_required"
    );
    assert!(p.html.contains("id=\"err-two-step\""));
    app.advance(30);
    let code = totp_code(secret.as_bytes(), app.now());
    let p = b
        .post(
            "/settings/security/two-step",
            &[
                ("csrf", &csrf),
                ("action", "off"),
                ("password", PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(p.url, "/settings/security?done=off", "{}", p.html);
    assert!(p.html.contains("state-off"));
    app.advance(30);
    let code = totp_code(secret.as_bytes(), app.now());
    let p = b
        .post(
            "/settings/security/two-step",
            &[
                ("csrf", &csrf),
                ("action", "on"),
                ("password", PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(p.url, "/settings/security?done=on");
    app.advance(30);
    let code = totp_code(secret.as_bytes(), app.now());
    let p = b
        .post(
            "/settings/security/two-step",
            &[
                ("csrf", &csrf),
                ("action", "remove"),
                ("password", PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(p.url, "/settings/security?done=removed");
    assert!(p.html.contains("state-none"));
}

#[tokio::test]
async fn the_language_switch_is_remembered() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let p = b.get("/login").await;
    assert!(p.html.contains("<html lang=\"en\">"));
    let csrf = b.csrf();
    let p = b
        .post(
            "/lang",
            &[("csrf", &csrf), ("lang", "ja"), ("back", "/signup")],
        )
        .await;
    assert_eq!(p.url, "/signup");
    assert!(p.html.contains("<html lang=\"ja\">"));
    assert!(p.html.contains("アカウント作成"));
    assert_eq!(b.jar["nidan_lang"], "ja");
    // An outside `back` goes nowhere outside.
    let p = b
        .post(
            "/lang",
            &[("csrf", &csrf), ("lang", "en"), ("back", "//evil.example")],
        )
        .await;
    assert_eq!(p.url, "/login");
}

#[test]
fn both_catalogues_have_the_same_keys() {
    use nidan_service::courier::Locale;
    assert_eq!(
        nidan_web::pages::i18n::keys(Locale::En),
        nidan_web::pages::i18n::keys(Locale::Ja)
    );
}

#[tokio::test]
async fn codes_by_email_through_the_forms() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let p = b.get("/signup").await;
    let csrf = field(&p.html, "csrf");
    b.post(
        "/signup",
        &[
            ("csrf", &csrf),
            ("email", "mail@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let csrf = b.csrf();
    let (p, sent_to) = add_email(&mut b, "codes@example.org", "").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let joined = field(&p.html, "codes");
    b.post(
        "/settings/security/recovery/done",
        &[("csrf", &csrf), ("codes", &joined), ("saved", "1")],
    )
    .await;
    let p = b.get("/settings/security").await;
    assert!(p.html.contains("state-on"));
    assert!(p.html.contains("/settings/security/step-up-code"));

    // Sign in: the code goes by email; the page says where (masked) and offers a resend.
    let p = b.sign_in_again("mail@example.com").await;
    let csrf = b.csrf();
    assert_eq!(p.url, "/login/second-step");
    check_page(&p, "en");
    assert!(p.html.contains(&sent_to), "{}", p.html);
    assert!(p.html.contains("action=\"/login/second-step/send\""));
    let p = b
        .post(
            "/login/second-step/send",
            &[("csrf", &csrf), ("method", "email")],
        )
        .await;
    check_page(&p, "en");
    assert!(
        p.status == StatusCode::OK || p.status == StatusCode::TOO_MANY_REQUESTS,
        "{}",
        p.status
    );
    assert!(p.html.contains("role=\"status\"") || p.html.contains("role=\"alert\""));
    let code = app.last_code_to("codes@example.org");
    let p = b
        .post(
            "/login/second-step",
            &[("csrf", &csrf), ("method", "email"), ("code", &code)],
        )
        .await;
    assert_eq!(p.url, "/settings/security", "{}", p.html);
}

#[tokio::test]
async fn the_per_ip_sign_in_limit_applies_to_the_form_too() {
    let app = TestApp::with(
        Policy::default(),
        WebOptions {
            login_per_ip_per_minute: 2,
            ..WebOptions::default()
        },
    )
    .await;
    let mut b = Browser::new(&app, "en");
    b.get("/login").await;
    let csrf = b.csrf();
    let mut statuses = Vec::new();
    let mut last = String::new();
    let mut wait = None;
    for _ in 0..3 {
        let p = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("email", "x@example.com"),
                    ("password", "wrong password"),
                ],
            )
            .await;
        statuses.push(p.status);
        wait = retry_after(&p);
        last = p.html;
    }
    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(
        wait.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After with the wait: {wait:?}"
    );
    assert!(
        last.contains("Wait ") && last.contains(" seconds and try again"),
        "the page says how long to wait: {last}"
    );
}

#[tokio::test]
async fn resend_while_adding_a_number_and_choosing_the_default_method() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let p = b.get("/signup").await;
    let csrf = field(&p.html, "csrf");
    b.post(
        "/signup",
        &[
            ("csrf", &csrf),
            ("email", "both@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let csrf = b.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("method", "sms"),
        ("destination", "090-1234-5678"),
        ("password", PASSWORD),
    ];
    let p = b.post("/settings/security/oob/setup", &fields).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(
        p.html.contains("action=\"/settings/security/oob/resend\""),
        "a resend button: {}",
        p.html
    );
    let sent_to = field(&p.html, "destination");
    let first = app.last_code_to("+819012345678");
    // Too soon: the page says so and keeps the form.
    let p = b
        .post(
            "/settings/security/oob/resend",
            &[
                ("csrf", &csrf),
                ("method", "sms"),
                ("destination", &sent_to),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.html);
    let wait = retry_after(&p);
    assert!(
        wait.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After with the resend wait: {wait:?}"
    );
    check_page(&p, "en");
    app.advance(61);
    let p = b
        .post(
            "/settings/security/oob/resend",
            &[
                ("csrf", &csrf),
                ("method", "sms"),
                ("destination", &sent_to),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let second = app.last_code_to("+819012345678");
    assert!(
        first != second || app.outbox().len() >= 2,
        "a new code went out"
    );
    let p = b
        .post(
            "/settings/security/oob/confirm",
            &[
                ("csrf", &csrf),
                ("method", "sms"),
                ("destination", &sent_to),
                ("code", &second),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let joined = field(&p.html, "codes");
    b.post(
        "/settings/security/recovery/done",
        &[("csrf", &csrf), ("codes", &joined), ("saved", "1")],
    )
    .await;

    // Add email too (step-up with a code sent by SMS for this session), then make it the one
    // offered first.
    app.advance(61);
    b.post(
        "/settings/security/step-up-code",
        &[("csrf", &csrf), ("method", "sms")],
    )
    .await;
    let step_up = app.last_code_to("+819012345678");
    add_email(&mut b, "codes@example.org", &step_up).await;
    let p = b.get("/settings/security").await;
    assert!(p.html.contains("offered first at sign-in"), "{}", p.html);
    assert!(
        p.html
            .contains("action=\"/settings/security/default-method\""),
        "{}",
        p.html
    );
    let p = b
        .post(
            "/settings/security/default-method",
            &[("csrf", &csrf), ("method", "email")],
        )
        .await;
    assert!(
        p.html.contains("now offered first at sign-in"),
        "{}",
        p.html
    );
    assert_eq!(
        app.login("both@example.com").await.json["default_method"],
        "email"
    );
}

/// Posts a form that sends a code and expects the 502 page saying it could not be delivered.
async fn undelivered(b: &mut Browser<'_>, path: &str, fields: &[(&str, &str)]) {
    let p = b.post(path, fields).await;
    assert_eq!(p.status, StatusCode::BAD_GATEWAY, "{path}: {}", p.html);
    check_page(&p, "en");
    assert!(
        p.html.contains("The code could not be delivered."),
        "{}",
        p.html
    );
}

#[tokio::test]
async fn a_code_that_cannot_be_delivered_answers_502_on_the_pages() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let (secret, _) = enrol(&mut b, "outage@example.com").await;
    // Email as a second method, while mail still goes out.
    app.advance(30);
    let code = totp_code(secret.as_bytes(), app.now());
    let (p, _) = add_email(&mut b, "codes@example.org", &code).await;
    assert_eq!(p.url, "/settings/security?done=method-added", "{}", p.html);
    let csrf = b.csrf();
    // Codes by email first at sign-in: the code goes out with the password step.
    let p = b
        .post(
            "/settings/security/default-method",
            &[("csrf", &csrf), ("method", "email")],
        )
        .await;
    assert_eq!(
        p.url, "/settings/security?done=default-method",
        "{}",
        p.html
    );

    // The mail server goes down; the same data directory and the same cookies.
    let smtp = nidan_delivery::testing::TestSmtpServer::start_failing().await;
    let down = app.restarted(Some(smtp.url())).await;
    let mut b = Browser {
        app: &down,
        jar: b.jar.clone(),
        lang: "en",
        last_set_cookies: Vec::new(),
    };
    let step_up = [("csrf", csrf.as_str()), ("method", "email")];
    undelivered(&mut b, "/settings/security/step-up-code", &step_up).await;

    // Sign-in: the app is offered first; asking for a code by email fails to deliver, and the
    // second step stays usable.
    let p = b.sign_in_again("outage@example.com").await;
    let csrf = b.csrf();
    assert_eq!(p.url, "/login/second-step", "{}", p.html);
    assert!(
        p.html.contains("We could not send the code just now"),
        "the page says the first code did not go out: {}",
        p.html
    );
    let send = [("csrf", csrf.as_str()), ("method", "email")];
    undelivered(&mut b, "/login/second-step/send", &send).await;
    let p = b.app_code(&secret).await;
    assert_eq!(p.url, "/settings/security", "{}", p.html);
}

#[tokio::test]
async fn the_accounts_own_life_through_the_forms_in_both_languages() {
    const NEW: &str = "seven purple kites over a quiet harbour";
    let app = TestApp::new().await;
    for lang in ["en", "ja"] {
        let mut b = Browser::new(&app, lang);
        let email = format!("own-life-{lang}@example.com");
        // The sign-up form states the rule the server enforces, and a weak password is named.
        let p = b.get("/signup").await;
        assert!(p.html.contains("minlength=\"15\""), "{}", p.html);
        assert!(p.html.contains("15"), "the minimum is stated");
        let csrf = b.csrf();
        let p = b
            .post(
                "/signup",
                &[
                    ("csrf", &csrf),
                    ("email", &email),
                    ("password", "password1password1"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        check_page(&p, lang);
        assert!(p.html.contains("role=\"alert\""));
        assert!(p.html.contains(&email), "the form keeps the email");
        assert!(!p.html.contains("password1password1"), "never the password");
        let (secret, _) = enrol(&mut b, &email).await;

        // Change the password on the security page.
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let csrf = b.csrf();
        let p = b
            .post(
                "/settings/security/password",
                &[
                    ("csrf", &csrf),
                    ("new_password", NEW),
                    ("password", PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(
            p.url, "/settings/security?done=password-changed",
            "{}",
            p.html
        );
        check_page(&p, lang);

        // Forgot it: the link comes by email and sets it back; sign-in still asks for the code.
        let csrf = b.csrf();
        b.post("/logout", &[("csrf", &csrf)]).await;
        let p = b.get("/login").await;
        assert!(p.html.contains("href=\"/forgot\""));
        let p = b.get("/forgot").await;
        check_page(&p, lang);
        let csrf = b.csrf();
        let p = b
            .post("/forgot", &[("csrf", &csrf), ("email", &email)])
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        let token = crate::common::reset_token_to(b.app, &email)
            .await
            .expect("a reset link in the outbox");
        let p = b.get(&format!("/reset?token={token}")).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        let csrf = b.csrf();
        let p = b
            .post(
                "/reset",
                &[("csrf", &csrf), ("token", &token), ("password", "12345678")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        check_page(&p, lang);
        assert!(p.html.contains("role=\"alert\"") && p.html.contains(&token));
        let p = b
            .post(
                "/reset",
                &[("csrf", &csrf), ("token", &token), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        let p = b.get(&format!("/reset?token={token}")).await;
        assert_eq!(p.status, StatusCode::GONE, "a used link: {}", p.html);
        let p = b.sign_in(&email).await;
        assert_eq!(
            p.url, "/login/second-step",
            "a reset never skips the second step"
        );
        let p = b.app_code(&secret).await;
        assert_eq!(p.url, "/settings/security", "{}", p.html);

        // Change the sign-in email: a code to the new address confirms it.
        let new_email = format!("moved-{lang}@example.com");
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let csrf = b.csrf();
        let p = b
            .post(
                "/settings/security/email",
                &[
                    ("csrf", &csrf),
                    ("destination", &new_email),
                    ("password", PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        assert!(
            p.html.contains("/settings/security/email/confirm"),
            "{}",
            p.html
        );
        let sent = b.app.last_code_to(&new_email);
        let p = b
            .post(
                "/settings/security/email/confirm",
                &[("csrf", &csrf), ("code", &sent)],
            )
            .await;
        assert_eq!(p.url, "/settings/security?done=email-changed", "{}", p.html);
        assert!(p.html.contains(&new_email));

        // Delete the account.
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let p = b
            .post(
                "/settings/security/delete",
                &[
                    ("csrf", &csrf),
                    ("password", PASSWORD),
                    ("code", &code),
                    ("confirm", "yes"),
                    ("action", "delete"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        let p = b.get("/settings/security").await;
        assert_eq!(p.url, "/login", "signed out: the account is gone");
        let p = b.sign_in(&new_email).await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_pages_say_how_long_codes_live_and_what_the_operator_set() {
    let mut policy = Policy::default();
    policy.codes.email_separate_address = true;
    policy.support = Some("https://help.example/contact".into());
    let app = TestApp::with_policy(policy).await;
    for lang in ["en", "ja"] {
        let mut b = Browser::new(&app, lang);
        let email = format!("seeds-{lang}@example.com");
        let (secret, _) = enrol(&mut b, &email).await;
        let p = b.get("/settings/security").await;
        let help = if lang == "en" {
            "other than the one you sign in with"
        } else {
            "ログイン用とは別のアドレス"
        };
        assert!(p.html.contains(help), "the rule is on the form");
        // The sign-in address as the code address: refused, saying the rule.
        let p = post_email_method(&mut b, &secret, "", &email).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        check_page(&p, lang);
        let said = if lang == "en" {
            "Codes go to an email address other than"
        } else {
            "確認コードはログイン用とは別の"
        };
        assert!(
            p.html.contains(said),
            "the refusal says the rule: {}",
            p.html
        );

        // The QR code opens the app on the same phone.
        let csrf = b.csrf();
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let p = b
            .post(
                "/settings/security/totp/setup",
                &[("csrf", &csrf), ("password", PASSWORD), ("code", &code)],
            )
            .await;
        assert!(
            p.html.contains("<a class=\"qr\" href=\"otpauth://totp/"),
            "{}",
            p.html
        );

        // The second step says how long a code lives and offers the configured days.
        let csrf = b.csrf();
        b.post("/logout", &[("csrf", &csrf)]).await;
        let p = b.sign_in(&email).await;
        assert_eq!(p.url, "/login/second-step");
        check_page(&p, lang);
        let (lifetime, remember) = if lang == "en" {
            ("changes every 30 seconds", "for 30 days")
        } else {
            ("30秒ごとに変わります", "30日間")
        };
        assert!(
            p.html.contains(lifetime) && p.html.contains(remember),
            "{}",
            p.html
        );
        let p = b.get("/login/second-step?method=recovery").await;
        assert!(p.html.contains(if lang == "en" {
            "works once"
        } else {
            "1回だけ"
        }));
        assert!(
            p.html.contains("id=\"support\"")
                && p.html.contains("href=\"https://help.example/contact\""),
            "who lost everything is told where support is: {}",
            p.html
        );
        let p = b.app_code(&secret).await;
        assert!(
            p.html.contains("href=\"https://help.example/contact\""),
            "and on the security page"
        );
    }

    // With remembering off, the box is not offered.
    let app = TestApp::with_policy(Policy {
        remember_days: 0,
        ..Policy::default()
    })
    .await;
    let mut b = Browser::new(&app, "en");
    let (_, _) = enrol(&mut b, "no-remember@example.com").await;
    let csrf = b.csrf();
    b.post("/logout", &[("csrf", &csrf)]).await;
    let p = b.sign_in("no-remember@example.com").await;
    assert_eq!(p.url, "/login/second-step");
    assert!(!p.html.contains("id=\"remember\""), "{}", p.html);
}

#[tokio::test]
async fn changing_a_number_or_the_app_keeps_the_old_one_until_the_new_is_confirmed() {
    let app = TestApp::new().await;
    for lang in ["en", "ja"] {
        let mut b = Browser::new(&app, lang);
        let email = format!("mover-{lang}@example.com");
        let (secret, _) = enrol(&mut b, &email).await;
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let old_address = format!("old-{lang}@example.org");
        let (p, _) = add_email(&mut b, &old_address, &code).await;
        assert_eq!(p.url, "/settings/security?done=method-added", "{}", p.html);
        assert!(p.html.contains("id=\"change-email-method\""), "{}", p.html);
        assert!(p.html.contains("id=\"replace-totp\""));

        // A new address: the old one stays until the code sent to the new one is confirmed.
        let new_address = format!("new-{lang}@example.org");
        let p = post_email_method(&mut b, &secret, "change", &new_address).await;
        let csrf = b.csrf();
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        check_page(&p, lang);
        let page = b.get("/settings/security").await;
        assert!(
            page.html.contains("o***@example.org"),
            "the old address is still there"
        );
        let sent = b.app.last_code_to(&new_address);
        let shown = field(&p.html, "destination");
        let p = b
            .post(
                "/settings/security/oob/confirm",
                &[
                    ("csrf", &csrf),
                    ("method", "email"),
                    ("destination", &shown),
                    ("code", &sent),
                ],
            )
            .await;
        assert_eq!(p.url, "/settings/security?done=method-added", "{}", p.html);
        assert!(p.html.contains("n***@example.org") && !p.html.contains("o***@example.org"));

        // A new phone for the app: the old app works until the new one's code is confirmed.
        b.app.advance(30);
        let code = totp_code(secret.as_bytes(), b.app.now());
        let p = b
            .post(
                "/settings/security/totp/setup",
                &[
                    ("csrf", &csrf),
                    ("action", "replace"),
                    ("password", PASSWORD),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        let new_secret = secret_on(&p.html);
        let uri = field(&p.html, "destination").replace("&amp;", "&");
        b.app.advance(30);
        let old_code = totp_code(secret.as_bytes(), b.app.now());
        let wrong = b
            .post(
                "/settings/security/totp/confirm",
                &[("csrf", &csrf), ("code", &old_code), ("destination", &uri)],
            )
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "the old app's code does not confirm the new one"
        );
        let new_code = totp_code(new_secret.as_bytes(), b.app.now());
        let p = b
            .post(
                "/settings/security/totp/confirm",
                &[("csrf", &csrf), ("code", &new_code), ("destination", &uri)],
            )
            .await;
        assert_eq!(p.url, "/settings/security?done=method-added", "{}", p.html);
        let p = b.sign_in_again(&email).await;
        assert_eq!(p.url, "/login/second-step");
        let p = b.app_code(&secret).await;
        assert_eq!(
            p.status,
            StatusCode::UNAUTHORIZED,
            "the old app no longer signs in"
        );
        let p = b.app_code(&new_secret).await;
        assert_eq!(p.url, "/settings/security", "{}", p.html);

        // Sessions and the history in words, with the country column and paging.
        assert!(p.html.contains("Firefox on Linux"), "{}", p.html);
        assert!(!p.html.contains(FIREFOX), "not the raw user agent");
    }
}

#[tokio::test]
async fn the_history_pages_back_and_the_codes_page_works_without_javascript() {
    let app = TestApp::new().await;
    let mut b = Browser::new(&app, "en");
    let (secret, codes) = enrol(&mut b, "history@example.com").await;
    let _ = codes;
    // A long history.
    let user = b
        .app
        .service
        .admin_show_user("history@example.com")
        .await
        .unwrap()
        .user;
    for i in 0..60 {
        b.app
            .service
            .store()
            .append_activity(nidan_service::ports::NewActivity {
                user_id: user.id.clone(),
                at: b.app.now() + i,
                kind: "sign_in",
                method: None,
                result: "success",
                ip: "192.0.2.7".into(),
                user_agent: FIREFOX.into(),
                detail: None,
                country: Some("JP".into()),
            })
            .await
            .unwrap();
    }
    let p = b.get("/settings/security").await;
    assert!(p.html.contains("id=\"activity-older\""), "{}", p.html);
    let at = p.html.find("/settings/security?before=").unwrap();
    let link: String = p.html[at..].chars().take_while(|c| *c != '"').collect();
    let link = link.replace("&amp;", "&");
    assert!(
        p.html.contains("<td>JP</td>") && p.html.contains("<td>Firefox on Linux</td>"),
        "the history says the country and the browser in words: {}",
        p.html
    );
    let older = b.get(&link).await;
    check_page(&older, "en");
    assert!(older.html.contains("<td>"), "the older page lists events");

    // The recovery codes page says what to do without script, and saving new codes while
    // two-step is off does not claim it is on.
    b.app.advance(30);
    let code = totp_code(secret.as_bytes(), b.app.now());
    let csrf = b.csrf();
    let p = b
        .post(
            "/settings/security/two-step",
            &[
                ("csrf", &csrf),
                ("action", "off"),
                ("password", PASSWORD),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(p.url, "/settings/security?done=off", "{}", p.html);
    b.app.advance(30);
    let code = totp_code(secret.as_bytes(), b.app.now());
    let csrf = b.csrf();
    let p = b
        .post(
            "/settings/security/recovery",
            &[("csrf", &csrf), ("password", PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    assert!(
        p.html.contains("<noscript>") && p.html.contains("codes-no-script"),
        "{}",
        p.html
    );
    let joined = field(&p.html, "codes");
    let p = b
        .post(
            "/settings/security/recovery/done",
            &[("csrf", &csrf), ("codes", &joined), ("saved", "1")],
        )
        .await;
    assert!(p.html.contains("Your recovery codes are saved.") && p.html.contains("state-off"));
    assert!(
        !p.html.contains("Two-step verification is on."),
        "{}",
        p.html
    );
}
