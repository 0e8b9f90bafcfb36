//! The signature of the operator's webhooks: `Nidan-Signature: t=<unix seconds>,v1=<hex>`, where
//! `<hex>` is HMAC-SHA256 under the webhook's secret of `<t>.<body>` (the timestamp, a dot, the
//! exact body bytes). A receiver recomputes it, compares in constant time, and refuses a `t` more
//! than [`REPLAY_WINDOW_SECS`] from its own clock, so a captured delivery cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a receiver should accept `t` from its own clock.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// The `Nidan-Signature` value for `body` sent at `t` under `secret`.
pub fn webhook_signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("t={t},v1={}", data_encoding::HEXLOWER.encode(&tag))
}

/// Whether `header` is a valid signature of `body` under `secret` at a time within
/// [`REPLAY_WINDOW_SECS`] of `now` (what a receiver checks; used by the tests).
pub fn webhook_signature_valid(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    let Some(t) = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return false;
    };
    if (now - t).abs() > REPLAY_WINDOW_SECS {
        return false;
    }
    crate::ct_eq(
        webhook_signature(secret, t, body).as_bytes(),
        header.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_out_only_for_its_body_secret_and_time() {
        let h = webhook_signature(b"s3cret-s3cret-s3", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        assert!(webhook_signature_valid(
            b"s3cret-s3cret-s3",
            &h,
            b"{\"a\":1}",
            1_700_000_100
        ));
        assert!(!webhook_signature_valid(
            b"s3cret-s3cret-s3",
            &h,
            b"{\"a\":2}",
            1_700_000_100
        ));
        assert!(!webhook_signature_valid(
            b"another-secret!!",
            &h,
            b"{\"a\":1}",
            1_700_000_100
        ));
        assert!(!webhook_signature_valid(
            b"s3cret-s3cret-s3",
            &h,
            b"{\"a\":1}",
            1_700_000_301
        ));
        assert!(!webhook_signature_valid(
            b"s3cret-s3cret-s3",
            "t=x,v1=00",
            b"",
            0
        ));
    }
}
