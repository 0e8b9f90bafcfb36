//! The TOTP secret (seed) shared with an authenticator app.
//!
//! This module exists so a seed is only ever handled as a redacted, zeroized value with a
//! checked size. It guarantees:
//!
//! - new seeds are [`TOTP_SECRET_BYTES`] (160 bits) from caller-supplied CSPRNG bytes;
//! - every seed is 16..=64 bytes (>= 128 bits, the RFC 4226 §4 R6 floor);
//! - imports accept base32 the way people and other services write it (any case, spaces and
//!   hyphens, optional `=` padding) and refuse anything else;
//! - `Debug` never shows the seed, equality is constant time, and the bytes are zeroized on
//!   drop.

use std::fmt;

use data_encoding::{BASE32_NOPAD, Encoding};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes in a newly generated TOTP secret: 160 bits, RFC 4226's recommendation.
pub const TOTP_SECRET_BYTES: usize = 20;

/// Fewest bytes a secret may have: 128 bits (RFC 4226 MUST).
const MIN_SECRET_BYTES: usize = 16;
/// Most bytes a secret may have: one SHA-512 block-size key; anything longer is suspicious.
const MAX_SECRET_BYTES: usize = 64;

/// A TOTP secret. `Debug` is redacted; the bytes are zeroized on drop.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

/// Why a secret was refused. Messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not valid base32 (RFC 4648).
    #[error("the secret is not valid base32")]
    BadBase32,
    /// Fewer than 128 bits.
    #[error("the secret has {bits} bits; at least 128 are required")]
    TooShort {
        /// How many bits the secret had.
        bits: usize,
    },
    /// More than 512 bits.
    #[error("the secret is longer than 64 bytes")]
    TooLong,
}

/// Base32 decoder for imports: RFC 4648 alphabet, no padding, non-zero trailing bits tolerated
/// (some generators leave junk there; oathtool accepts it too).
fn lenient_base32() -> Result<Encoding, SecretError> {
    let mut spec = BASE32_NOPAD.specification();
    spec.check_trailing_bits = false;
    spec.encoding().map_err(|_| SecretError::BadBase32)
}

impl TotpSecret {
    /// A new secret from [`TOTP_SECRET_BYTES`] CSPRNG bytes (the enrolment path).
    pub fn from_random(bytes: [u8; TOTP_SECRET_BYTES]) -> TotpSecret {
        TotpSecret(Zeroizing::new(bytes.to_vec()))
    }

    /// A secret from raw bytes (e.g. unsealed from storage): 16..=64 bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<TotpSecret, SecretError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                bits: bytes.len() * 8,
            });
        }
        if bytes.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLong);
        }
        Ok(TotpSecret(bytes))
    }

    /// For imports: case-insensitive, spaces/hyphens ignored, `=` padding optional; >= 128 bits.
    pub fn from_base32(text: &str) -> Result<TotpSecret, SecretError> {
        // 64 bytes are 103 base32 characters; allow generous grouping, refuse floods early.
        if text.len() > 1024 {
            return Err(SecretError::TooLong);
        }
        let mut clean = Zeroizing::new(String::with_capacity(text.len()));
        for c in text.chars() {
            match c {
                ' ' | '\t' | '-' => {}
                c if c.is_ascii_alphanumeric() || c == '=' => clean.push(c.to_ascii_uppercase()),
                _ => return Err(SecretError::BadBase32),
            }
        }
        let body = clean.trim_end_matches('=');
        // Padding is only legal at the end and only up to a full 8-character block.
        if body.contains('=') || clean.len() - body.len() > 6 {
            return Err(SecretError::BadBase32);
        }
        let bytes = lenient_base32()?
            .decode(body.as_bytes())
            .map_err(|_| SecretError::BadBase32)?;
        TotpSecret::from_bytes(bytes)
    }

    /// The raw key, for HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, uppercase, no padding (32 characters for 160 bits): what goes into the
    /// otpauth URI.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Base32 in groups of 4 separated by spaces, for people typing it into an app by hand.
    pub fn to_base32_grouped(&self) -> String {
        let plain = Zeroizing::new(self.to_base32());
        let mut out = String::with_capacity(plain.len() + plain.len() / 4);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl PartialEq for TotpSecret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_slice().ct_eq(other.0.as_slice()))
    }
}

impl Eq for TotpSecret {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip_and_grouping() {
        let s = TotpSecret::from_random(*b"12345678901234567890");
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            s.to_base32_grouped(),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        assert_eq!(TotpSecret::from_base32(&s.to_base32()).unwrap(), s);
        assert_eq!(TotpSecret::from_base32(&s.to_base32_grouped()).unwrap(), s);
        assert_eq!(
            TotpSecret::from_base32("gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq").unwrap(),
            s
        );
    }

    #[test]
    fn padding_is_optional() {
        // 16 bytes -> 26 chars + 6 '='.
        let s = TotpSecret::from_bytes(vec![0xab; 16]).unwrap();
        let b = s.to_base32();
        assert_eq!(b.len(), 26);
        assert_eq!(TotpSecret::from_base32(&b).unwrap(), s);
        assert_eq!(TotpSecret::from_base32(&format!("{b}======")).unwrap(), s);
        assert_eq!(
            TotpSecret::from_base32(&format!("{b}=======")).unwrap_err(),
            SecretError::BadBase32
        );
        assert_eq!(
            TotpSecret::from_base32("GEZD=GNBV").unwrap_err(),
            SecretError::BadBase32
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(
            TotpSecret::from_bytes(vec![1; 15]).unwrap_err(),
            SecretError::TooShort { bits: 120 }
        );
        assert!(TotpSecret::from_bytes(vec![1; 16]).is_ok());
        assert!(TotpSecret::from_bytes(vec![1; 64]).is_ok());
        assert_eq!(
            TotpSecret::from_bytes(vec![1; 65]).unwrap_err(),
            SecretError::TooLong
        );
        // The Key URI wiki's short example secret: 80 bits.
        assert_eq!(
            TotpSecret::from_base32("JBSWY3DPEHPK3PXP").unwrap_err(),
            SecretError::TooShort { bits: 80 }
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJ1").unwrap_err(),
            SecretError::BadBase32
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\u{0}").unwrap_err(),
            SecretError::BadBase32
        );
        assert_eq!(
            TotpSecret::from_base32("").unwrap_err(),
            SecretError::TooShort { bits: 0 }
        );
    }

    #[test]
    fn debug_is_redacted() {
        let s = TotpSecret::from_random(*b"12345678901234567890");
        let d = format!("{s:?}");
        assert_eq!(d, "TotpSecret(..)");
    }
}
