//! HOTP (RFC 4226): an HMAC over a counter, dynamically truncated to a short decimal code.
//!
//! This module exists because TOTP (RFC 6238) is HOTP with a time-derived counter, and the RFC
//! test vectors are stated in these terms. It guarantees:
//!
//! - the exact RFC 4226 §5.3 dynamic truncation (31-bit big-endian value at the offset given by
//!   the low nibble of the last MAC byte), reduced modulo `10^digits`;
//! - no panics for any key, counter or digit count: `digits` is clamped to `1..=9`, because
//!   `10^10` does not fit in the `u32` result (and the truncated value has only 31 bits);
//! - SHA-1, SHA-256 and SHA-512 variants, as used by the RFC 6238 vectors.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// The hash under the HMAC. Authenticator apps only honour [`HmacAlgorithm::Sha1`]; the others
/// exist so the RFC 6238 test vectors can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacAlgorithm {
    /// HMAC-SHA-1: what every authenticator app implements (RFC 4226 default).
    Sha1,
    /// HMAC-SHA-256 (RFC 6238 optional mode).
    Sha256,
    /// HMAC-SHA-512 (RFC 6238 optional mode).
    Sha512,
}

/// Smallest and largest digit counts [`hotp`] and [`format_code`] honour; others are clamped.
const MIN_DIGITS: u32 = 1;
const MAX_DIGITS: u32 = 9;

/// Clamp a digit count into the supported range, so no caller can trigger an overflow or a huge
/// allocation.
pub(crate) fn clamp_digits(digits: u32) -> u32 {
    digits.clamp(MIN_DIGITS, MAX_DIGITS)
}

/// Compute an HMAC of one message under `key` with hash `M`.
fn mac<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length (long keys are hashed, RFC 2104), so this never fails.
    let mut m = match <M as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// RFC 4226 §5.3 dynamic truncation of an HMAC result to a 31-bit integer.
fn dynamic_truncate(hs: &[u8]) -> u32 {
    let Some(last) = hs.last() else {
        return 0;
    };
    let offset = usize::from(last & 0x0f);
    // Every supported hash gives >= 20 bytes, so offset + 3 <= 18 is always in range; stay
    // total anyway.
    match hs.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        _ => 0,
    }
}

/// The HOTP value for `counter` (RFC 4226): the HMAC of the 8-byte big-endian counter,
/// dynamically truncated, modulo `10^digits`.
///
/// `digits` should be 6..=8 for real use (RFC 4226 requires at least 6); it is clamped to
/// `1..=9` so the function is total. The result is a number; use [`format_code`] to get the
/// zero-padded string that people type.
pub fn hotp(key: &[u8], counter: u64, digits: u32, alg: HmacAlgorithm) -> u32 {
    let msg = counter.to_be_bytes();
    let hs = match alg {
        HmacAlgorithm::Sha1 => mac::<Hmac<Sha1>>(key, &msg),
        HmacAlgorithm::Sha256 => mac::<Hmac<Sha256>>(key, &msg),
        HmacAlgorithm::Sha512 => mac::<Hmac<Sha512>>(key, &msg),
    };
    let hs = zeroize::Zeroizing::new(hs);
    dynamic_truncate(&hs) % 10u32.pow(clamp_digits(digits))
}

/// Format an OTP value as exactly `digits` decimal characters, zero-padded on the left.
///
/// Leading zeros matter: codes are compared as strings, so `012345` must never become `12345`.
/// `digits` is clamped to `1..=9` and `value` is reduced modulo `10^digits`, so the output
/// always has exactly the clamped number of characters.
pub fn format_code(value: u32, digits: u32) -> String {
    let d = clamp_digits(digits);
    let v = value % 10u32.pow(d);
    format!("{v:0width$}", width = d as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_section_5_4_truncation_example() {
        let hs = [
            0x1f, 0x86, 0x98, 0x69, 0x0e, 0x02, 0xca, 0x16, 0x61, 0x85, 0x50, 0xef, 0x7f, 0x19,
            0xda, 0x8e, 0x94, 0x5b, 0x55, 0x5a,
        ];
        assert_eq!(dynamic_truncate(&hs), 0x50ef_7f19);
        assert_eq!(dynamic_truncate(&hs) % 1_000_000, 872_921);
    }

    #[test]
    fn format_pads_and_clamps() {
        assert_eq!(format_code(1234, 6), "001234");
        assert_eq!(format_code(0, 8), "00000000");
        assert_eq!(format_code(1_234_567, 6), "234567");
        assert_eq!(format_code(5, 0), "5");
        assert_eq!(format_code(u32::MAX, u32::MAX).len(), 9);
    }

    #[test]
    fn odd_digit_counts_do_not_panic() {
        for d in [0, 1, 9, 10, u32::MAX] {
            let _ = hotp(b"k", u64::MAX, d, HmacAlgorithm::Sha1);
        }
        let _ = hotp(b"", 0, 6, HmacAlgorithm::Sha512);
    }
}
