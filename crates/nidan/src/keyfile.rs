//! The key file: nidan's secret keys, kept outside the database so that a dump of the database
//! (or of its backups) is useless without it.
//!
//! Format (TOML; the file at `secrets.key_file`, default `<data_dir>/secret.key`):
//!
//! ```toml
//! # nidan secret keys. Keep this file out of the database and its backups' reach; …
//! hash_key = "<base64 of 32 random bytes>"   # keyed hash of recovery codes; never rotated
//! [seal_keys]
//! 1 = "<base64 of 32 random bytes>"          # seals TOTP seeds; the highest version seals
//! ```
//!
//! Guarantees:
//! - created on first use from the OS CSPRNG, with mode 0600 and `create_new`, so two processes
//!   starting at once cannot overwrite each other's keys;
//! - refused when group or others have any access (the message says `chmod 600 <path>`), or when
//!   malformed (the message names the file and the problem, never a key);
//! - `rotate` adds version max+1 by writing a 0600 temporary file and renaming it over the old
//!   one, under a lock file, so a crash or a concurrent rotation never leaves a half-written file
//!   or loses a key;
//! - key bytes live in `Zeroizing` buffers.
//!
//! Instead of the file, the keys may come from the environment variable `NIDAN_SECRETS_KEY`
//! holding the same TOML text (for platforms that inject secrets as variables). The file is then
//! neither read nor created, and `rotate` refuses: the operator rotates the variable.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use nidan_domain::{Keyring, SealKey};
use nidan_service::Secrets;
use zeroize::{Zeroize, Zeroizing};

/// The environment variable that may hold the key file's text instead of the file.
pub const ENV_VAR: &str = "NIDAN_SECRETS_KEY";

const HEADER: &str = "# nidan secret keys. Keep this file out of the database and its backups' \
                      reach; losing it makes every TOTP seed and recovery code unusable.\n";

/// Why the keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Group or others may access the file: someone else on the machine could read the keys.
    #[error(
        "key file {path} is accessible by group or others (mode {mode:03o}); \
         run `chmod 600 {path}` and make sure only nidan's user owns it"
    )]
    TooOpen {
        /// The file, for display.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The text is not a valid key file.
    #[error("{origin}: {problem}")]
    Malformed {
        /// `key file <path>` or the environment variable's name.
        origin: String,
        /// What is wrong (never a key).
        problem: String,
    },
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file or directory, for display.
        path: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The OS CSPRNG failed: no key can be made safely.
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),
    /// Rotation asked while the keys come from the environment.
    #[error("the keys come from {ENV_VAR}; rotate them there (add a new [seal_keys] version)")]
    FromEnvironment,
    /// Every key version is used up (absurd, but not worth a panic).
    #[error("no key version is left above {0}")]
    VersionsExhausted(u32),
}

/// Where the keys came from, for the start-up log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// An existing key file.
    File(PathBuf),
    /// A key file made just now.
    Created(PathBuf),
    /// The `NIDAN_SECRETS_KEY` variable.
    Environment,
}

/// The decoded keys. No `Debug`: there is nothing in here that may be printed.
pub struct Keys {
    hash_key: Zeroizing<[u8; 32]>,
    seal_keys: BTreeMap<u32, Zeroizing<[u8; 32]>>,
}

impl Keys {
    /// Fresh keys: a hash key and seal key version 1.
    fn generate() -> Result<Keys, KeyFileError> {
        let mut seal_keys = BTreeMap::new();
        seal_keys.insert(1, random_key()?);
        Ok(Keys {
            hash_key: random_key()?,
            seal_keys,
        })
    }

    /// Reads the key file's text; `origin` names its source in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Keys, KeyFileError> {
        let bad = |problem: String| KeyFileError::Malformed {
            origin: origin.to_owned(),
            problem,
        };
        // The parser's own Display quotes the offending line, which may hold a key; only its
        // message and position are used.
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => bad(format!("line {line}: {}", e.message().trim())),
                None => bad(e.message().trim().to_owned()),
            }
        })?;
        let result = Self::from_table(&mut table).map_err(bad);
        wipe(&mut table);
        result
    }

    fn from_table(table: &mut toml::Table) -> Result<Keys, String> {
        let mut hash_key = None;
        let mut seal_keys = BTreeMap::new();
        for (name, value) in table.iter_mut() {
            match (name.as_str(), value) {
                ("hash_key", toml::Value::String(text)) => {
                    hash_key = Some(decode_key(text).map_err(|p| format!("hash_key {p}"))?);
                }
                ("seal_keys", toml::Value::Table(versions)) => {
                    for (version, value) in versions.iter_mut() {
                        let number =
                            version
                                .parse::<u32>()
                                .ok()
                                .filter(|v| *v >= 1)
                                .ok_or_else(|| {
                                    format!(
                                        "seal key version `{version}` is not a number from 1 up"
                                    )
                                })?;
                        let toml::Value::String(text) = value else {
                            return Err(format!("seal key {number} must be a base64 string"));
                        };
                        let key = decode_key(text).map_err(|p| format!("seal key {number} {p}"))?;
                        seal_keys.insert(number, key);
                    }
                }
                ("hash_key", _) => return Err("hash_key must be a base64 string".into()),
                ("seal_keys", _) => {
                    return Err("seal_keys must be a table: [seal_keys] then `1 = \"…\"`".into());
                }
                (other, _) => return Err(format!("unknown entry `{other}`")),
            }
        }
        let hash_key = hash_key.ok_or("hash_key is missing")?;
        if seal_keys.is_empty() {
            return Err("[seal_keys] has no key; at least version 1 is needed".into());
        }
        Ok(Keys {
            hash_key,
            seal_keys,
        })
    }

    /// The text of the key file.
    fn to_toml(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from(HEADER));
        out.push_str("hash_key = \"");
        out.push_str(&Zeroizing::new(BASE64.encode(&self.hash_key[..])));
        out.push_str("\"\n\n[seal_keys]\n");
        for (version, key) in &self.seal_keys {
            out.push_str(&format!("{version} = \""));
            out.push_str(&Zeroizing::new(BASE64.encode(&key[..])));
            out.push_str("\"\n");
        }
        out
    }

    /// The highest seal key version (the one that seals).
    pub fn current_version(&self) -> u32 {
        self.seal_keys.keys().next_back().copied().unwrap_or(0)
    }

    /// Adds a new random seal key one version above the current one; returns its version.
    fn add_seal_key(&mut self) -> Result<u32, KeyFileError> {
        let current = self.current_version();
        let next = current
            .checked_add(1)
            .ok_or(KeyFileError::VersionsExhausted(current))?;
        self.seal_keys.insert(next, random_key()?);
        Ok(next)
    }

    /// The service's view of the keys.
    pub fn secrets(&self) -> Secrets {
        let keys = self
            .seal_keys
            .iter()
            .map(|(version, key)| SealKey::new(*version, **key))
            .collect();
        let keyring = match Keyring::new(keys) {
            Ok(keyring) => keyring,
            // A BTreeMap has unique versions and `from_table`/`generate` refuse an empty one.
            Err(e) => unreachable!("keys from a non-empty map always make a keyring: {e}"),
        };
        Secrets {
            keyring,
            hash_key: Zeroizing::new(*self.hash_key),
        }
    }
}

/// Loads the keys from `NIDAN_SECRETS_KEY` when set, else from the key file at `path`, creating
/// it when missing.
pub fn load_or_create(path: &Path) -> Result<(Keys, KeySource), KeyFileError> {
    if let Some(value) = std::env::var_os(ENV_VAR) {
        let text = Zeroizing::new(value.into_string().map_err(|_| KeyFileError::Malformed {
            origin: ENV_VAR.into(),
            problem: "the value is not valid UTF-8".into(),
        })?);
        return Ok((Keys::parse(&text, ENV_VAR)?, KeySource::Environment));
    }
    match read(path) {
        Ok(keys) => Ok((keys, KeySource::File(path.to_owned()))),
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            create(path)
        }
        Err(e) => Err(e),
    }
}

/// Adds a new seal key version to the key file at `path`; returns the keys now in it and the new
/// version. Refused when the keys come from `NIDAN_SECRETS_KEY`.
pub fn rotate(path: &Path) -> Result<(Keys, u32), KeyFileError> {
    if std::env::var_os(ENV_VAR).is_some() {
        return Err(KeyFileError::FromEnvironment);
    }
    // Two rotations at once would each add "version max+1" and the second rename would drop the
    // first one's key while seeds may already be sealed under it; the lock serialises them.
    let lock_path = sibling(path, "lock");
    let lock = open_private(&lock_path, false)?;
    lock.lock().map_err(|e| io_error(&lock_path, e))?;

    let mut keys = read(path)?;
    let version = keys.add_seal_key()?;
    let temp = sibling(path, &format!("new-{}", std::process::id()));
    // A leftover from a crashed run of this same pid would block create_new.
    let _ = fs::remove_file(&temp);
    let written = write_new(&temp, &keys.to_toml()).and_then(|()| {
        fs::rename(&temp, path).map_err(|e| io_error(path, e))?;
        sync_parent(path);
        Ok(())
    });
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    Ok((keys, version))
}

/// Reads and checks an existing key file. The permissions are checked on the opened file, so the
/// file that is read is the one that was checked.
fn read(path: &Path) -> Result<Keys, KeyFileError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(malformed(path, "is not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.display().to_string(),
            mode,
        });
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => malformed(path, "is not UTF-8 text".into()),
        _ => io_error(path, e),
    })?;
    Keys::parse(&text, &format!("key file {}", path.display()))
}

/// Makes a new key file. When another process made it first, its keys are used instead.
fn create(path: &Path) -> Result<(Keys, KeySource), KeyFileError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| io_error(parent, e))?;
    }
    let keys = Keys::generate()?;
    match write_new(path, &keys.to_toml()) {
        Ok(()) => {
            sync_parent(path);
            Ok((keys, KeySource::Created(path.to_owned())))
        }
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            Ok((read(path)?, KeySource::File(path.to_owned())))
        }
        Err(e) => Err(e),
    }
}

/// Writes `text` to a file that must not exist yet, mode 0600, and flushes it to disk.
fn write_new(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let mut file = open_private(path, true)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, e))
}

fn open_private(path: &Path, create_new: bool) -> Result<File, KeyFileError> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    options.open(path).map_err(|e| io_error(path, e))
}

/// `<dir>/.<name>.<suffix>`: a hidden file next to the key file (same file system, so rename is
/// atomic).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "secret.key".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{suffix}"))
}

/// Makes a new directory entry durable; best effort (some file systems refuse to sync a
/// directory, and the file's own data is already synced).
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = File::open(parent).and_then(|dir| dir.sync_all());
    }
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut key[..]).map_err(KeyFileError::Random)?;
    Ok(key)
}

/// Decodes a base64 key of exactly 32 bytes; the error says what is wrong, not what was there.
fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        BASE64
            .decode(text.trim().as_bytes())
            .map_err(|_| "is not valid base64".to_owned())?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        return Err(format!("must be 32 bytes, found {}", bytes.len()));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Overwrites every string of a parsed key file before it is dropped.
fn wipe(table: &mut toml::Table) {
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::String(s) => s.zeroize(),
            toml::Value::Table(t) => wipe(t),
            _ => {}
        }
    }
}

fn malformed(path: &Path, problem: String) -> KeyFileError {
    KeyFileError::Malformed {
        origin: format!("key file {}", path.display()),
        problem,
    }
}

fn io_error(path: &Path, source: io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_key_file_is_private_and_reads_back_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.key");
        let (made, source) = create(&path).unwrap();
        assert_eq!(source, KeySource::Created(path.clone()));
        assert_eq!(mode(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# nidan secret keys."));
        assert!(text.contains("hash_key = \"") && text.contains("[seal_keys]\n1 = \""));
        let read_back = read(&path).unwrap();
        assert_eq!(*read_back.hash_key, *made.hash_key);
        assert_eq!(read_back.current_version(), 1);
    }

    #[test]
    fn an_existing_file_is_never_overwritten_by_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let (first, _) = create(&path).unwrap();
        let (second, source) = create(&path).unwrap();
        assert_eq!(source, KeySource::File(path));
        assert_eq!(*first.hash_key, *second.hash_key);
    }

    #[test]
    fn a_group_readable_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let message = read(&path).err().unwrap().to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
    }

    #[test]
    fn rotation_adds_a_version_and_keeps_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let (before, _) = create(&path).unwrap();
        let (after, version) = rotate(&path).unwrap();
        assert_eq!(version, 2);
        assert_eq!(mode(&path), 0o600);
        let reread = read(&path).unwrap();
        assert_eq!(reread.seal_keys.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(*reread.seal_keys[&1], *before.seal_keys[&1]);
        assert_eq!(*reread.seal_keys[&2], *after.seal_keys[&2]);
        assert_eq!(*reread.hash_key, *before.hash_key);
        assert_eq!(reread.secrets().keyring.current_version(), 2);
        // Only the key file and the lock file remain: no temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    fn problem(text: &str) -> String {
        match Keys::parse(text, "key file k") {
            Err(KeyFileError::Malformed { origin, problem }) => {
                assert_eq!(origin, "key file k");
                problem
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("accepted {text:?}"),
        }
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn malformed_files_are_named_without_echoing_keys() {
        let secretish = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U=";
        assert!(problem(&format!("[seal_keys]\n1 = \"{KEY}\"\n")).contains("hash_key is missing"));
        assert!(problem(&format!("hash_key = \"{KEY}\"\n")).contains("no key"));
        assert!(
            problem(&format!(
                "hash_key = \"{KEY}\"\n[seal_keys]\n0 = \"{KEY}\"\n"
            ))
            .contains("version `0`")
        );
        assert!(
            problem(&format!(
                "hash_key = \"AAAA\"\n[seal_keys]\n1 = \"{KEY}\"\n"
            ))
            .contains("32 bytes")
        );
        assert!(
            problem(&format!("hash_key = \"{KEY}\"\n[seal_keys]\n1 = \"!!\"\n"))
                .contains("seal key 1 is not valid base64")
        );
        assert!(
            problem(&format!(
                "hash_key = \"{KEY}\"\nextra = 1\n[seal_keys]\n1 = \"{KEY}\"\n"
            ))
            .contains("unknown entry `extra`")
        );
        let syntax = problem(&format!("hash_key = \"{KEY}\"\nseal_keys = {secretish}\n"));
        assert!(syntax.starts_with("line 2"), "{syntax}");
        assert!(!syntax.contains(secretish), "{syntax}");
        let wrong_type = problem(&format!(
            "hash_key = \"{KEY}\"\nseal_keys = \"{secretish}\"\n"
        ));
        assert!(!wrong_type.contains(secretish), "{wrong_type}");
    }

    #[test]
    fn the_written_text_parses_back() {
        let keys = Keys::generate().unwrap();
        let again = Keys::parse(&keys.to_toml(), "x").unwrap();
        assert_eq!(*again.hash_key, *keys.hash_key);
        assert_eq!(*again.seal_keys[&1], *keys.seal_keys[&1]);
    }
}
