//! The keys that live outside the database: the keyring that seals TOTP seeds and the key of the
//! keyed hash over recovery codes. A database dump without these is useless to an attacker.

use nidan_domain::Keyring;
use zeroize::Zeroizing;

/// nidan's secret keys. `Debug` shows only key versions.
pub struct Secrets {
    /// Seals and opens TOTP seeds; the newest version seals, every version opens.
    pub keyring: Keyring,
    /// Key of HMAC-SHA-256 over recovery codes (never rotated: it would void every code).
    pub hash_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("seal_key_versions", &self.keyring.versions())
            .field("hash_key", &"<redacted>")
            .finish()
    }
}
