//! Password hashing on a bounded pool of its own.
//!
//! Argon2id (m = 19 MiB, t = 2, p = 1: the OWASP minimum) costs tens of milliseconds of one
//! core. Run on the async runtime it would stall every other request; run on an unbounded
//! blocking pool a sign-in storm would queue without limit and slow code checks. So hashing gets
//! `max_concurrent` permits and at most `max_queue` waiters; beyond that callers get
//! [`ServiceError::Busy`] (503 with Retry-After) at once.
//!
//! Unknown emails are checked against a dummy hash with the same parameters, so "no such
//! account" costs the same time as "wrong password".

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{ServiceError, ServiceResult};

/// Argon2id parameters: memory in KiB, iterations, lanes.
#[derive(Clone, Copy, Debug)]
pub struct HashParams {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl HashParams {
    /// The OWASP minimum for Argon2id.
    pub const OWASP: HashParams = HashParams {
        m_kib: 19_456,
        t: 2,
        p: 1,
    };
}

/// The bounded hashing pool.
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    in_line: AtomicUsize,
    max_in_line: usize,
    params: HashParams,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn argon(params: HashParams) -> ServiceResult<Argon2<'static>> {
    let p = Params::new(params.m_kib, params.t, params.p, None)
        .map_err(|e| ServiceError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

fn hash_blocking(params: HashParams, password: &[u8], salt: &[u8; 16]) -> ServiceResult<String> {
    let hash = argon(params)?
        .hash_password_with_salt(password, salt)
        .map_err(|e| ServiceError::Internal(format!("argon2 hash: {e}")))?;
    Ok(hash.to_string())
}

impl PasswordHasher {
    /// A pool running `max_concurrent` hashes at once with up to `max_queue` waiting.
    /// `dummy_salt` seeds the dummy hash used for unknown accounts.
    pub fn new(
        params: HashParams,
        max_concurrent: usize,
        max_queue: usize,
        dummy_salt: [u8; 16],
    ) -> ServiceResult<Self> {
        let max_concurrent = max_concurrent.max(1);
        let dummy_hash = hash_blocking(
            params,
            b"nidan dummy password for unknown accounts",
            &dummy_salt,
        )?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            in_line: AtomicUsize::new(0),
            max_in_line: max_concurrent + max_queue,
            params,
            dummy_hash,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> ServiceResult<T> {
        if self.in_line.fetch_add(1, Ordering::AcqRel) >= self.max_in_line {
            self.in_line.fetch_sub(1, Ordering::AcqRel);
            return Err(ServiceError::Busy { retry_after: 1 });
        }
        let result = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| ServiceError::Internal("hashing pool closed".into()))?;
            tokio::task::spawn_blocking(job)
                .await
                .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))
        }
        .await;
        self.in_line.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>, salt: [u8; 16]) -> ServiceResult<String> {
        let params = self.params;
        self.run(move || hash_blocking(params, password.as_bytes(), &salt))
            .await?
    }

    /// Checks a password against a stored PHC string; with `None` (unknown account, or an
    /// account without a password) it runs against the dummy hash and answers false, in the same
    /// time.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> ServiceResult<bool> {
        let (phc, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.clone(), false),
        };
        let params = self.params;
        let ok = self
            .run(move || match argon(params) {
                Ok(a) => a.verify_password(password.as_bytes(), phc.as_str()).is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(ok && real)
    }
}
