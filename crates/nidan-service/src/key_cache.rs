//! Tokens found valid in the last second, kept in memory so that a hot caller does not read them
//! from the database every time: API keys (an app's verify call) and sessions (forward-auth, asked
//! about every request to every protected app, images and scripts included).
//!
//! Why: on SQLite that read runs on a read connection, whose page cache is cold after every
//! commit, and which shares the file's lock mutex with the writer thread. Under load a
//! verification costs the server 51.2 µs of CPU with the key remembered against 59.1 µs with it
//! read every time (docs/performance.md, "Why the design is as it is").
//!
//! The price is bounded: a key or session ended by another process or node (`nidan admin
//! api-key revoke` against the database of a running server, a sign-out on another node) is
//! refused at most [`KEY_CACHE_TTL`] later. One ended through this process is forgotten at once.
//! Only tokens that were found are kept, so unknown tokens cannot fill the memory; past the
//! cache's bound the memory simply starts over.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ports::ApiKeyRecord;

/// How long a token found valid is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// The most API keys remembered at once.
const KEY_CACHE_MAX: usize = 1024;

/// The API keys found valid, by digest.
pub(crate) type KeyCache = Recent<ApiKeyRecord>;

/// Values by the SHA-256 digest of their token (the secret itself is never kept).
#[derive(Debug)]
pub(crate) struct Recent<V> {
    found: Mutex<HashMap<[u8; 32], (V, Instant)>>,
    max: usize,
}

impl Default for Recent<ApiKeyRecord> {
    fn default() -> Self {
        Recent::new(KEY_CACHE_MAX)
    }
}

impl<V: Clone> Recent<V> {
    /// An empty cache of at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        Recent {
            found: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// The value for this digest, if it was found valid less than [`KEY_CACHE_TTL`] before
    /// `now`.
    pub(crate) fn get(&self, digest: &[u8; 32], now: Instant) -> Option<V> {
        self.found()
            .get(digest)
            .filter(|(_, at)| now.saturating_duration_since(*at) < KEY_CACHE_TTL)
            .map(|(value, _)| value.clone())
    }

    /// Remembers a value the database just found valid.
    pub(crate) fn put(&self, digest: [u8; 32], value: V, now: Instant) {
        let mut found = self.found();
        if found.len() >= self.max && !found.contains_key(&digest) {
            found.clear();
        }
        found.insert(digest, (value, now));
    }

    /// Forgets one digest.
    pub(crate) fn forget(&self, digest: &[u8; 32]) {
        self.found().remove(digest);
    }

    /// Forgets everything (after a revocation through this process).
    pub(crate) fn clear(&self) {
        self.found().clear();
    }

    /// The map (a panic elsewhere while it was held leaves nothing half-written: every change
    /// is one `insert`, `remove` or `clear`).
    fn found(&self) -> MutexGuard<'_, HashMap<[u8; 32], (V, Instant)>> {
        self.found.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiKeyId;

    fn name(found: Option<ApiKeyRecord>) -> Option<String> {
        found.map(|r| r.name)
    }

    fn record(name: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: ApiKeyId::new(format!("key-{name}")),
            name: name.into(),
            created_at: 0,
            scopes: "verify".into(),
            last_used_at: None,
        }
    }

    #[test]
    fn a_found_key_is_trusted_for_less_than_the_ttl_only() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        assert!(cache.get(&[1; 32], t0).is_none());
        cache.put([1; 32], record("shop"), t0);
        assert_eq!(name(cache.get(&[1; 32], t0)).as_deref(), Some("shop"));
        let almost = t0 + KEY_CACHE_TTL - Duration::from_millis(1);
        assert_eq!(name(cache.get(&[1; 32], almost)).as_deref(), Some("shop"));
        // From the TTL on, the database is asked again (a revocation elsewhere shows).
        assert!(cache.get(&[1; 32], t0 + KEY_CACHE_TTL).is_none());
        assert!(
            cache.get(&[2; 32], t0).is_none(),
            "other digests are not found"
        );
    }

    #[test]
    fn clearing_forgets_every_key() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        cache.put([1; 32], record("shop"), t0);
        cache.put([2; 32], record("blog"), t0);
        cache.clear();
        assert!(cache.get(&[1; 32], t0).is_none());
        assert!(cache.get(&[2; 32], t0).is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let cache = KeyCache::default();
        let t0 = Instant::now();
        for i in 0..=KEY_CACHE_MAX {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.put(digest, record("k"), t0);
        }
        let kept = cache.found().len();
        assert!(kept <= KEY_CACHE_MAX, "{kept} keys kept");
    }
}
