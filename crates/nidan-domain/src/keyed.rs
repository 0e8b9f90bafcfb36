//! Keyed hashes, token digests and constant-time equality.
//!
//! This module exists so that secrets are stored only as digests and compared only in
//! constant time. It guarantees:
//!
//! - [`keyed_hash`] is HMAC-SHA-256 over an unambiguous encoding (purpose label and every part
//!   length-prefixed), so two different uses of one key, or two different splits of the same
//!   bytes, never produce the same input;
//! - [`token_digest`] is plain SHA-256, which is enough because tokens carry >= 128 random bits;
//! - [`ct_eq`] never branches on secret content (only on the public lengths).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Append `bytes` with an 8-byte big-endian length prefix.
fn update_prefixed(mac: &mut Hmac<Sha256>, bytes: &[u8]) {
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

/// HMAC-SHA-256 under `key` over a purpose label and length-prefixed parts, so different uses
/// of one key never collide.
///
/// Used for recovery codes (purpose `"recovery-code"`, parts `[user_id, code]`) and for codes
/// sent by email or SMS. The key lives outside the database, so a dump alone cannot be searched
/// offline. Input encoding: `len(purpose) || purpose || len(p1) || p1 || ...`, lengths as u64 BE.
pub fn keyed_hash(key: &[u8; 32], purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    update_prefixed(&mut mac, purpose.as_bytes());
    for part in parts {
        update_prefixed(&mut mac, part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of a bearer token; tokens are >= 128 random bits, so a plain hash is enough.
///
/// Stored in place of the token and used as the lookup key, so a database dump holds no usable
/// token.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality (via `subtle`) for digests, codes and other secrets.
///
/// Different lengths compare unequal; lengths are treated as public.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digest_is_sha256() {
        // SHA-256("abc"), FIPS 180-2 example.
        let d = token_digest("abc");
        assert_eq!(
            d[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts ba7816bf"
        );
        assert_eq!(d[28..], [0xf2, 0x00, 0x15, 0xad]);
    }

    #[test]
    fn keyed_hash_separates_purposes_and_parts() {
        let k = [7u8; 32];
        let a = keyed_hash(&k, "recovery-code", &[b"user", b"CODE"]);
        assert_eq!(a, keyed_hash(&k, "recovery-code", &[b"user", b"CODE"]));
        assert_ne!(a, keyed_hash(&k, "email-code", &[b"user", b"CODE"]));
        assert_ne!(a, keyed_hash(&k, "recovery-code", &[b"userC", b"ODE"]));
        assert_ne!(a, keyed_hash(&k, "recovery-code", &[b"userCODE"]));
        assert_ne!(a, keyed_hash(&k, "recovery-code", &[b"user", b"CODE", b""]));
        assert_ne!(
            a,
            keyed_hash(&[8u8; 32], "recovery-code", &[b"user", b"CODE"])
        );
    }

    #[test]
    fn keyed_hash_rfc4231_shape() {
        // HMAC-SHA-256 is what we compute: check against the plain HMAC of the same encoding.
        let k = [1u8; 32];
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&k) {
            Ok(m) => m,
            Err(_) => unreachable!(),
        };
        mac.update(&3u64.to_be_bytes());
        mac.update(b"abc");
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(keyed_hash(&k, "abc", &[]), want);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }
}
