//! What every test that runs the real binary shares.

use std::path::Path;
use std::process::Command;

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
