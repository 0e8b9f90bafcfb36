//! Per-account guessing limits for every second factor (security.md "Guessing limits").
//!
//! This module exists so that the delay and lockout rule is one pure function of the stored
//! failure count, shared by sign-in, the app API and settings. It guarantees:
//!
//! - no delay below `free_failures` consecutive failures; then `base * 2^(n - free)` seconds,
//!   capped at `max`, computed without overflow for every `u32`;
//! - the delay never decreases as failures grow;
//! - [`ThrottleState::Locked`] exactly when failures reach `lock_at` (NIST's cap of 100);
//! - a waiting caller is told how long to wait, at least 1 second (for `Retry-After`).

/// The limits. Defaults: 5 free failures, then 30 s doubling to at most 1 h, locked at 100.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottlePolicy {
    /// Consecutive failures allowed before any delay.
    pub free_failures: u32,
    /// The first delay, in seconds.
    pub base_delay_secs: u64,
    /// The longest delay, in seconds.
    pub max_delay_secs: u64,
    /// Consecutive failures at which the second factor is locked until a recovery code or a
    /// support reset.
    pub lock_at: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 5,
            base_delay_secs: 30,
            max_delay_secs: 3600,
            lock_at: 100,
        }
    }
}

/// Whether another attempt may be made now.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ThrottleState {
    /// Attempts are allowed.
    Open,
    /// Too many recent failures: answer 429 with `Retry-After: retry_after_secs`.
    Wait {
        /// Seconds until the next attempt is allowed (>= 1).
        retry_after_secs: u64,
    },
    /// Too many failures in total: only a recovery code or a support reset unlocks.
    Locked,
}

impl ThrottlePolicy {
    /// Delay imposed after `failures` consecutive failures: `None` below `free_failures`; then
    /// `base * 2^(failures - free_failures)` capped at `max` (no overflow for any `u32`).
    pub fn delay_after(&self, failures: u32) -> Option<u64> {
        let exponent = failures.checked_sub(self.free_failures)?;
        let delay = 1u64
            .checked_shl(exponent)
            .and_then(|factor| self.base_delay_secs.checked_mul(factor))
            .map_or(self.max_delay_secs, |d| d.min(self.max_delay_secs));
        Some(delay)
    }

    /// Locked when `failures >= lock_at`; `Wait` when `now < last_failure + delay` (with
    /// `retry_after` the rest, >= 1); else `Open`.
    pub fn state(&self, failures: u32, last_failure_unix: i64, now_unix: i64) -> ThrottleState {
        if failures >= self.lock_at {
            return ThrottleState::Locked;
        }
        let Some(delay) = self.delay_after(failures) else {
            return ThrottleState::Open;
        };
        let until = i128::from(last_failure_unix) + i128::from(delay);
        let now = i128::from(now_unix);
        if now < until {
            let rest = u64::try_from(until - now).unwrap_or(u64::MAX).max(1);
            ThrottleState::Wait {
                retry_after_secs: rest,
            }
        } else {
            ThrottleState::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.delay_after(0), None);
        assert_eq!(p.delay_after(4), None);
        assert_eq!(p.delay_after(5), Some(30));
        assert_eq!(p.delay_after(6), Some(60));
        assert_eq!(p.delay_after(11), Some(1920));
        assert_eq!(p.delay_after(12), Some(3600));
        assert_eq!(p.delay_after(70), Some(3600));
        assert_eq!(p.delay_after(u32::MAX), Some(3600));
    }

    #[test]
    fn states() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.state(4, 1000, 1000), ThrottleState::Open);
        assert_eq!(
            p.state(5, 1000, 1000),
            ThrottleState::Wait {
                retry_after_secs: 30
            }
        );
        assert_eq!(
            p.state(5, 1000, 1029),
            ThrottleState::Wait {
                retry_after_secs: 1
            }
        );
        assert_eq!(p.state(5, 1000, 1030), ThrottleState::Open);
        assert_eq!(p.state(99, 1000, 999_999), ThrottleState::Open);
        assert_eq!(p.state(100, 1000, 999_999), ThrottleState::Locked);
        // extreme clocks do not overflow
        assert_eq!(
            p.state(6, i64::MAX, i64::MIN),
            ThrottleState::Wait {
                retry_after_secs: u64::MAX
            }
        );
        assert_eq!(p.state(6, i64::MIN, i64::MAX), ThrottleState::Open);
    }
}
