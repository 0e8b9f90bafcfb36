//! Phone numbers: any text with any default region never panics; an accepted number is E.164,
//! parses to itself, and its masked form hides all but the last four digits.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nidan_domain::PhoneNumber;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    region: u8,
    custom_region: Option<&'a str>,
    text: &'a str,
}

const REGIONS: &[&str] = &[
    "JP", "US", "GB", "DE", "FR", "IN", "BR", "CN", "AU", "ZZ", "jp", "",
];

fuzz_target!(|input: Input<'_>| {
    let region = input
        .custom_region
        .unwrap_or(REGIONS[usize::from(input.region) % REGIONS.len()]);
    if let Ok(phone) = PhoneNumber::parse(input.text, region) {
        let e164 = phone.e164();
        assert!(e164.starts_with('+'), "{e164}");
        assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
        // E.164: at most 15 digits (regression: crates/nidan-domain/tests/fuzz_regressions.rs).
        assert!(e164.len() <= 16, "{e164}");
        assert!(e164.len() >= 3, "{e164}");
        // What nidan stores and shows parses again to itself, whatever the default region.
        let again = PhoneNumber::parse(e164, region).expect("our own E.164 form parses");
        assert_eq!(again.e164(), e164);
        let masked = phone.masked();
        let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
        let last4 = &e164[e164.len() - 4..];
        assert!(
            masked.ends_with(last4) || shown.ends_with(last4),
            "{masked} vs {e164}"
        );
        // Country code (at most 3 digits) and the last four may show; longer numbers hide more.
        let digits = e164.len() - 1;
        if digits > 7 {
            assert!(shown.len() < digits, "nothing is masked: {masked}");
        }
    }
});
