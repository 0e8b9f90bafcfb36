//! Property tests for the rules that take hostile input or guard against guessing: code
//! normalisation, the TOTP window, and the throttle schedule.

use nidan_domain::{
    CodeError, RecoveryCode, ThrottlePolicy, ThrottleState, TotpCheck, TotpWindow, check_totp,
    classify_code, normalize_numeric_code, normalize_recovery_code, totp_code_for_step, totp_step,
};
use proptest::prelude::*;

/// Map ASCII digits to full-width digits (U+FF10..=U+FF19).
fn to_fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
            other => other,
        })
        .collect()
}

/// Non-ASCII decimal digits that must never count as digits.
const FOREIGN_ZEROES: [u32; 3] = [
    0x0660, /* Arabic-Indic */
    0x0966, /* Devanagari */
    0x06F0,
];
const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n)
        .prop_map(|v| v.iter().map(|d| (b'0' + d) as char).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn numeric_never_panics_and_ok_means_n_ascii_digits(s in any::<String>(), len in 0usize..12) {
        if let Ok(code) = normalize_numeric_code(&s, len) {
            prop_assert_eq!(code.as_str().len(), len);
            prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
        let _ = classify_code(&s);
        let _ = normalize_recovery_code(&s);
    }

    #[test]
    fn numeric_from_digit_like_strings(s in "[0-9０-９ \t\\-－\u{3000}a+٠-٩०-९]{0,20}") {
        match normalize_numeric_code(&s, 6) {
            Ok(code) => {
                prop_assert_eq!(code.as_str().len(), 6);
                prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
            Err(CodeError::Empty | CodeError::BadCharacter | CodeError::WrongLength { .. }) => {}
        }
    }

    #[test]
    fn normalisation_is_idempotent(s in any::<String>(), len in 1usize..10) {
        if let Ok(once) = normalize_numeric_code(&s, len) {
            let twice = normalize_numeric_code(once.as_str(), len).unwrap();
            prop_assert_eq!(once.as_str(), twice.as_str());
        }
        if let Ok(once) = normalize_recovery_code(&s) {
            let twice = normalize_recovery_code(once.canonical()).unwrap();
            prop_assert_eq!(once.canonical(), twice.canonical());
            let via_display = normalize_recovery_code(&once.display()).unwrap();
            prop_assert_eq!(once.canonical(), via_display.canonical());
        }
    }

    #[test]
    fn spaced_digits_normalise(code in digits(6)) {
        let spaced = format!(" {} {}-", &code[..3], &code[3..]);
        let got = normalize_numeric_code(&spaced, 6).unwrap();
        prop_assert_eq!(got.as_str(), code.as_str());
    }

    #[test]
    fn fullwidth_digits_map_to_the_same_code(code in digits(6)) {
        let wide = to_fullwidth(&code);
        let a = normalize_numeric_code(&code, 6).unwrap();
        let b = normalize_numeric_code(&wide, 6).unwrap();
        prop_assert_eq!(a.as_str(), b.as_str());
    }

    #[test]
    fn foreign_digits_are_refused(code in digits(6), which in 0usize..4, pos in 0usize..6) {
        let foreign: String = code
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i != pos { return c; }
                let d = c as u32 - '0' as u32;
                match which {
                    3 => SUPERSCRIPTS[d as usize],
                    w => char::from_u32(FOREIGN_ZEROES[w] + d).unwrap(),
                }
            })
            .collect();
        prop_assert_eq!(normalize_numeric_code(&foreign, 6).unwrap_err(), CodeError::BadCharacter);
        let all_foreign: String = code
            .chars()
            .map(|c| char::from_u32(FOREIGN_ZEROES[which % 3] + (c as u32 - '0' as u32)).unwrap())
            .collect();
        prop_assert_eq!(normalize_numeric_code(&all_foreign, 6).unwrap_err(), CodeError::BadCharacter);
    }

    #[test]
    fn recovery_round_trip(bytes in any::<[u8; 10]>()) {
        let code = RecoveryCode::from_random(&bytes);
        let again = normalize_recovery_code(&code.display().to_uppercase()).unwrap();
        prop_assert_eq!(again.canonical(), code.canonical());
    }

    #[test]
    fn totp_window_never_exceeds_one_step(
        key in proptest::collection::vec(any::<u8>(), 16..=64),
        now in 200i64..=4_000_000_000,
        k in -4i64..=4,
    ) {
        let t = totp_step(now);
        let target = (t as i64 + k) as u64;
        let code_text = totp_code_for_step(&key, target);
        // Skip the rare inputs where the target's code collides with an in-window step's code.
        let collides = (t - 1..=t + 1)
            .filter(|&s| s != target)
            .any(|s| totp_code_for_step(&key, s) == code_text);
        prop_assume!(!collides);
        let code = normalize_numeric_code(&code_text, 6).unwrap();
        let got = check_totp(&key, &code, now, TotpWindow::DEFAULT, None);
        if k.abs() <= 1 {
            prop_assert_eq!(got, TotpCheck::Accepted { step: target });
        } else {
            prop_assert_eq!(got, TotpCheck::Invalid);
        }
        let strict = check_totp(&key, &code, now, TotpWindow::new(0).unwrap(), None);
        if k == 0 {
            prop_assert_eq!(strict, TotpCheck::Accepted { step: target });
        } else {
            prop_assert_eq!(strict, TotpCheck::Invalid);
        }
        // A used step is never accepted again.
        if k.abs() <= 1 {
            prop_assert_eq!(
                check_totp(&key, &code, now, TotpWindow::DEFAULT, Some(target)),
                TotpCheck::Replayed
            );
        }
    }

    #[test]
    fn throttle_delay_monotonic_and_capped(
        free in 0u32..20,
        base in 0u64..100_000,
        max in 0u64..1_000_000,
        a in any::<u32>(),
        b in any::<u32>(),
    ) {
        let p = ThrottlePolicy { free_failures: free, base_delay_secs: base, max_delay_secs: max, lock_at: 100 };
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let dl = p.delay_after(lo);
        let dh = p.delay_after(hi);
        prop_assert!(dl.unwrap_or(0) <= dh.unwrap_or(0));
        prop_assert!(dl.is_none() || dh.is_some());
        for d in [dl, dh].into_iter().flatten() {
            prop_assert!(d <= max);
        }
        prop_assert_eq!(p.delay_after(lo).is_some(), lo >= free);
    }

    #[test]
    fn throttle_locked_iff_at_cap(
        failures in any::<u32>(),
        lock_at in any::<u32>(),
        last in any::<i64>(),
        now in any::<i64>(),
    ) {
        let p = ThrottlePolicy { lock_at, ..ThrottlePolicy::default() };
        let state = p.state(failures, last, now);
        prop_assert_eq!(state == ThrottleState::Locked, failures >= lock_at);
        if let ThrottleState::Wait { retry_after_secs } = state {
            prop_assert!(retry_after_secs >= 1);
        }
    }
}

#[test]
fn default_throttle_is_small_steps_then_lock() {
    let p = ThrottlePolicy::default();
    let mut prev = 0;
    for f in 0..100 {
        let d = p.delay_after(f).unwrap_or(0);
        assert!(d >= prev && d <= 3600);
        prev = d;
    }
    assert_eq!(p.state(100, 0, 0), ThrottleState::Locked);
}
