//! Password hashing on a bounded pool of its own.
//!
//! Argon2id (m = 19 MiB, t = 2, p = 1: the OWASP minimum) costs tens of milliseconds of one
//! core. Run on the async runtime it would stall every other request; run on an unbounded
//! blocking pool a sign-in storm would queue without limit, slow code checks and leave a 19 MiB
//! block behind in the malloc heap each time. So hashing runs on `max_concurrent` dedicated
//! threads (optionally at a lower priority), each reusing one Argon2 memory block, with at most
//! `max_queue` hashes waiting; beyond that callers get [`ServiceError::Busy`] (503 with
//! Retry-After) at once.
//!
//! Unknown emails are checked against a dummy hash with the same parameters on the same threads,
//! so "no such account" costs the same time as "wrong password".

mod argon;
mod pool;
#[cfg(test)]
mod tests;

use std::time::Instant;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::error::{ServiceError, ServiceResult};
use pool::{Memory, Pool, Rejected};

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
    pool: Pool,
    params: HashParams,
    dummy_hash: String,
    metrics: HashingMetrics,
}

/// What `/metrics` shows of the pool: hashes waiting for a thread, and how long they waited.
#[derive(Clone, Debug)]
struct HashingMetrics {
    waiting: Gauge,
    wait: Histogram,
}

impl Default for HashingMetrics {
    fn default() -> Self {
        Self {
            waiting: Gauge::default(),
            // 1 ms to about 8 s: a hash takes tens of milliseconds, so a wait of seconds means
            // a queue many hashes deep.
            wait: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 14,
            )),
        }
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("workers", &self.pool.workers())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A pool of `max_concurrent` hashing threads (at least one) with up to `max_queue` hashes
    /// waiting. `dummy_salt` seeds the dummy hash used for unknown accounts.
    ///
    /// Blocks for one hash (the dummy), computed on the calling thread in memory that is freed
    /// afterwards, so that an idle server holds no Argon2 memory: the workers allocate theirs
    /// on their first hash.
    pub fn new(
        params: HashParams,
        max_concurrent: usize,
        max_queue: usize,
        dummy_salt: [u8; 16],
    ) -> ServiceResult<Self> {
        Self::with_niceness(params, max_concurrent, max_queue, dummy_salt, 0)
    }

    /// [`PasswordHasher::new`] with the hashing threads' niceness raised by `niceness` (Linux;
    /// 0 leaves it alone), so that the async runtime preempts them during a sign-in storm.
    pub fn with_niceness(
        params: HashParams,
        max_concurrent: usize,
        max_queue: usize,
        dummy_salt: [u8; 16],
        niceness: u8,
    ) -> ServiceResult<Self> {
        let blocks = argon::argon_params(params)?.block_count();
        let dummy_hash = argon::hash(
            params,
            b"nidan dummy password for unknown accounts",
            &dummy_salt,
            &mut Memory::new(blocks),
        )?;
        let pool = Pool::start(max_concurrent, max_queue, blocks, niceness)
            .map_err(|e| ServiceError::Internal(format!("cannot start hashing threads: {e}")))?;
        Ok(Self {
            pool,
            params,
            dummy_hash,
            metrics: HashingMetrics::default(),
        })
    }

    /// Adds the pool's series to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let workers = Gauge::<i64>::default();
        workers.set(i64::try_from(self.pool.workers()).unwrap_or(i64::MAX));
        registry.register(
            "nidan_password_hashing_workers",
            "Threads that hash passwords",
            workers,
        );
        registry.register(
            "nidan_password_hashing_waiting",
            "Password hashes queued and not yet started",
            self.metrics.waiting.clone(),
        );
        registry.register(
            "nidan_password_hashing_wait_seconds",
            "Time a password hash waited for a hashing thread",
            self.metrics.wait.clone(),
        );
    }

    /// The number of hashing threads.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// Queues `job` on the hashing threads and returns where its result will arrive, or
    /// [`ServiceError::Busy`] at once when the queue is full. A job whose caller has gone (the
    /// request was dropped) is skipped rather than hashed for nobody.
    fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> ServiceResult<oneshot::Receiver<T>> {
        let (reply, answer) = oneshot::channel();
        let metrics = self.metrics.clone();
        let queued = Instant::now();
        metrics.waiting.inc();
        let job = Box::new(move |memory: &mut Memory| {
            metrics.waiting.dec();
            metrics.wait.observe(queued.elapsed().as_secs_f64());
            if !reply.is_closed() {
                let _ = reply.send(job(memory));
            }
        });
        let submitted = self.pool.submit(job);
        if submitted.is_err() {
            self.metrics.waiting.dec();
        }
        match submitted {
            Ok(()) => Ok(answer),
            Err(Rejected::Full) => Err(ServiceError::Busy { retry_after: 1 }),
            Err(Rejected::Stopped) => Err(ServiceError::Internal("hashing threads stopped".into())),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> ServiceResult<T> {
        self.submit(job)?
            .await
            .map_err(|_| ServiceError::Internal("a hashing job failed".into()))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>, salt: [u8; 16]) -> ServiceResult<String> {
        let params = self.params;
        self.run(move |memory| argon::hash(params, password.as_bytes(), &salt, memory))
            .await?
    }

    /// Checks a password against a stored PHC string; with `None` (unknown account, or an
    /// account without a password) it runs against the dummy hash and answers false, in the same
    /// time. Hashes made with other parameters than the current ones verify with their own.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> ServiceResult<bool> {
        let (phc, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.clone(), false),
        };
        let ok = self
            .run(move |memory| argon::verify(&phc, password.as_bytes(), memory))
            .await?;
        Ok(ok && real)
    }
}
