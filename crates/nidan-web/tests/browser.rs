//! End to end in headless Chromium over WebDriver (fantoccini + Debian's chromium-driver):
//! everything a person does on the pages, in English and in Japanese, with a screenshot of every
//! page under `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install -y chromium
//! chromium-driver`); without them the test fails saying so, unless `NIDAN_SKIP_BROWSER=1`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use nidan_domain::{TotpSecret, totp_code};
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";
/// The password a reset sets (and the security page changes back).
const NEW_PASSWORD: &str = "seven purple kites over a quiet harbour";

/// Ends chromedriver (the one this test started) when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshots() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run<'a> {
    c: Client,
    base: String,
    app: &'a TestApp,
    lang: &'static str,
    shots: PathBuf,
}

impl Run<'_> {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}-{}.png", self.lang));
        std::fs::write(&path, png).unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Waits until the page at `path` holds `marker` (a form posted back to its own path).
    async fn until(&self, path: &str, marker: &str) -> String {
        for _ in 0..100 {
            let html = self.at(path).await;
            if html.contains(marker) {
                return html;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never showed {marker}");
    }

    /// Waits until the browser shows `path` (and the page has loaded).
    async fn at(&self, path: &str) -> String {
        for _ in 0..100 {
            let url = self.c.current_url().await.unwrap();
            let here = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            let ready = self
                .c
                .execute("return document.readyState", vec![])
                .await
                .unwrap();
            if here == path && ready == "complete" {
                let html = self.c.source().await.unwrap();
                // The page before a form's redirect can have the same path (the language
                // switch posts and comes back to it): wait for the page in the expected language.
                if html.contains(&format!("<html lang=\"{}\"", self.lang)) {
                    assert!(!html.contains("⟦"), "missing message on {path}");
                    return html;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "never reached {path} in language {}; at {}",
            self.lang,
            self.c.current_url().await.unwrap()
        );
    }

    fn code(&self, secret: &TotpSecret) -> String {
        self.app.advance(30);
        totp_code(secret.as_bytes(), self.app.now())
    }

    async fn logout(&self) {
        self.click("form[action='/logout'] button").await;
        self.at("/login").await;
    }

    async fn password(&self, email: &str) {
        self.go("/login").await;
        self.at("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// Signs out, then in with the password and "try another method": a recovery code.
    async fn recovery_sign_in(&self, email: &str, code: &str) {
        self.logout().await;
        self.password(email).await;
        self.at("/login/second-step").await;
        self.click("a[href='/login/second-step?method=recovery']")
            .await;
        self.at("/login/second-step?method=recovery").await;
        self.shot("second-step-recovery").await;
        self.fill("#code", code).await;
        self.click("form[action='/login/second-step'] button[type=submit]")
            .await;
        self.at("/settings/security?done=recovery-used").await;
    }

    /// The two-step form: password, a code, then the button for `action`.
    async fn two_step(&self, action: &str, secret: &TotpSecret) {
        self.fill("#pw-two-step", PASSWORD).await;
        self.fill("#code-two-step", &self.code(secret)).await;
        self.click(&format!("button[name=action][value={action}]"))
            .await;
        let done = if action == "remove" {
            "removed"
        } else {
            action
        };
        self.at(&format!("/settings/security?done={done}")).await;
    }
}

/// One person's whole journey in one language.
async fn journey(r: &Run<'_>, email: &str) {
    // Sign up.
    r.go("/signup").await;
    r.at("/signup").await;
    r.shot("signup").await;
    r.fill("#email", email).await;
    r.fill("#password", PASSWORD).await;
    r.click("form[action='/signup'] button[type=submit]").await;
    // A new account is offered two-step at once: the app setup is open.
    r.at("/settings/security?done=welcome").await;
    r.shot("security-new").await;

    // The authenticator app: read the secret off the page, compute the code.
    r.fill("#pw-totp-add", PASSWORD).await;
    r.click("form[action='/settings/security/totp/setup'] button")
        .await;
    r.at("/settings/security/totp/setup").await;
    r.shot("totp-setup").await;
    let secret_text = r.c.find(Locator::Css("#totp-secret")).await.unwrap();
    let secret_text = secret_text.text().await.unwrap();
    assert_eq!(secret_text.split(' ').next().unwrap().len(), 4);
    let secret = TotpSecret::from_base32(&secret_text.replace(' ', "")).unwrap();
    // The QR code itself is a link that opens the app on this phone.
    r.c.find(Locator::Css("a.qr[href^='otpauth://totp/'] svg"))
        .await
        .expect("the QR code is a link to the otpauth URI");
    let open = r.c.find(Locator::Css("a[href^='otpauth://totp/']")).await;
    assert!(open.is_ok(), "the open-in-app link");
    r.fill("#code", &r.code(&secret)).await;
    r.click("form[action='/settings/security/totp/confirm'] button")
        .await;
    r.at("/settings/security/totp/confirm").await;
    r.shot("recovery-codes").await;

    // The recovery codes: the download holds them, the script runs under the CSP.
    let codes: Vec<String> = {
        let mut v = Vec::new();
        for e in
            r.c.find_all(Locator::Css("#recovery-codes code"))
                .await
                .unwrap()
        {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert!(codes.len() >= 8);
    let link = r.c.find(Locator::Css("#codes-download")).await.unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    let payload = href.strip_prefix("data:text/plain;charset=utf-8,").unwrap();
    let text = percent_encoding::percent_decode_str(payload)
        .decode_utf8()
        .unwrap()
        .into_owned();
    for c in &codes {
        assert!(text.contains(c.as_str()), "{c} in the download");
    }
    let shown =
        r.c.execute(
            "return !document.querySelector('[data-print]').hidden && \
             !document.querySelector('[data-copy]').hidden",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(true), "nidan.js ran");
    link.click().await.unwrap();
    let blob =
        r.c.execute(
            "return document.getElementById('codes-download').href",
            vec![],
        )
        .await
        .unwrap();
    assert!(blob.as_str().unwrap().starts_with("blob:"), "{blob}");
    r.click("#saved").await;
    r.click("form[action='/settings/security/recovery/done'] button")
        .await;
    let html = r.at("/settings/security?done=codes-saved").await;
    assert!(html.contains("state-on"));
    r.shot("security-on").await;

    // Sign in with a code.
    r.logout().await;
    r.shot("login").await;
    r.password(email).await;
    r.at("/login/second-step").await;
    r.shot("second-step").await;
    r.fill("#code", "123456").await;
    r.click("form[action='/login/second-step'] button[type=submit]")
        .await;
    r.at("/login/second-step").await;
    r.shot("second-step-error").await;
    r.fill("#code", &r.code(&secret)).await;
    r.click("form[action='/login/second-step'] button[type=submit]")
        .await;
    r.at("/settings/security").await;

    // With a recovery code.
    r.recovery_sign_in(email, &codes[0]).await;

    // With "remember this device": the next sign-in skips the code.
    r.logout().await;
    r.password(email).await;
    r.at("/login/second-step").await;
    r.fill("#code", &r.code(&secret)).await;
    r.click("#remember").await;
    r.click("form[action='/login/second-step'] button[type=submit]")
        .await;
    r.at("/settings/security").await;
    r.logout().await;
    r.password(email).await;
    r.at("/settings/security").await;
    r.shot("security-device").await;

    // Forgot the password: the link comes by email, the new password is set, and signing in
    // with it still asks for the code (the remembered device is forgotten too).
    r.logout().await;
    r.click("a[href='/forgot']").await;
    r.at("/forgot").await;
    r.shot("forgot").await;
    r.fill("#email", email).await;
    r.click("form[action='/forgot'] button[type=submit]").await;
    r.until("/forgot", "href=\"/login\"").await;
    r.shot("forgot-sent").await;
    let token = crate::common::reset_token_to(r.app, email)
        .await
        .expect("the reset link is in the outbox");
    let reset = format!("/reset?token={token}");
    r.go(&reset).await;
    r.at(&reset).await;
    r.fill("#password", "qwerty123qwerty123").await;
    r.click("form[action='/reset'] button[type=submit]").await;
    r.until("/reset", "reset-error").await;
    r.shot("reset-weak").await;
    r.fill("#password", NEW_PASSWORD).await;
    r.click("form[action='/reset'] button[type=submit]").await;
    r.until("/reset", "href=\"/login\"").await;
    r.shot("reset-done").await;
    r.go("/login").await;
    r.at("/login").await;
    r.fill("#email", email).await;
    r.fill("#password", NEW_PASSWORD).await;
    r.click("form[action='/login'] button[type=submit]").await;
    r.at("/login/second-step").await;
    r.fill("#code", &r.code(&secret)).await;
    r.click("form[action='/login/second-step'] button[type=submit]")
        .await;
    r.at("/settings/security").await;
    // …and back to the first password through the security page's own form.
    r.click("#change-password summary").await;
    r.fill("#new-password", PASSWORD).await;
    r.fill("#pw-password", NEW_PASSWORD).await;
    r.fill("#code-password", &r.code(&secret)).await;
    r.click("form[action='/settings/security/password'] button[type=submit]")
        .await;
    r.at("/settings/security?done=password-changed").await;
    r.shot("password-changed").await;

    // A second way in: codes by email; then a new address, the old one kept until the new
    // one's code is confirmed.
    let old_address = format!("codes-{email}");
    r.click("#add-email summary").await;
    r.fill("#dest-email", &old_address).await;
    r.fill("#pw-email-add", PASSWORD).await;
    r.fill("#code-email-add", &r.code(&secret)).await;
    r.click("#add-email form button[type=submit]").await;
    r.at("/settings/security/oob/setup").await;
    r.fill("#code", &r.app.last_code_to(&old_address)).await;
    r.click("form[action='/settings/security/oob/confirm'] button[type=submit]")
        .await;
    r.at("/settings/security?done=method-added").await;
    let new_address = format!("new-{email}");
    r.click("#change-email-method summary").await;
    r.fill("#new-dest-email", &new_address).await;
    r.fill("#pw-email-change", PASSWORD).await;
    r.fill("#code-email-change", &r.code(&secret)).await;
    r.click("#change-email-method form button[type=submit]")
        .await;
    r.at("/settings/security/oob/setup").await;
    r.fill("#code", &r.app.last_code_to(&new_address)).await;
    r.click("form[action='/settings/security/oob/confirm'] button[type=submit]")
        .await;
    let html = r.at("/settings/security?done=method-added").await;
    assert!(
        html.contains("n***@example.com"),
        "the new address replaced the old"
    );
    r.shot("method-changed").await;

    // A new phone: the app is replaced once a code from the new one is confirmed.
    r.click("#replace-totp summary").await;
    r.fill("#pw-totp-replace", PASSWORD).await;
    r.fill("#code-totp-replace", &r.code(&secret)).await;
    r.click("#replace-totp form button[type=submit]").await;
    r.at("/settings/security/totp/setup").await;
    let new_text = r.c.find(Locator::Css("#totp-secret")).await.unwrap();
    let new_text = new_text.text().await.unwrap();
    let secret = TotpSecret::from_base32(&new_text.replace(' ', "")).unwrap();
    r.fill("#code", &r.code(&secret)).await;
    r.click("form[action='/settings/security/totp/confirm'] button")
        .await;
    r.at("/settings/security?done=method-added").await;

    // Who lost everything is told where support is.
    r.logout().await;
    r.password(email).await;
    r.at("/login/second-step").await;
    r.go("/login/second-step?method=recovery").await;
    r.at("/login/second-step?method=recovery").await;
    r.c.find(Locator::Css(
        "#support a[href='https://help.example/contact']",
    ))
    .await
    .expect("the support contact is on the second-step page");
    r.shot("second-step-support").await;
    r.go("/login/second-step").await;
    r.at("/login/second-step").await;
    r.fill("#code", &r.code(&secret)).await;
    r.click("form[action='/login/second-step'] button[type=submit]")
        .await;
    r.at("/settings/security").await;

    // Off (temporarily), on again, removed.
    r.two_step("off", &secret).await;
    r.shot("security-off").await;
    r.two_step("on", &secret).await;
    r.two_step("remove", &secret).await;
    r.shot("security-removed").await;

    // Add a phone number: the code page says where the code went and how long to wait.
    r.click("#add-sms summary").await;
    r.fill("#dest-sms", "+81 90 1234 5678").await;
    r.fill("#pw-sms-add", PASSWORD).await;
    r.click("#add-sms form button").await;
    let html = r.at("/settings/security/oob/setup").await;
    assert!(
        html.contains("5678") && !html.contains("1234 5678"),
        "masked"
    );
    r.shot("sms-confirm").await;
    r.click("a[href='/settings/security']").await;
    r.at("/settings/security").await;

    // A form posted without its CSRF token is refused with the message page.
    r.c.execute(
        "var f = document.createElement('form'); f.method = 'post'; \
         f.action = '/settings/security/two-step'; document.body.appendChild(f); f.submit();",
        vec![],
    )
    .await
    .unwrap();
    let html = r.at("/settings/security/two-step").await;
    assert!(html.contains("role=\"alert\""));
    r.shot("csrf-403").await;

    // Narrow screen.
    r.c.set_window_size(320, 900).await.unwrap();
    r.go("/settings/security").await;
    r.at("/settings/security").await;
    r.shot("security-320").await;
    r.logout().await;
    r.shot("login-320").await;
    r.c.set_window_size(1000, 2200).await.unwrap();
}

/// Serves `router` on `listener` until the test ends.
fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// False (the test says it is skipped) with `NIDAN_SKIP_BROWSER=1`; panics when Chromium or
/// its WebDriver is missing.
fn browser_available() -> bool {
    if std::env::var("NIDAN_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("NIDAN_SKIP_BROWSER=1: browser test skipped");
        return false;
    }
    for bin in [CHROMIUM, DRIVER] {
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: install Chromium and its WebDriver with \
             `apt-get update && apt-get install -y chromium chromium-driver` \
             (or set NIDAN_SKIP_BROWSER=1 to skip this test)"
        );
    }
    true
}

/// Starts chromedriver and a headless Chromium session: the driver (ended when dropped), the
/// client, and the profile directory (kept while the browser runs).
async fn browser() -> (Driver, Client, tempfile::TempDir) {
    let port = free_port();
    let driver = Driver(
        Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--lang=en-US",
                "--window-size=1000,2200",
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": { "intl.accept_languages": "en-US,en" }
        }
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    let mut client = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let c = client.expect("chromedriver did not start");
    (driver, c, profile)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_in_headless_chromium() {
    if !browser_available() {
        return;
    }

    let app = TestApp::with_policy(nidan_service::Policy {
        support: Some("https://help.example/contact".into()),
        ..nidan_service::Policy::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(listener, app.router.clone());

    let (_driver, c, _profile) = browser().await;
    let shots = screenshots();
    let mut run = Run {
        c,
        base: format!("http://{addr}"),
        app: &app,
        lang: "en",
        shots,
    };
    journey(&run, "browser-en@example.com").await;

    // Switch the language with the header's button; it sticks.
    run.go("/login").await;
    run.at("/login").await;
    run.click("form[action='/lang'] button").await;
    run.lang = "ja";
    let html = run.at("/login").await;
    assert!(html.contains("ログイン"), "{html}");
    journey(&run, "browser-ja@example.com").await;
    run.c.close().await.unwrap();
}

/// Chrome's virtual authenticators (WebDriver's WebAuthn extension, which fantoccini does not
/// wrap): add one with the given options, or remove one.
#[derive(Debug)]
enum VirtualAuthenticator {
    Add(serde_json::Value),
    Remove(String),
}

impl fantoccini::wd::WebDriverCompatibleCommand for VirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&match self {
            Self::Add(_) => format!("session/{session}/webauthn/authenticator"),
            Self::Remove(id) => format!("session/{session}/webauthn/authenticator/{id}"),
        })
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        match self {
            Self::Add(options) => (axum::http::Method::POST, Some(options.to_string())),
            Self::Remove(_) => (axum::http::Method::DELETE, None),
        }
    }
}

/// A security key: CTAP2 over USB, no resident credentials, no user verification.
fn security_key() -> serde_json::Value {
    json!({"protocol": "ctap2", "transport": "usb", "hasResidentKey": false,
           "hasUserVerification": false, "isUserConsenting": true})
}

/// A passkey's platform authenticator: resident credentials, user verification (the person
/// unlocks it with a PIN, a fingerprint or a face).
fn platform_authenticator() -> serde_json::Value {
    json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
           "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true})
}

impl Run<'_> {
    async fn attach(&self, options: serde_json::Value) -> String {
        let id = self
            .c
            .issue_cmd(VirtualAuthenticator::Add(options))
            .await
            .unwrap();
        id.as_str().unwrap().to_owned()
    }

    async fn detach(&self, id: &str) {
        self.c
            .issue_cmd(VirtualAuthenticator::Remove(id.to_owned()))
            .await
            .unwrap();
    }

    /// The "add a security key or passkey" form, filled and sent.
    async fn add_key(&self, name: &str, passkey: bool, code: Option<&str>) {
        self.click("#add-webauthn summary").await;
        self.fill("#webauthn-name", name).await;
        if passkey {
            self.click("#kind-passkey").await;
        }
        self.fill("#pw-webauthn-add", PASSWORD).await;
        if let Some(code) = code {
            self.fill("#code-webauthn-add", code).await;
        }
        self.click("form[data-webauthn=register] button[type=submit]")
            .await;
    }

    /// Signs in with the password, then the key step with whatever authenticator is attached.
    async fn key_sign_in(&self, email: &str) {
        self.password(email).await;
        let html = self.at("/login/second-step").await;
        assert!(html.contains("data-webauthn=\"sign-in\""), "{html}");
        self.click("form[data-webauthn=sign-in] button[type=submit]")
            .await;
        self.at("/settings/security").await;
    }
}

/// A person with a security key, then a passkey, in one language.
async fn key_journey(r: &Run<'_>, email: &str) {
    r.go("/signup").await;
    r.at("/signup").await;
    r.fill("#email", email).await;
    r.fill("#password", PASSWORD).await;
    r.click("form[action='/signup'] button[type=submit]").await;
    r.at("/settings/security?done=welcome").await;

    // A security key as the first method: the recovery codes come with it.
    let key = r.attach(security_key()).await;
    r.add_key("YubiKey 5", false, None).await;
    r.at("/settings/security/webauthn/finish").await;
    r.shot("webauthn-recovery-codes").await;
    let mut codes = Vec::new();
    for e in
        r.c.find_all(Locator::Css("#recovery-codes code"))
            .await
            .unwrap()
    {
        codes.push(e.text().await.unwrap());
    }
    assert_eq!(codes.len(), 8);
    r.click("#saved").await;
    r.click("form[action='/settings/security/recovery/done'] button")
        .await;
    let html = r.at("/settings/security?done=codes-saved").await;
    assert!(html.contains("YubiKey 5"), "{html}");
    r.shot("webauthn-security").await;

    // Signing in: the key is offered first, and its answer finishes the sign-in.
    r.logout().await;
    r.password(email).await;
    r.at("/login/second-step").await;
    r.shot("second-step-webauthn").await;
    r.click("form[data-webauthn=sign-in] button[type=submit]")
        .await;
    r.at("/settings/security").await;
    r.detach(&key).await;

    // A passkey on this "phone", added with a recovery code as the current code.
    let phone = r.attach(platform_authenticator()).await;
    r.add_key("Phone", true, Some(&codes[0])).await;
    let html = r.at("/settings/security?done=method-added").await;
    assert!(
        html.contains("Phone") && html.contains("YubiKey 5"),
        "{html}"
    );
    // The key that signed in says when it last did.
    let used = if r.lang == "ja" {
        "最終使用"
    } else {
        "last used"
    };
    assert!(html.contains(used), "{html}");
    r.logout().await;
    r.key_sign_in(email).await;
    // And without a password: the passkey alone (it verifies its user: two factors in one).
    r.logout().await;
    r.shot("login-passkey").await;
    r.click("form[data-webauthn=passkey] button[type=submit]")
        .await;
    let html = r.at("/settings/security").await;
    assert!(html.contains(email), "{html}");
    r.detach(&phone).await;

    // The key lost: "try another method" still works.
    r.recovery_sign_in(email, &codes[1]).await;
    r.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_keys_and_passkeys_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    // WebAuthn needs a host name (browsers refuse it on an IP address): the server is reached
    // as localhost, and that is its public URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://localhost:{}", addr.port());
    let app = TestApp::with_policy(nidan_service::Policy {
        public_url: base.clone(),
        ..nidan_service::Policy::default()
    })
    .await;
    serve(listener, app.router.clone());
    let (_driver, c, _profile) = browser().await;
    let mut run = Run {
        c,
        base,
        app: &app,
        lang: "en",
        shots: screenshots(),
    };
    key_journey(&run, "keys-en@example.com").await;
    run.go("/login").await;
    run.at("/login").await;
    run.click("form[action='/lang'] button").await;
    run.lang = "ja";
    run.at("/login").await;
    key_journey(&run, "keys-ja@example.com").await;
    run.c.close().await.unwrap();
}
