//! The real binary on PostgreSQL: `nidan serve` started before the database is reachable keeps
//! retrying (saying so in the log) and starts serving once it is; `/readyz` then answers 200.
//!
//! The "database" is first a closed port, then a TCP relay on that port to the real server named
//! by `NIDAN_TEST_DATABASE_URL`. Skipped (passes with a message) without the variable, unless
//! `NIDAN_REQUIRE_POSTGRES=1` (as in `.ci/run`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    Server, create_schema, database_url, drop_schema, free_port, mark_ran, nidan_in, url_in_schema,
};

const TEST: &str = "postgres_start::serve_waits_for_the_database_then_serves";

/// The `host:port` of a postgres URL.
fn host_port(url: &str) -> String {
    let rest = &url[url.find("://").unwrap() + 3..];
    let rest = &rest[rest.find('@').map_or(0, |i| i + 1)..];
    let hp = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    }
}

/// Relays every connection on `listener` to `upstream`, on plain threads.
fn relay(listener: TcpListener, upstream: String) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_the_database_then_serves() {
    let Some(base) = database_url(TEST) else {
        return;
    };
    // A fresh schema, and the URL that uses it through a port where nothing listens yet.
    let schema = create_schema(&base).await;
    let upstream = host_port(&base);
    let db_port = free_port();
    let url = url_in_schema(
        &base.replacen(&upstream, &format!("127.0.0.1:{db_port}"), 1),
        &schema,
    );

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = nidan_in(dir.path());
    cmd.arg("serve")
        .env("NIDAN_DATABASE_URL", &url)
        .env("NIDAN_DATABASE_CONNECT_TIMEOUT_SECS", "1")
        .env("NIDAN_SERVER_LISTEN", &listen)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut server = Server(cmd.spawn().unwrap());

    // No database: it keeps retrying, says so, and does not listen.
    let waiting = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("database not reachable") {
            break;
        }
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "nidan exited without a database: {text}"
        );
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "no retry logged: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        TcpStream::connect(&listen).is_err(),
        "listening before the database is ready"
    );

    // The database appears: nidan connects, migrates, listens, and is ready.
    relay(TcpListener::bind(("127.0.0.1", db_port)).unwrap(), upstream);
    let started = Instant::now();
    let ready = loop {
        if let Some(answer) = http_get(&listen, "/readyz") {
            break answer;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "nidan exited: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never served: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = server.0.wait();
    drop_schema(&base, &schema).await;
    mark_ran(TEST);
}
