//! Forward-auth behind real reverse proxies: nginx (`auth_request`) and Caddy (`forward_auth`),
//! from Debian's packages, started on loopback ports in front of a small backend that answers
//! with the identity headers that reached it. A client that keeps cookies, as a browser does,
//! walks the whole journey: the app sends it to sign in, the password, the second step, back to
//! the page it asked for with the identity on the way to the app; a forged `Remote-User` never
//! reaches the app; `deny` and group rules; the two-step rule for an account without two-step
//! (turn it on, then back); sign-out for every app at once.
//!
//! The host names (`auth.example.test` for nidan, `app.example.test` for the app) resolve to
//! 127.0.0.1 inside the client only, so the session cookie's `Domain=example.test` is exercised
//! as on a real deployment. `scripts/test` installs nginx and caddy; without them these tests fail
//! saying so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::ACCEPT;

use crate::common::{Server, free_port, nidan_in};
use crate::journey::{
    PASSWORD, accounts, hidden, location, log_file, page, post, post_page, run, sign_in_at,
    tls_provider, unix_now, wait_for_port,
};

const WITH_APP: &str = "alice@example.test";
const WITHOUT: &str = "bob@example.test";

/// A process killed when dropped (the proxy).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install it with `apt-get install -y nginx-light caddy` (scripts/test \
         does)"
    );
    p
}

/// The backend: answers every request with the path and the identity headers it received.
fn start_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut lines = head.split("\r\n");
                let path = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("")
                    .to_owned();
                let mut body = format!("path={path}\n");
                for line in lines {
                    if let Some((name, value)) = line.split_once(':')
                        && name.to_ascii_lowercase().starts_with("remote-")
                    {
                        body.push_str(&format!("{}={}\n", name.to_ascii_lowercase(), value.trim()));
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    port
}

/// The rules of the test deployment, as `NIDAN_ACCESS_RULES`.
const RULES: &str = r#"[
  {hosts = ["app.example.test"], paths = ["/public"], policy = "bypass"},
  {hosts = ["app.example.test"], paths = ["/denied"], policy = "deny"},
  {hosts = ["app.example.test"], paths = ["/admin"], groups = ["admins"], policy = "two_factor"},
  {hosts = ["app.example.test"], paths = ["/admin"], policy = "deny"},
  {hosts = ["app.example.test"], policy = "two_factor"},
]"#;

struct Deployment {
    dir: tempfile::TempDir,
    _nidan: Server,
    _proxy: Proc,
    auth: String,
    app: String,
    ports: (u16, u16),
}

impl Deployment {
    fn admin(&self, args: &[&str], stdin: Option<&str>) {
        let mut cmd = nidan_in(self.dir.path());
        cmd.arg("admin").args(args);
        run(cmd, stdin);
    }

    /// A client with a cookie jar, that follows no redirect by itself, and finds the test's host
    /// names on 127.0.0.1.
    fn client(&self) -> reqwest::Client {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("auth.example.test", local(self.ports.0))
            .resolve("app.example.test", local(self.ports.1))
            .build()
            .unwrap()
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

fn nginx_conf(listen: u16, nidan: u16, backend: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{listen};
    server_name app.example.test;

    location = /internal/nidan {{
      internal;
      proxy_pass http://127.0.0.1:{nidan}/api/v1/authz/auth-request;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
    }}

    location / {{
      auth_request /internal/nidan;
      auth_request_set $nidan_user $upstream_http_remote_user;
      auth_request_set $nidan_email $upstream_http_remote_email;
      auth_request_set $nidan_name $upstream_http_remote_name;
      auth_request_set $nidan_groups $upstream_http_remote_groups;
      auth_request_set $nidan_location $upstream_http_location;
      error_page 401 =302 $nidan_location;
      # Set (or, when empty, removed): a client's own Remote-* headers never reach the app.
      proxy_set_header Remote-User $nidan_user;
      proxy_set_header Remote-Email $nidan_email;
      proxy_set_header Remote-Name $nidan_name;
      proxy_set_header Remote-Groups $nidan_groups;
      proxy_pass http://127.0.0.1:{backend};
    }}
  }}
}}
"#
    )
}

fn caddyfile(listen: u16, nidan: u16, backend: u16) -> String {
    format!(
        r#"{{
  admin off
  auto_https off
}}

http://app.example.test:{listen} {{
  bind 127.0.0.1
  route {{
    # A client's own Remote-* headers never reach the app.
    request_header -Remote-User
    request_header -Remote-Email
    request_header -Remote-Name
    request_header -Remote-Groups
    forward_auth 127.0.0.1:{nidan} {{
      uri /api/v1/authz/forward-auth
      copy_headers Remote-User Remote-Email Remote-Name Remote-Groups
    }}
    reverse_proxy 127.0.0.1:{backend}
  }}
}}
"#
    )
}

fn deploy(kind: Kind) -> Deployment {
    tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let (nidan_port, proxy_port) = (free_port(), free_port());
    let backend = start_backend();
    let auth = format!("http://auth.example.test:{nidan_port}");
    let app = format!("http://app.example.test:{proxy_port}");

    // The accounts, before the server starts: one with an authenticator app, one without.
    accounts(dir.path(), WITH_APP, WITHOUT);

    let mut cmd = nidan_in(dir.path());
    cmd.arg("serve")
        .env("NIDAN_SERVER_LISTEN", format!("127.0.0.1:{nidan_port}"))
        .env("NIDAN_SERVER_PUBLIC_URL", &auth)
        .env("NIDAN_SERVER_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("NIDAN_SESSION_COOKIE_DOMAIN", "example.test")
        .env("NIDAN_ACCESS_RULES", RULES)
        .stdout(Stdio::null())
        .stderr(log_file(dir.path(), "nidan.log"));
    let mut nidan = Server(cmd.spawn().unwrap());
    wait_for_port(
        nidan_port,
        "nidan",
        &mut nidan.0,
        &dir.path().join("nidan.log"),
    );

    let mut proxy = match kind {
        Kind::Nginx => {
            let conf = dir.path().join("nginx.conf");
            std::fs::write(
                &conf,
                nginx_conf(proxy_port, nidan_port, backend, dir.path()),
            )
            .unwrap();
            Command::new(program("/usr/sbin/nginx"))
                .arg("-c")
                .arg(&conf)
                .arg("-p")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(log_file(dir.path(), "proxy.log"))
                .spawn()
                .unwrap()
        }
        Kind::Caddy => {
            let file = dir.path().join("Caddyfile");
            std::fs::write(&file, caddyfile(proxy_port, nidan_port, backend)).unwrap();
            Command::new(program("/usr/bin/caddy"))
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("caddy-data"))
                .env("XDG_CONFIG_HOME", dir.path().join("caddy-config"))
                .stdout(Stdio::null())
                .stderr(log_file(dir.path(), "proxy.log"))
                .spawn()
                .unwrap()
        }
    };
    wait_for_port(
        proxy_port,
        "the proxy",
        &mut proxy,
        &dir.path().join("proxy.log"),
    );
    Deployment {
        dir,
        _nidan: nidan,
        _proxy: Proc(proxy),
        auth,
        app,
        ports: (nidan_port, proxy_port),
    }
}

/// From the app's page to signed in with the password and (when the account has one) the
/// authenticator app; answers where nidan sent the browser at the end.
async fn sign_in(d: &Deployment, c: &reqwest::Client, url: &str, email: &str) -> String {
    let first = page(c, url).await;
    assert_eq!(
        first.status(),
        StatusCode::FOUND,
        "{url} did not ask to sign in"
    );
    let login = location(&first);
    let rd = format!(
        "rd={}",
        percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC)
    );
    assert!(
        login.starts_with(&format!("{}/login?", d.auth)) && login.contains(&rd),
        "{login}"
    );
    sign_in_at(c, &d.auth, &login, email).await
}

/// What the backend saw, or the status when the proxy did not let the request through.
async fn through(
    c: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<String, StatusCode> {
    let mut req = c.get(url).header(ACCEPT, "text/html");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    match r.status() {
        StatusCode::OK => Ok(r.text().await.unwrap()),
        other => Err(other),
    }
}

async fn journey(kind: Kind) {
    let d = deploy(kind);
    let c = d.client();
    let home = format!("{}/wiki/page?x=1", d.app);

    // Open paths pass without a session, and a forged identity does not reach the app.
    let open = through(
        &c,
        &format!("{}/public/readme", d.app),
        &[("Remote-User", "admin@example.test")],
    )
    .await
    .unwrap();
    assert!(
        open.lines()
            .all(|l| !l.starts_with("remote-") || l.ends_with('=')),
        "{kind:?}: an identity reached the app without a session: {open}"
    );
    // A path that climbs out of the open one is not open.
    assert_eq!(
        through(&c, &format!("{}/public/%2e%2e/wiki", d.app), &[])
            .await
            .unwrap_err(),
        StatusCode::FOUND
    );
    // A script's request is refused rather than sent to a sign-in page.
    let xhr = c
        .get(&home)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        xhr.status(),
        if matches!(kind, Kind::Caddy) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FOUND
        }
    );

    // Sign in with the password and the app's code, and land on the page asked for.
    let back = sign_in(&d, &c, &home, WITH_APP).await;
    assert_eq!(back, home, "{kind:?}: not sent back to the page asked for");
    let seen = through(
        &c,
        &home,
        &[
            ("Remote-User", "admin@example.test"),
            ("Remote-Groups", "admins"),
        ],
    )
    .await
    .unwrap();
    assert!(seen.contains("path=/wiki/page?x=1"), "{seen}");
    assert!(
        seen.contains(&format!("remote-user={WITH_APP}")),
        "{kind:?}: {seen}"
    );
    assert!(seen.contains(&format!("remote-email={WITH_APP}")), "{seen}");
    assert!(seen.contains("remote-name=alice"), "{seen}");
    assert!(
        !seen.contains("admin@example.test") && !seen.contains("remote-groups=admins"),
        "{kind:?}: forged: {seen}"
    );

    // Deny rules, and a group rule that opens once the user is in the group.
    assert_eq!(
        through(&c, &format!("{}/denied", d.app), &[])
            .await
            .unwrap_err(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        through(&c, &format!("{}/admin/x", d.app), &[])
            .await
            .unwrap_err(),
        StatusCode::FORBIDDEN
    );
    d.admin(&["user", "groups", WITH_APP, "add", "admins"], None);
    // The session's groups are read again within a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let admin = through(&c, &format!("{}/admin/x", d.app), &[])
        .await
        .unwrap();
    assert!(admin.contains("remote-groups=admins"), "{admin}");

    // Signing out from an app's link ends the session for every app, and goes back to the app.
    let out_page = page(
        &c,
        &format!(
            "{}/logout?rd={}",
            d.auth,
            percent_encoding::utf8_percent_encode(&d.app, percent_encoding::NON_ALPHANUMERIC)
        ),
    )
    .await;
    assert_eq!(out_page.status(), StatusCode::OK);
    let html = out_page.text().await.unwrap();
    let after = post(
        &c,
        &format!("{}/logout", d.auth),
        &hidden(&html, "csrf"),
        &[("rd", &hidden(&html, "rd"))],
    )
    .await;
    assert_eq!(after, format!("{}/", d.app));
    assert_eq!(
        through(&c, &home, &[]).await.unwrap_err(),
        StatusCode::FOUND,
        "{kind:?}: still signed in"
    );

    // An account without two-step is asked to turn it on, then sent back.
    let c = d.client();
    let back = sign_in(&d, &c, &home, WITHOUT).await;
    assert_eq!(back, home);
    let r = page(&c, &home).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let to = location(&r);
    assert!(
        to.starts_with(&format!(
            "{}/settings/security?done=two-step-needed&rd=",
            d.auth
        )),
        "{to}"
    );
    let security = page(&c, &to).await.text().await.unwrap();
    assert!(security.contains("two-step verification"), "{security}");
    let csrf = hidden(&security, "csrf");
    let setup = post_page(
        &c,
        &format!("{}/settings/security/totp/setup", d.auth),
        &[("csrf", &csrf), ("password", PASSWORD)],
    )
    .await;
    let uri = hidden(&setup, "destination");
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let code = nidan_domain::totp_code(&key, unix_now());
    let codes = post_page(
        &c,
        &format!("{}/settings/security/totp/confirm", d.auth),
        &[("csrf", &csrf), ("destination", &uri), ("code", &code)],
    )
    .await;
    let back = post(
        &c,
        &format!("{}/settings/security/recovery/done", d.auth),
        &csrf,
        &[("codes", &hidden(&codes, "codes")), ("saved", "1")],
    )
    .await;
    assert_eq!(
        back, home,
        "{kind:?}: not sent back after turning two-step on"
    );
    let seen = through(&c, &home, &[]).await.unwrap();
    assert!(seen.contains(&format!("remote-user={WITHOUT}")), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_journey() {
    journey(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_journey() {
    journey(Kind::Caddy).await;
}
