//! Running the nidan release binary: `serve` on a free port with a fresh data directory (and,
//! with PostgreSQL, a fresh schema), the `admin` commands, readiness, memory and database size.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hyper::{Method, StatusCode};
use sqlx::Connection;

use crate::http;

/// Where and how nidan runs for the benchmark.
pub struct Setup {
    /// The release binary.
    pub binary: PathBuf,
    /// The temporary data directory (removed on drop).
    pub data_dir: tempfile::TempDir,
    /// The listening address.
    pub addr: SocketAddr,
    /// The PostgreSQL URL and schema, when not on SQLite.
    pub postgres: Option<(String, String)>,
}

impl Setup {
    /// A fresh data directory (and schema) and a free port.
    pub async fn new(binary: PathBuf, postgres: Option<String>) -> Result<Setup> {
        let data_dir = tempfile::Builder::new().prefix("nidan-bench-").tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        drop(listener);
        let postgres = match postgres {
            Some(url) => {
                let mut b = [0u8; 6];
                getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
                let schema = format!("nidan_bench_{}", data_encoding::HEXLOWER.encode(&b));
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                // The name is `nidan_bench_` and hex digits, made here: nothing to inject.
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await?;
                Some((url, schema))
            }
            None => None,
        };
        Ok(Setup {
            binary,
            data_dir,
            addr,
            postgres,
        })
    }

    fn command(&self) -> Command {
        self.command_under(&[])
    }

    /// The command for nidan, run by `launcher` (a program and its arguments, such as
    /// valgrind) when that is not empty.
    fn command_under(&self, launcher: &[String]) -> Command {
        let mut cmd = match launcher.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.binary);
                cmd
            }
            None => Command::new(&self.binary),
        };
        cmd.env("NIDAN_DATA_DIR", self.data_dir.path())
            .env("NIDAN_SERVER_LISTEN", self.addr.to_string())
            .env("NIDAN_SERVER_LOGIN_REQUESTS_PER_IP_PER_MINUTE", "0")
            .env("NIDAN_SIGNUP_MAX_PER_CLIENT_PER_HOUR", "0")
            .env("NIDAN_LOG_LEVEL", "warn")
            // Forward-auth: the harness is the proxy, asking about an app that wants two steps.
            .env("NIDAN_SERVER_TRUSTED_PROXIES", "127.0.0.1/32")
            .env(
                "NIDAN_ACCESS_RULES",
                format!(
                    r#"[{{hosts = ["{}"], policy = "two_factor"}}]"#,
                    crate::scenarios::APP_HOST
                ),
            );
        if let Some((url, schema)) = &self.postgres {
            let sep = if url.contains('?') { '&' } else { '?' };
            cmd.env(
                "NIDAN_DATABASE_URL",
                format!("{url}{sep}options=-c%20search_path%3D{schema}"),
            );
        }
        cmd
    }

    /// Runs `nidan admin …` and returns its standard output.
    pub fn admin(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .arg("admin")
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", self.binary.display()))?;
        if !out.status.success() {
            bail!("nidan admin {} failed: {}", args.join(" "), out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `nidan serve` and waits for `/readyz`; returns the server and the time taken.
    pub async fn start(&self) -> Result<(Server, Duration)> {
        self.start_under(&[]).await
    }

    /// [`Setup::start`] with nidan run by `launcher` (see `command_under`); the server's pid is
    /// then the launcher's.
    pub async fn start_under(&self, launcher: &[String]) -> Result<(Server, Duration)> {
        let t = Instant::now();
        let child = self
            .command_under(launcher)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let mut server = Server { child };
        loop {
            if let Ok((StatusCode::OK, _)) =
                http::once(self.addr, Method::GET, "/readyz", None, None).await
            {
                return Ok((server, t.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("nidan serve exited: {status}");
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("nidan serve not ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Database bytes: SQLite file plus WAL, or the schema's tables on PostgreSQL.
    pub async fn database_bytes(&self) -> Result<u64> {
        match &self.postgres {
            None => {
                let dir = self.data_dir.path();
                let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                Ok(size(dir.join("nidan.db")) + size(dir.join("nidan.db-wal")))
            }
            Some((url, schema)) => {
                let mut conn = sqlx::PgConnection::connect(url).await?;
                let (bytes,): (Option<i64>,) = sqlx::query_as(
                    "SELECT sum(pg_total_relation_size(quote_ident(schemaname) || '.' || \
                     quote_ident(tablename)))::bigint FROM pg_tables WHERE schemaname = $1",
                )
                .bind(schema)
                .fetch_one(&mut conn)
                .await?;
                Ok(u64::try_from(bytes.unwrap_or(0)).unwrap_or(0))
            }
        }
    }

    /// Drops the PostgreSQL schema (SQLite's directory goes with the `TempDir`).
    pub async fn cleanup(&self) -> Result<()> {
        if let Some((url, schema)) = &self.postgres {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.data_dir.path()
    }
}

/// A running `nidan serve`.
pub struct Server {
    child: Child,
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `/proc/<pid>/status` field in bytes (`VmRSS`, `VmHWM`).
    pub fn memory(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        nidan_bench::cpu_time_of(&self.child.id().to_string())
    }

    /// Stops the server with SIGTERM (graceful), then SIGKILL after 10 s.
    pub fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
