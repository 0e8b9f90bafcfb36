//! What every test that runs the real binary shares: the command, a guard that stops a server,
//! free ports, and fresh PostgreSQL schemas.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};

/// `nidan` run in `dir` with its data under `dir/data`, none of the caller's `NIDAN_*` settings
/// or `RUST_LOG` (a developer's environment must not change a test), and one hashing thread (the
/// machine running tests is shared). Callers add their own settings.
pub fn nidan_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nidan"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NIDAN_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("NIDAN_DATA_DIR", dir.join("data"))
        .env("NIDAN_HASHING_MAX_CONCURRENT", "1");
    cmd
}

/// Runs `cmd` to its end with `stdin` as its input (none: an empty input), collecting its output.
pub fn output_of(mut cmd: Command, stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// A running server; killed when dropped, so a test failing half way leaves no process behind.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fresh PostgreSQL schemas, shared with the other crates' PostgreSQL tests.
#[path = "../../../nidan-store/tests/pg/schemas.rs"]
mod schemas;
pub use schemas::{create_schema, database_url, drop_schema, mark_ran, url_in_schema};
