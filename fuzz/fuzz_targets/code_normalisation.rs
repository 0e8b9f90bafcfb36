//! Code normalisation: whatever people (or attackers) type, the normalisers never panic, and what
//! they accept has exactly the promised shape — so a wrong length or a foreign digit can never
//! reach the comparison.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nidan_domain::{
    RECOVERY_ALPHABET, RECOVERY_CODE_LEN, SubmittedCode, classify_code, normalize_numeric_code,
    normalize_recovery_code,
};

fuzz_target!(|input: &str| {
    for len in [6usize, 8] {
        if let Ok(code) = normalize_numeric_code(input, len) {
            let s = code.as_str();
            assert_eq!(s.len(), len, "{input:?}");
            assert!(s.bytes().all(|b| b.is_ascii_digit()), "{input:?}");
            // Every kept character came from an ASCII or full-width digit.
            let digits = input
                .chars()
                .filter(|c| c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(c))
                .count();
            assert_eq!(digits, len, "{input:?}");
            // Idempotent: the normal form normalises to itself.
            assert_eq!(
                normalize_numeric_code(s, len)
                    .map(|c| c.as_str().to_owned())
                    .ok(),
                Some(s.to_owned())
            );
        }
    }
    if let Ok(code) = normalize_recovery_code(input) {
        let canonical = code.canonical();
        assert_eq!(canonical.len(), RECOVERY_CODE_LEN, "{input:?}");
        assert!(
            canonical.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)),
            "{input:?}"
        );
        let display = code.display();
        let again = normalize_recovery_code(&display).expect("the display form parses");
        assert_eq!(again.canonical(), canonical);
    }
    match classify_code(input) {
        Ok(SubmittedCode::Numeric(c)) => assert_eq!(c.as_str().len(), 6),
        Ok(SubmittedCode::Recovery(c)) => assert_eq!(c.canonical().len(), RECOVERY_CODE_LEN),
        Err(_) => {}
    }
});
