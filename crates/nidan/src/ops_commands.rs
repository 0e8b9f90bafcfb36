//! `nidan healthcheck` and `nidan config check`: what a container's health check and an operator
//! before a restart run.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::Config;

/// How long the health check waits for the server.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET <url>/readyz` over plain HTTP: Ok when it answers 200. Without `--url`, the configured
/// listener (an unspecified address means this host).
pub fn healthcheck(config: &Config, url: Option<&str>) -> Result<()> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let mut addr = config.server.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    };
    let rest = base.strip_prefix("http://").with_context(|| {
        format!("`{base}`: the health check speaks plain http (the local listener)")
    })?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}/readyz")),
        None => (rest, "/readyz".to_owned()),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("`{authority}` is not a host and port"))?
        .next()
        .with_context(|| format!("`{authority}` resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("nothing answers at {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: nidan-healthcheck\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream
        .take(64 * 1024)
        .read_to_string(&mut answer)
        .context("reading the answer")?;
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!(
            "{base}/readyz answered {}",
            if status.is_empty() { "nothing" } else { status }
        );
    }
    Ok(())
}

/// The effective settings, secrets hidden, for `nidan config check`.
pub fn describe(config: &Config) -> String {
    format!("{config:#?}")
}
