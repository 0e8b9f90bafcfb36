//! Coarse request limits: sign-in requests per client address (against password spraying),
//! sign-ups per client address (against scripted accounts that pump paid SMS), and verify calls
//! per API key. Fixed windows in memory, per node; IPv6 clients are counted by their /64.
//!
//! These are defence in depth only. The limits that protect codes and passwords — per
//! challenge, per account, sends to unconfirmed destinations per client and overall — live in
//! the database and hold across nodes; these merely blunt floods, so a per-node count is good
//! enough. (A per-IP limit on app calls would lock out every user of an app server, hence per
//! key there.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// One fixed-window counter per key.
#[derive(Debug)]
pub struct Window<K> {
    limit: u32,
    period: Duration,
    slots: Mutex<(Instant, HashMap<K, u32>)>,
}

impl<K: std::hash::Hash + Eq + Clone> Window<K> {
    /// Allows `per_minute` hits per key per minute; 0 allows everything.
    pub fn new(per_minute: u32) -> Self {
        Self::per(per_minute, Duration::from_secs(60))
    }

    /// Allows `limit` hits per key per `period`; 0 allows everything.
    pub fn per(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            slots: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Counts a hit; `Err(seconds to wait)` when over the limit.
    pub fn hit(&self, key: &K) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut guard = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (start, counts) = &mut *guard;
        let elapsed = start.elapsed();
        if elapsed >= self.period {
            *start = Instant::now();
            counts.clear();
        }
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.limit {
            return Err(self
                .period
                .as_secs()
                .saturating_sub(elapsed.as_secs())
                .max(1));
        }
        *n += 1;
        Ok(())
    }
}

/// The limits of one node.
#[derive(Debug)]
pub struct Limits {
    login: Window<IpAddr>,
    signup: Window<IpAddr>,
    api_key: Window<String>,
    reset: Window<IpAddr>,
}

impl Limits {
    /// Limits with these allowances (0 = off): sign-ins per client per minute, sign-ups per
    /// client per hour, verify calls per key per minute.
    pub fn new(login_per_ip: u32, signup_per_ip_per_hour: u32, verify_per_key: u32) -> Self {
        Self {
            login: Window::new(login_per_ip),
            signup: Window::per(signup_per_ip_per_hour, Duration::from_secs(3600)),
            api_key: Window::new(verify_per_key),
            reset: Window::per(10, Duration::from_secs(3600)),
        }
    }

    /// Password reset requests per client address per hour (0 = no limit; 10 unless set).
    pub fn with_password_resets(mut self, per_client_per_hour: u32) -> Self {
        self.reset = Window::per(per_client_per_hour, Duration::from_secs(3600));
        self
    }

    /// A password reset request from `ip` (IPv6 counted by its /64).
    pub fn check_password_reset(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.reset
            .hit(&nidan_domain::client_net(ip))
            .map_err(|wait| {
                ApiError::rate_limited(
                    wait,
                    "too many password reset requests from this address; try again later",
                )
            })
    }

    /// A sign-up from `ip` (IPv6 counted by its /64).
    pub fn check_signup(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.signup
            .hit(&nidan_domain::client_net(ip))
            .map_err(|wait| {
                tracing::warn!(client = %nidan_domain::client_net(ip), "the sign-up limit per client address refused a sign-up");
                ApiError::rate_limited(
                    wait,
                    "too many accounts were created from this address; try again later",
                )
            })
    }

    /// A sign-in request from `ip` (IPv6 counted by its /64).
    pub fn check_login(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.login
            .hit(&nidan_domain::client_net(ip))
            .map_err(|wait| {
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
    fn ipv6_sign_ups_count_by_their_64() {
        let limits = Limits::new(0, 2, 0);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert!(limits.check_signup(a).is_ok());
        assert!(limits.check_signup(b).is_ok());
        assert!(
            limits.check_signup(a).is_err(),
            "a third sign-up from the same /64 is refused"
        );
        assert!(
            limits.check_signup(other).is_ok(),
            "another /64 has its own"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let w = Window::new(0);
        for _ in 0..1000 {
            assert!(w.hit(&1).is_ok());
        }
    }
}
