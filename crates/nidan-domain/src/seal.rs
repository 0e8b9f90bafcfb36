//! Sealing TOTP seeds at rest with an AEAD, with key versions for rotation.
//!
//! This module exists so that a database dump holds no usable seed, and a seed copied to
//! another user's row does not verify there. It guarantees:
//!
//! - XChaCha20-Poly1305 with a caller-supplied 192-bit nonce (fresh CSPRNG bytes each time;
//!   random 192-bit nonces are safe at any practical volume);
//! - blob layout `b"NS1" || key_version u32 BE || nonce[24] || ciphertext+tag`; the 7-byte
//!   header is authenticated together with the caller's associated data, so neither the
//!   version nor the owner binding ([`seed_aad`]) can be altered;
//! - the newest key seals, every key in the [`Keyring`] opens (rotation without downtime);
//! - any tampering, wrong key or wrong AAD is [`SealError::Forged`]; nothing panics on input;
//! - keys and opened plaintext live in zeroized memory; `Debug` shows versions only.

use std::fmt;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Magic bytes starting every sealed blob (format version 1).
const MAGIC: &[u8; 3] = b"NS1";
/// Bytes of the header: magic + key version.
const HEADER_LEN: usize = 3 + 4;
/// Bytes of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Bytes of a Poly1305 tag.
const TAG_LEN: usize = 16;

/// One sealing key and its version number. `Debug` shows the version only.
pub struct SealKey {
    version: u32,
    key: Zeroizing<[u8; 32]>,
}

impl SealKey {
    /// A key from the key file or environment (never the database), with its version.
    pub fn new(version: u32, key: [u8; 32]) -> SealKey {
        SealKey {
            version,
            key: Zeroizing::new(key),
        }
    }

    /// The version stored in every blob sealed under this key.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &[u8; 32] = &self.key;
        XChaCha20Poly1305::new(key.into())
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why a keyring could not be built or a blob could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A keyring needs at least one key.
    #[error("the keyring has no keys")]
    Empty,
    /// Two keys share a version number.
    #[error("key version {0} appears more than once")]
    DuplicateVersion(u32),
    /// The blob is too short or does not start with the format magic.
    #[error("the sealed blob is malformed")]
    Malformed,
    /// The blob names a key version the keyring does not hold.
    #[error("no key with version {0}")]
    UnknownKeyVersion(u32),
    /// Authentication failed: tampered data, wrong key or wrong associated data.
    #[error("the sealed blob failed authentication")]
    Forged,
}

/// The newest key seals; every key opens (rotation). `Debug` shows versions only.
pub struct Keyring {
    /// Sorted by ascending version; the last one is current.
    keys: Vec<SealKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

/// The authenticated header of a blob under key `version`.
fn header(version: u32) -> [u8; HEADER_LEN] {
    let v = version.to_be_bytes();
    [MAGIC[0], MAGIC[1], MAGIC[2], v[0], v[1], v[2], v[3]]
}

/// Associated data given to the AEAD: the blob header followed by the caller's AAD.
fn full_aad(version: u32, aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + aad.len());
    out.extend_from_slice(&header(version));
    out.extend_from_slice(aad);
    out
}

impl Keyring {
    /// A keyring from one or more keys with unique versions; the highest version is current.
    pub fn new(mut keys: Vec<SealKey>) -> Result<Keyring, SealError> {
        if keys.is_empty() {
            return Err(SealError::Empty);
        }
        keys.sort_by_key(|k| k.version);
        if let Some(w) = keys.windows(2).find(|w| w[0].version == w[1].version) {
            return Err(SealError::DuplicateVersion(w[0].version));
        }
        Ok(Keyring { keys })
    }

    fn current(&self) -> &SealKey {
        // `new` refuses empty keyrings, so there is always a last key.
        match self.keys.last() {
            Some(k) => k,
            None => unreachable!("Keyring::new refuses empty keyrings"),
        }
    }

    /// The version new blobs are sealed under (the highest).
    pub fn current_version(&self) -> u32 {
        self.current().version
    }

    /// Every version this keyring can open, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.version).collect()
    }

    /// Seal `plaintext` under the current key with a fresh random `nonce` (never reuse one),
    /// binding it to `aad` (use [`seed_aad`] for TOTP seeds).
    ///
    /// # Panics
    ///
    /// Only if `plaintext` exceeds XChaCha20's 256 GiB message limit, which no seed approaches.
    pub fn seal(&self, nonce: [u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key = self.current();
        let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        blob.extend_from_slice(&header(key.version));
        blob.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        let xnonce = XNonce::from(nonce);
        if key
            .cipher()
            .encrypt_in_place(&xnonce, &full_aad(key.version, aad), &mut *body)
            .is_err()
        {
            panic!("XChaCha20-Poly1305 message limit exceeded");
        }
        blob.extend_from_slice(&body);
        blob
    }

    /// Open a blob sealed by any key in this ring, checking it against `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let version = Keyring::blob_version(blob)?;
        if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.version == version)
            .ok_or(SealError::UnknownKeyVersion(version))?;
        let (nonce, body) = blob[HEADER_LEN..].split_at(NONCE_LEN);
        let xnonce = XNonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
        let mut buf = Zeroizing::new(body.to_vec());
        key.cipher()
            .decrypt_in_place(&xnonce, &full_aad(version, aad), &mut *buf)
            .map_err(|_| SealError::Forged)?;
        Ok(buf)
    }

    /// The key version a blob was sealed under, without opening it (to find blobs to
    /// re-seal after rotation).
    pub fn blob_version(blob: &[u8]) -> Result<u32, SealError> {
        match blob {
            [m0, m1, m2, v0, v1, v2, v3, ..] if [*m0, *m1, *m2] == *MAGIC => {
                Ok(u32::from_be_bytes([*v0, *v1, *v2, *v3]))
            }
            _ => Err(SealError::Malformed),
        }
    }
}

/// AAD binding a seed to its owner: `b"nidan totp-seed v1\0" || user_id || 0 || credential_id`.
///
/// A sealed seed copied to another user's or credential's row then fails to open. Ids are
/// expected not to contain NUL (they are UUIDs or similar).
pub fn seed_aad(user_id: &str, credential_id: &str) -> Vec<u8> {
    let prefix = b"nidan totp-seed v1\0";
    let mut out = Vec::with_capacity(prefix.len() + user_id.len() + 1 + credential_id.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(user_id.as_bytes());
    out.push(0);
    out.extend_from_slice(credential_id.as_bytes());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ring(versions: &[u32]) -> Keyring {
        Keyring::new(
            versions
                .iter()
                .map(|&v| SealKey::new(v, [v as u8; 32]))
                .collect(),
        )
        .unwrap()
    }

    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn round_trip_and_layout() {
        let r = ring(&[1]);
        let aad = seed_aad("user-1", "cred-1");
        let blob = r.seal([9; 24], &aad, SEED);
        assert_eq!(blob.len(), 3 + 4 + 24 + SEED.len() + 16);
        assert_eq!(&blob[..3], b"NS1");
        assert_eq!(&blob[3..7], &1u32.to_be_bytes());
        assert_eq!(&blob[7..31], &[9; 24]);
        assert!(!blob.windows(SEED.len()).any(|w| w == SEED));
        assert_eq!(r.open(&blob, &aad).unwrap().as_slice(), SEED);
        assert_eq!(Keyring::blob_version(&blob).unwrap(), 1);
    }

    #[test]
    fn wrong_aad_is_forged() {
        let r = ring(&[1]);
        let blob = r.seal([1; 24], &seed_aad("alice", "c1"), SEED);
        assert_eq!(
            r.open(&blob, &seed_aad("bob", "c1")).unwrap_err(),
            SealError::Forged
        );
        assert_eq!(
            r.open(&blob, &seed_aad("alice", "c2")).unwrap_err(),
            SealError::Forged
        );
    }

    #[test]
    fn every_tampered_byte_fails() {
        let r = ring(&[1, 2]);
        let aad = seed_aad("u", "c");
        let blob = r.seal([3; 24], &aad, SEED);
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert!(r.open(&t, &aad).is_err(), "byte {i}");
        }
        // A flipped version byte that still names a held key is caught by the header AAD.
        let mut t = blob.clone();
        t[6] = 1;
        assert_eq!(r.open(&t, &aad).unwrap_err(), SealError::Forged);
    }

    #[test]
    fn rotation() {
        let old = ring(&[1]);
        let aad = seed_aad("u", "c");
        let v1_blob = old.seal([5; 24], &aad, SEED);
        let new = ring(&[2, 1]);
        assert_eq!(new.current_version(), 2);
        assert_eq!(new.versions(), vec![1, 2]);
        assert_eq!(new.open(&v1_blob, &aad).unwrap().as_slice(), SEED);
        let v2_blob = new.seal([6; 24], &aad, SEED);
        assert_eq!(Keyring::blob_version(&v2_blob).unwrap(), 2);
        assert_eq!(
            old.open(&v2_blob, &aad).unwrap_err(),
            SealError::UnknownKeyVersion(2)
        );
    }

    #[test]
    fn keyring_rules() {
        assert_eq!(Keyring::new(vec![]).unwrap_err(), SealError::Empty);
        assert_eq!(
            Keyring::new(vec![SealKey::new(3, [0; 32]), SealKey::new(3, [1; 32])]).unwrap_err(),
            SealError::DuplicateVersion(3)
        );
    }

    #[test]
    fn malformed_blobs() {
        let r = ring(&[1]);
        for blob in [
            &b""[..],
            b"NS",
            b"NS1\0\0\0",
            b"XX1\0\0\0\x01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(r.open(blob, b"").unwrap_err(), SealError::Malformed);
        }
        let mut short = b"NS1\0\0\0\x01".to_vec();
        short.extend_from_slice(&[0; 24 + 15]);
        assert_eq!(r.open(&short, b"").unwrap_err(), SealError::Malformed);
        let mut zero_len = b"NS1\0\0\0\x01".to_vec();
        zero_len.extend_from_slice(&[0; 24 + 16]);
        assert_eq!(r.open(&zero_len, b"").unwrap_err(), SealError::Forged);
    }

    #[test]
    fn debug_is_redacted() {
        let k = SealKey::new(7, [0xee; 32]);
        let d = format!("{k:?}");
        assert!(
            d.contains('7') && !d.contains("238") && !d.contains("ee"),
            "{d}"
        );
        let r = ring(&[1, 2]);
        assert_eq!(format!("{r:?}"), "Keyring { versions: [1, 2], .. }");
    }
}
