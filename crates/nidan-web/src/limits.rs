//! Coarse request limits: sign-in requests per client IP (against password spraying) and verify
//! calls per API key. Fixed one-minute windows in memory, per node.
//!
//! These are defence in depth only. The limits that protect codes — per challenge and per
//! account — live in the database and hold across nodes; these merely blunt floods, so a
//! per-node count is good enough. (A per-IP limit on app calls would lock out every user of an
//! app server, hence per key there.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// One fixed-window counter per key.
#[derive(Debug)]
pub struct Window<K> {
    per_minute: u32,
    slots: Mutex<(Instant, HashMap<K, u32>)>,
}

impl<K: std::hash::Hash + Eq + Clone> Window<K> {
    /// Allows `per_minute` hits per key per minute; 0 allows everything.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            slots: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Counts a hit; `Err(seconds to wait)` when over the limit.
    pub fn hit(&self, key: &K) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut guard = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (start, counts) = &mut *guard;
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_secs(60) {
            *start = Instant::now();
            counts.clear();
        }
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.per_minute {
            return Err(60u64.saturating_sub(elapsed.as_secs()).max(1));
        }
        *n += 1;
        Ok(())
    }
}

/// The limits of one node.
#[derive(Debug)]
pub struct Limits {
    login: Window<IpAddr>,
    api_key: Window<String>,
}

impl Limits {
    /// Limits with these per-minute allowances (0 = off).
    pub fn new(login_per_ip: u32, verify_per_key: u32) -> Self {
        Self {
            login: Window::new(login_per_ip),
            api_key: Window::new(verify_per_key),
        }
    }

    /// A sign-in request from `ip`.
    pub fn check_login(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.login.hit(&ip).map_err(|wait| {
            ApiError::rate_limited(
                wait,
                "too many sign-in attempts from this address; wait a minute",
            )
        })
    }

    /// A verify call with key `id`.
    pub fn check_api_key(&self, id: &str) -> Result<(), ApiError> {
        self.api_key.hit(&id.to_owned()).map_err(|wait| {
            ApiError::rate_limited(wait, "this API key has made too many calls this minute")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_quota_then_refuses() {
        let w = Window::new(3);
        for _ in 0..3 {
            assert!(w.hit(&1).is_ok());
        }
        assert!(w.hit(&1).is_err());
        assert!(w.hit(&2).is_ok(), "other keys have their own quota");
    }

    #[test]
    fn zero_means_no_limit() {
        let w = Window::new(0);
        for _ in 0..1000 {
            assert!(w.hit(&1).is_ok());
        }
    }
}
