//! Bearer tokens: sessions, challenges, remembered devices and API keys.
//!
//! This module exists so that every bearer secret has one shape and one storage rule. It
//! guarantees:
//!
//! - a token is a short public prefix (for log correlation, e.g. `nds_`) followed by the
//!   unpadded base64url encoding of caller-supplied random bytes (>= 16 bytes from the OS
//!   CSPRNG; 32 for device tokens and API keys);
//! - the token text lives in [`Zeroizing`] memory and `Debug` never shows it;
//! - only its SHA-256 digest ([`BearerToken::digest`]) is meant to be stored.

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use zeroize::Zeroizing;

use crate::keyed::token_digest;

/// A bearer secret: prefix + base64url (no padding) of random bytes, e.g. `"nds_…"`.
///
/// Why a type: the only ways to see the secret are [`BearerToken::expose`] (hand it to the
/// client once) and [`BearerToken::digest`] (store it). `Debug` is redacted; zeroized on drop.
pub struct BearerToken(Zeroizing<String>);

impl BearerToken {
    /// Build a token from a public `prefix` and `random` bytes from the OS CSPRNG.
    pub fn from_random(prefix: &str, random: &[u8]) -> BearerToken {
        let mut s = Zeroizing::new(String::with_capacity(
            prefix.len() + BASE64URL_NOPAD.encode_len(random.len()),
        ));
        s.push_str(prefix);
        BASE64URL_NOPAD.encode_append(random, &mut s);
        BearerToken(s)
    }

    /// The token text, to hand to the client exactly once (cookie, JSON response).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest to store and look up by: `token_digest(self.expose())`.
    pub fn digest(&self) -> [u8; 32] {
        token_digest(self.expose())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_digest() {
        let t = BearerToken::from_random("nds_", &[0xfb; 32]);
        assert!(t.expose().starts_with("nds_"));
        assert_eq!(t.expose().len(), 4 + 43);
        assert!(
            t.expose()[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(t.expose().contains('-') || t.expose().contains('_'));
        assert_eq!(t.digest(), token_digest(t.expose()));
        assert_eq!(format!("{t:?}"), "BearerToken(..)");
    }

    #[test]
    fn different_random_different_token() {
        let a = BearerToken::from_random("x_", &[1; 16]);
        let b = BearerToken::from_random("x_", &[2; 16]);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.digest(), b.digest());
    }
}
