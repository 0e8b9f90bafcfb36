//! otpauth URIs: building from any issuer, account and secret, then parsing back, gives the same
//! parts; parsing any string never panics, and what it accepts is a usable TOTP secret.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nidan_domain::{TotpSecret, otpauth_uri, parse_otpauth_uri};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    RoundTrip {
        issuer: &'a str,
        account: &'a str,
        secret: [u8; 20],
    },
    Parse(&'a str),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::RoundTrip {
        issuer,
        account,
        secret,
    } => {
        let secret = TotpSecret::from_random(secret);
        if let Ok(uri) = otpauth_uri(issuer, account, &secret) {
            assert!(uri.is_ascii(), "{uri}");
            let parts = parse_otpauth_uri(&uri).expect("what we build, we parse");
            assert_eq!(parts.secret.as_bytes(), secret.as_bytes());
            assert_eq!(parts.issuer.trim(), issuer.trim(), "{uri}");
            assert_eq!(parts.account.trim(), account.trim(), "{uri}");
        }
    }
    Input::Parse(text) => {
        if let Ok(parts) = parse_otpauth_uri(text) {
            assert!(parts.secret.as_bytes().len() >= 16, "{text}");
            // What was parsed can be built again (when the label parts are buildable).
            if let Ok(uri) = otpauth_uri(&parts.issuer, &parts.account, &parts.secret)
                && uri.len() <= 4096
            {
                let again = parse_otpauth_uri(&uri).expect("rebuilt URI parses");
                assert_eq!(again.secret.as_bytes(), parts.secret.as_bytes());
            }
        }
    }
});
