//! `nidan admin backup`: a consistent copy of the database file while a server uses it.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::engine;
use crate::error::OpenError;

/// Copies the database at `url` to `to` (see [`crate::backup_sqlite`]).
pub(crate) fn backup(url: &str, to: &Path) -> Result<u64, OpenError> {
    let from_path = engine::path_of(url)?;
    let failed = |what: &str, e: &dyn std::fmt::Display| OpenError::Connect(format!("{what}: {e}"));
    if !from_path.exists() {
        return Err(OpenError::Connect(format!(
            "no database at {}",
            from_path.display()
        )));
    }
    let from = Connection::open_with_flags(
        &from_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| failed("opening the database", &e))?;
    from.busy_timeout(Duration::from_secs(5))
        .map_err(|e| failed("opening the database", &e))?;
    let name = to
        .file_name()
        .ok_or_else(|| OpenError::Connect(format!("{} is not a file name", to.display())))?;
    let partial = to.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&partial);
    let copied = (|| -> Result<u64, OpenError> {
        let mut into = Connection::open(&partial).map_err(|e| failed("creating the copy", &e))?;
        restrict(&partial)?;
        {
            let backup = Backup::new(&from, &mut into).map_err(|e| failed("backup", &e))?;
            // Every page in one step: one read snapshot, so the copy is consistent and does not
            // restart when the server writes meanwhile.
            backup.step(-1).map_err(|e| failed("backup", &e))?;
        }
        let check: String = into
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| failed("checking the copy", &e))?;
        if check != "ok" {
            return Err(OpenError::Connect(format!(
                "the copy is not sound: {check}"
            )));
        }
        into.close()
            .map_err(|(_, e)| failed("closing the copy", &e))?;
        std::fs::metadata(&partial)
            .map(|m| m.len())
            .map_err(|e| failed("the copy", &e))
    })();
    match copied {
        Ok(size) => {
            std::fs::rename(&partial, to).map_err(|e| failed("moving the copy into place", &e))?;
            Ok(size)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Owner-only permissions: the copy holds sealed seeds and keyed hashes.
fn restrict(path: &Path) -> Result<(), OpenError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| OpenError::Connect(format!("restricting the copy: {e}")))?;
    }
    Ok(())
}
