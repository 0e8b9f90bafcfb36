//! A minimal HTTP/1.1 client over one keep-alive TCP connection (hyper's connection API), so
//! each load task owns exactly one connection and the figures measure the server, not a pool.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive connection; reconnects on the next request after a transport error.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Opens a connection to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<Conn> {
        let mut conn = Conn {
            addr,
            host: addr.to_string(),
            sender: None,
        };
        conn.sender = Some(open(addr).await?);
        Ok(conn)
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        json: Option<String>,
    ) -> Result<(StatusCode, Bytes)> {
        self.send_with(method, path, bearer, json, &[]).await
    }

    /// [`Conn::send`] with more request headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        json: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Bytes)> {
        let result = self.try_send(method, path, bearer, json, headers).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        json: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Bytes)> {
        let sender = match &mut self.sender {
            Some(s) => s,
            None => self.sender.insert(open(self.addr).await?),
        };
        sender.ready().await.context("connection closed")?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if let Some(token) = bearer {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match json {
            Some(text) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(text))
            }
            None => Full::new(Bytes::new()),
        };
        let response = sender.send_request(builder.body(body)?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

async fn open(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it.
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request on a fresh connection (for readiness polling and setup calls).
pub async fn once(
    addr: SocketAddr,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    json: Option<String>,
) -> Result<(StatusCode, Bytes)> {
    let mut conn = Conn::connect(addr).await?;
    conn.send(method, path, bearer, json).await
}
