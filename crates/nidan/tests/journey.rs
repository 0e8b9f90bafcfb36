//! What the journeys through the real binary share: the accounts, a client that keeps cookies
//! as a browser does, the forms of the sign-in pages, and TOTP codes of the test seed.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, LOCATION};

use crate::common::{nidan_in, output_of};

/// The seed of the account with an authenticator app.
pub(crate) const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) fn run(cmd: Command, stdin: Option<&str>) {
    let what = format!("{cmd:?}");
    let out = output_of(cmd, stdin);
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn wait_for_port(port: u16, what: &str, proc: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = proc.try_wait() {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited before listening: {status}\n{said}");
        }
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).unwrap()
}

/// A browser's page request.
pub(crate) async fn page(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.get(url)
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap()
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in {} ({})", r.status(), r.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of the hidden `name` field of a form.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    let len = html[start..].find('"').unwrap();
    // As a browser reads it: the HTML entities the templates write, decoded.
    html[start..start + len]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// Posts a form (with the page's CSRF token) and expects a redirect; answers where to.
pub(crate) async fn post(
    c: &reqwest::Client,
    url: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let r = c.post(url).form(&form).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{url}: {}",
        r.text().await.unwrap()
    );
    location(&r)
}

/// The machine's time: the server checks codes against it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A page answered to a posted form (with the page's CSRF token).
pub(crate) async fn post_page(c: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> String {
    c.post(url)
        .form(fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn totp_now(step_ahead: u64) -> String {
    let key = data_encoding::BASE32_NOPAD.decode(SEED.as_bytes()).unwrap();
    let now = unix_now();
    nidan_domain::totp_code_for_step(&key, nidan_domain::totp_step(now) + step_ahead)
}

/// reqwest is built without a default TLS provider; the journeys speak plain HTTP, but the
/// client wants one installed all the same.
pub(crate) fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Two accounts with the test password, made before the server starts: `with_app` with an
/// authenticator app of seed [`SEED`], `without` with no two-step.
pub(crate) fn accounts(dir: &Path, with_app: &str, without: &str) {
    for email in [with_app, without] {
        let mut cmd = nidan_in(dir);
        cmd.args(["admin", "user", "add", email, "--password-stdin"]);
        run(cmd, Some(PASSWORD));
    }
    let seeds = dir.join("seeds.csv");
    std::fs::write(&seeds, format!("{with_app},{SEED}\n")).unwrap();
    let mut cmd = nidan_in(dir);
    cmd.args(["admin", "totp", "import", seeds.to_str().unwrap()]);
    run(cmd, None);
}

/// From nidan's sign-in page at `login` to signed in with the password and (when the account
/// has one) the authenticator app; answers where nidan sent the browser at the end.
pub(crate) async fn sign_in_at(
    c: &reqwest::Client,
    auth: &str,
    login: &str,
    email: &str,
) -> String {
    sign_in_with(c, auth, login, email, 0).await
}

/// [`sign_in_at`] with the code of `step_ahead` steps after now (a second sign-in within one
/// 30-second step needs a newer step: each step's code works once).
pub(crate) async fn sign_in_with(
    c: &reqwest::Client,
    auth: &str,
    login: &str,
    email: &str,
    step_ahead: u64,
) -> String {
    let form = page(c, login).await;
    assert_eq!(form.status(), StatusCode::OK);
    let csrf = hidden(&form.text().await.unwrap(), "csrf");
    let next = post(
        c,
        &format!("{auth}/login"),
        &csrf,
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    if next != "/login/second-step" {
        return next;
    }
    let step = page(c, &format!("{auth}{next}")).await;
    let csrf = hidden(&step.text().await.unwrap(), "csrf");
    post(
        c,
        &format!("{auth}/login/second-step"),
        &csrf,
        &[("method", "totp"), ("code", &totp_now(step_ahead))],
    )
    .await
}
