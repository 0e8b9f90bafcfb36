//! TOTP (RFC 6238): HOTP over the number of 30-second steps since the Unix epoch, and the
//! acceptance check with its window and replay rule.
//!
//! This module exists so that the one decision "is this code good right now?" is made in one
//! place. It guarantees:
//!
//! - codes are what authenticator apps show: HMAC-SHA-1, 6 digits, 30 s steps, 64-bit time;
//!   times before the epoch count as step 0;
//! - the acceptance window is at most one step either side of now ([`TotpWindow`] cannot be
//!   built wider), so a code is good for at most 90 s;
//! - [`check_totp`] computes and compares every candidate step in constant time, without early
//!   exit, so timing does not reveal which step (if any) matched;
//! - a step at or before the last accepted step is never accepted again (RFC 6238 §5.2 replay
//!   rule); the caller stores the accepted step atomically.

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::code::NumericCode;
use crate::hotp::{HmacAlgorithm, format_code, hotp};

/// Length of one TOTP time step, in seconds (RFC 6238 default; the only one apps honour).
pub const TOTP_STEP_SECONDS: i64 = 30;

/// Digits in a TOTP code (the only count apps honour).
pub const TOTP_DIGITS: u32 = 6;

/// The time step containing `unix_secs`: `floor(unix_secs / 30)`; times before the epoch give 0.
pub fn totp_step(unix_secs: i64) -> u64 {
    step_with(unix_secs, TOTP_STEP_SECONDS)
}

/// `floor(unix_secs / step_seconds)`, with negative times giving 0 and `step_seconds < 1`
/// treated as 1.
fn step_with(unix_secs: i64, step_seconds: i64) -> u64 {
    let step = step_seconds.max(1);
    u64::try_from(unix_secs.max(0) / step).unwrap_or(0)
}

/// The code an authenticator app shows at `unix_secs` (HMAC-SHA-1, 6 digits, 30 s).
pub fn totp_code(key: &[u8], unix_secs: i64) -> String {
    totp_code_for_step(key, totp_step(unix_secs))
}

/// A TOTP code with explicit parameters, for the RFC 6238 test vectors.
///
/// `step_seconds < 1` is treated as 1; `digits` is clamped to `1..=9` (see [`hotp`]).
pub fn totp_code_with(
    key: &[u8],
    unix_secs: i64,
    step_seconds: i64,
    digits: u32,
    alg: HmacAlgorithm,
) -> String {
    let step = step_with(unix_secs, step_seconds);
    format_code(hotp(key, step, digits, alg), digits)
}

/// The standard (SHA-1, 6-digit) code for one time step; lets benchmarks and tests precompute
/// codes for known steps.
pub fn totp_code_for_step(key: &[u8], step: u64) -> String {
    format_code(
        hotp(key, step, TOTP_DIGITS, HmacAlgorithm::Sha1),
        TOTP_DIGITS,
    )
}

/// Acceptance window in steps either side of now: 0 or 1, never more (security.md).
///
/// Why a type: a wider window can't be expressed, so no configuration mistake can make codes
/// live longer than 90 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpWindow(u8);

/// A window wider than the policy allows was requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// More than one step either side of now was requested.
    #[error("a TOTP window of {steps} steps is too wide; the maximum is 1")]
    TooWide {
        /// The requested number of steps.
        steps: u8,
    },
}

impl TotpWindow {
    /// One step either side of now (T-1, T, T+1): RFC 6238's allowance for network delay and
    /// clock drift.
    pub const DEFAULT: TotpWindow = TotpWindow(1);

    /// A window of `steps` either side of now; more than 1 is refused.
    pub fn new(steps: u8) -> Result<TotpWindow, WindowError> {
        if steps > 1 {
            Err(WindowError::TooWide { steps })
        } else {
            Ok(TotpWindow(steps))
        }
    }

    /// Steps accepted either side of now.
    pub fn steps(self) -> u8 {
        self.0
    }
}

impl Default for TotpWindow {
    fn default() -> Self {
        TotpWindow::DEFAULT
    }
}

/// The outcome of [`check_totp`].
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TotpCheck {
    /// The code matches a fresh step; store `step` as the new last-used step (atomically, only
    /// if it is still newer than the stored one).
    Accepted {
        /// The matched time step.
        step: u64,
    },
    /// The code matches, but only steps already used: a replay. Refuse it.
    Replayed,
    /// The code matches no step in the window.
    Invalid,
}

/// Check a typed code against every step in `T-w..=T+w` (T = the step of `unix_secs`).
///
/// Every candidate is computed and compared in constant time, with no early exit.
/// `Accepted { step }` is the smallest matching step that is `> last_used_step` (or the
/// smallest matching step when `last_used_step` is `None`). `Replayed`: some step matched but
/// every matching step is `<= last_used_step`. `Invalid`: nothing matched.
pub fn check_totp(
    key: &[u8],
    code: &NumericCode,
    unix_secs: i64,
    window: TotpWindow,
    last_used_step: Option<u64>,
) -> TotpCheck {
    let now = totp_step(unix_secs);
    let w = u64::from(window.steps());
    let typed = code.as_str().as_bytes();

    let mut accepted = Choice::from(0);
    let mut accepted_step = 0u64;
    let mut any_match = Choice::from(0);

    // Ascending order: the first fresh match is the smallest.
    for offset in 0..=2 * w {
        // Steps below 0 do not exist (only near the epoch); skip them.
        let Some(step) = (now + offset).checked_sub(w) else {
            continue;
        };
        let candidate = zeroize::Zeroizing::new(totp_code_for_step(key, step));
        let matched = typed.ct_eq(candidate.as_bytes());
        let fresh = match last_used_step {
            Some(last) => Choice::from(u8::from(step > last)),
            None => Choice::from(1),
        };
        let take = matched & fresh & !accepted;
        accepted_step = u64::conditional_select(&accepted_step, &step, take);
        accepted |= take;
        any_match |= matched;
    }

    if bool::from(accepted) {
        TotpCheck::Accepted {
            step: accepted_step,
        }
    } else if bool::from(any_match) {
        TotpCheck::Replayed
    } else {
        TotpCheck::Invalid
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::code::normalize_numeric_code;

    const KEY: &[u8] = b"12345678901234567890";

    fn code_at(step: u64) -> NumericCode {
        normalize_numeric_code(&totp_code_for_step(KEY, step), 6).unwrap()
    }

    #[test]
    fn steps() {
        assert_eq!(totp_step(-1), 0);
        assert_eq!(totp_step(i64::MIN), 0);
        assert_eq!(totp_step(29), 0);
        assert_eq!(totp_step(30), 1);
        assert_eq!(totp_step(59), 1);
        assert_eq!(totp_step(i64::MAX), (i64::MAX / 30) as u64);
    }

    #[test]
    fn window_is_at_most_one() {
        assert_eq!(TotpWindow::new(0).unwrap().steps(), 0);
        assert_eq!(TotpWindow::new(1).unwrap(), TotpWindow::DEFAULT);
        assert_eq!(
            TotpWindow::new(2).unwrap_err(),
            WindowError::TooWide { steps: 2 }
        );
    }

    #[test]
    fn accepts_window_and_refuses_outside() {
        let now = 1_700_000_000;
        let t = totp_step(now);
        let w = TotpWindow::DEFAULT;
        for k in [-1i64, 0, 1] {
            let s = (t as i64 + k) as u64;
            assert_eq!(
                check_totp(KEY, &code_at(s), now, w, None),
                TotpCheck::Accepted { step: s }
            );
        }
        for k in [-3i64, -2, 2, 3] {
            let s = (t as i64 + k) as u64;
            assert_eq!(
                check_totp(KEY, &code_at(s), now, w, None),
                TotpCheck::Invalid
            );
        }
        let zero = TotpWindow::new(0).unwrap();
        assert_eq!(
            check_totp(KEY, &code_at(t - 1), now, zero, None),
            TotpCheck::Invalid
        );
        assert_eq!(
            check_totp(KEY, &code_at(t), now, zero, None),
            TotpCheck::Accepted { step: t }
        );
    }

    #[test]
    fn replay_rule() {
        let now = 1_700_000_000;
        let t = totp_step(now);
        let w = TotpWindow::DEFAULT;
        assert_eq!(
            check_totp(KEY, &code_at(t), now, w, Some(t)),
            TotpCheck::Replayed
        );
        assert_eq!(
            check_totp(KEY, &code_at(t - 1), now, w, Some(t)),
            TotpCheck::Replayed
        );
        assert_eq!(
            check_totp(KEY, &code_at(t + 1), now, w, Some(t)),
            TotpCheck::Accepted { step: t + 1 }
        );
        assert_eq!(
            check_totp(KEY, &code_at(t), now, w, Some(t - 1)),
            TotpCheck::Accepted { step: t }
        );
        assert_eq!(
            check_totp(KEY, &code_at(t + 5), now, w, Some(t)),
            TotpCheck::Invalid
        );
    }

    #[test]
    fn near_epoch_does_not_underflow() {
        assert_eq!(
            check_totp(KEY, &code_at(0), 0, TotpWindow::DEFAULT, None),
            TotpCheck::Accepted { step: 0 }
        );
        assert_eq!(
            check_totp(KEY, &code_at(1), -500, TotpWindow::DEFAULT, None),
            TotpCheck::Accepted { step: 1 }
        );
    }

    #[test]
    fn wrong_length_code_never_matches() {
        let eight = normalize_numeric_code("12345678", 8).unwrap();
        assert_eq!(
            check_totp(KEY, &eight, 59, TotpWindow::DEFAULT, None),
            TotpCheck::Invalid
        );
    }
}
