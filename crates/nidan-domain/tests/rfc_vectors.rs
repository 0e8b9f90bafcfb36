//! The official test vectors: RFC 4226 Appendix D (HOTP) and RFC 6238 Appendix B (TOTP).
//!
//! These pin the OTP math to the standards, so no refactoring can silently change the codes
//! people's apps show. The SHA-256 and SHA-512 TOTP vectors use 32- and 64-byte seeds (the
//! 20-byte ASCII seed repeated), as the RFC's reference implementation does.

use nidan_domain::{
    HmacAlgorithm, TOTP_DIGITS, TOTP_STEP_SECONDS, format_code, hotp, totp_code, totp_code_with,
    totp_step,
};

const SEED20: &[u8; 20] = b"12345678901234567890";
const SEED32: &[u8; 32] = b"12345678901234567890123456789012";
const SEED64: &[u8; 64] = b"1234567890123456789012345678901234567890123456789012345678901234";

#[test]
fn rfc4226_appendix_d() {
    let expected = [
        755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
    ];
    for (counter, want) in expected.into_iter().enumerate() {
        let got = hotp(SEED20, counter as u64, 6, HmacAlgorithm::Sha1);
        assert_eq!(got, want, "counter {counter}");
        assert_eq!(format_code(got, 6), format!("{want:06}"));
    }
}

#[test]
fn rfc4226_appendix_d_truncated_decimal() {
    // Table 2's "Decimal" column is the 31-bit truncated value; mod 10^9 keeps 9 digits of it.
    let truncated: [u32; 10] = [
        1284755224, 1094287082, 137359152, 1726969429, 1640338314, 868254676, 1918287922, 82162583,
        673399871, 645520489,
    ];
    for (counter, t) in truncated.into_iter().enumerate() {
        let got = hotp(SEED20, counter as u64, 9, HmacAlgorithm::Sha1);
        assert_eq!(got, t % 1_000_000_000, "counter {counter}");
    }
}

#[test]
fn rfc6238_appendix_b() {
    use HmacAlgorithm::*;
    let table: [(i64, &str, HmacAlgorithm); 18] = [
        (59, "94287082", Sha1),
        (59, "46119246", Sha256),
        (59, "90693936", Sha512),
        (1111111109, "07081804", Sha1),
        (1111111109, "68084774", Sha256),
        (1111111109, "25091201", Sha512),
        (1111111111, "14050471", Sha1),
        (1111111111, "67062674", Sha256),
        (1111111111, "99943326", Sha512),
        (1234567890, "89005924", Sha1),
        (1234567890, "91819424", Sha256),
        (1234567890, "93441116", Sha512),
        (2000000000, "69279037", Sha1),
        (2000000000, "90698825", Sha256),
        (2000000000, "38618901", Sha512),
        (20000000000, "65353130", Sha1),
        (20000000000, "77737706", Sha256),
        (20000000000, "47863826", Sha512),
    ];
    for (time, want, alg) in table {
        let key: &[u8] = match alg {
            Sha1 => SEED20,
            Sha256 => SEED32,
            Sha512 => SEED64,
        };
        let got = totp_code_with(key, time, 30, 8, alg);
        assert_eq!(got, want, "time {time} {alg:?}");
    }
}

#[test]
fn rfc6238_step_values() {
    // "Value of T (hex)" column.
    assert_eq!(totp_step(59), 1);
    assert_eq!(totp_step(1111111109), 0x23523EC);
    assert_eq!(totp_step(1111111111), 0x23523ED);
    assert_eq!(totp_step(1234567890), 0x273EF07);
    assert_eq!(totp_step(2000000000), 0x3F940AA);
    assert_eq!(totp_step(20000000000), 0x27BC86AA);
}

#[test]
fn standard_code_is_last_six_of_sha1_vector() {
    // With SHA-1 the 6-digit code is the 8-digit vector mod 10^6 (same truncated value).
    assert_eq!(TOTP_STEP_SECONDS, 30);
    assert_eq!(TOTP_DIGITS, 6);
    assert_eq!(totp_code(SEED20, 59), "287082");
    assert_eq!(totp_code(SEED20, 1111111109), "081804");
    assert_eq!(totp_code(SEED20, 20000000000), "353130");
}
