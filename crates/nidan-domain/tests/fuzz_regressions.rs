//! Inputs found by the cargo-fuzz targets in `fuzz/` (see `scripts/fuzz`), kept as plain tests so
//! `cargo test` replays them forever. Each names its target and what went wrong.

use nidan_domain::{PhoneNumber, TotpSecret, otpauth_uri, parse_otpauth_uri};

/// fuzz target `phone`, crash-87238603…: `410)40124)111000` with default region DE was accepted
/// and stored as `+4941040124111000` — 16 digits, but E.164 numbers have at most 15 (ITU-T
/// E.164 §6.1). SMS gateways refuse such a "number"; it must be refused at enrolment instead.
#[test]
fn a_phone_number_longer_than_fifteen_digits_is_refused() {
    for (text, region) in [("410)40124)111000", "DE"), ("+49 410 4012 4111 000", "US")] {
        if let Ok(phone) = PhoneNumber::parse(text, region) {
            let digits = phone.e164().chars().filter(char::is_ascii_digit).count();
            assert!(digits <= 15, "{text:?} in {region} became {}", phone.e164());
        }
    }
}

/// fuzz target `otpauth`, crash-8e1df5ec…: `otpauth_uri` builds URIs of any length, but
/// `parse_otpauth_uri` refuses anything over 4096 bytes, so a URI we build is not always one we
/// (or an app) can read. Unreachable through the server today (the issuer is at most 64
/// characters by config and the account is an email of at most 254 bytes), but the two functions
/// disagree: the builder should refuse what the parser refuses.
#[test]
fn every_otpauth_uri_that_is_built_parses_back() {
    let secret = TotpSecret::from_random([7; 20]);
    let issuer = "é".repeat(400);
    let account = "ü".repeat(400);
    if let Ok(uri) = otpauth_uri(&issuer, &account, &secret) {
        let parts = parse_otpauth_uri(&uri).unwrap();
        assert_eq!(parts.secret.as_bytes(), secret.as_bytes());
    }
}

/// The same properties on the inputs the server can really produce: they hold.
#[test]
fn realistic_otpauth_uris_and_phone_numbers_round_trip() {
    let secret = TotpSecret::from_random([9; 20]);
    let issuer = "é".repeat(64);
    let account = format!("{}@{}.example", "ü".repeat(30), "ö".repeat(30));
    let uri = otpauth_uri(&issuer, &account, &secret).unwrap();
    let parts = parse_otpauth_uri(&uri).unwrap();
    assert_eq!(
        (parts.issuer.as_str(), parts.account.as_str()),
        (issuer.as_str(), account.as_str())
    );
    let phone = PhoneNumber::parse("090-1234-5678", "JP").unwrap();
    assert_eq!(
        PhoneNumber::parse(phone.e164(), "US").unwrap().e164(),
        phone.e164()
    );
}

/// fuzz target `phone`, crash-35c61044…: with default region CN, `+820 120 1235678` is accepted
/// as `+821201235678`, but that E.164 form — what nidan stores and shows — is then refused with
/// the same default region (it is accepted with KR). A number nidan accepted once must be
/// accepted again when typed in the form nidan itself printed.
#[test]
fn a_phone_numbers_own_e164_form_parses_again() {
    for (text, region) in [("+820 120 1235678", "CN")] {
        if let Ok(phone) = PhoneNumber::parse(text, region) {
            let again = PhoneNumber::parse(phone.e164(), region);
            assert_eq!(
                again.as_ref().map(PhoneNumber::e164).ok(),
                Some(phone.e164()),
                "{text:?} in {region} became {}, which then gives {again:?}",
                phone.e164()
            );
        }
    }
}
