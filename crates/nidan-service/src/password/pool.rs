//! The hashing threads: a fixed set of OS threads, each owning one Argon2 memory block that it
//! reuses for every hash, fed by a bounded channel.
//!
//! Why not a fresh allocation per hash (what `argon2`'s `hash_password` does, on
//! `spawn_blocking`): once the first 19 MiB block is freed, glibc raises its mmap threshold above
//! 19 MiB, so later blocks come from the malloc heaps instead of fresh mappings, and those heaps
//! fragment: freed blocks are not reused for the next (64-byte aligned) block and stay resident.
//! Sign-ins grew the server to 400–500 MiB (in the sign-up phase of the benchmark, one heap grew
//! past 1 GiB with `MALLOC_ARENA_MAX=1`; with the threshold pinned to 1 MiB the same run peaked
//! at 61 MiB). Here each worker allocates its block once, on its first job, and keeps it: the
//! memory of hashing is `workers × m`, known in advance.
//!
//! Why a lower priority (optional, see [`Pool::start`]): hashing is pure CPU. On a small machine
//! the workers would otherwise take the cores from the async runtime that answers code checks;
//! with their niceness raised the runtime's threads preempt them (Linux sets niceness per
//! thread), and hashing still gets every cycle the runtime leaves idle.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use argon2::Block;
use zeroize::{Zeroize, Zeroizing};

/// The Argon2 working memory of one worker: grown on first use to the size the current
/// parameters need, then reused for every hash. Each hash overwrites every block it reads in its
/// first pass, so nothing of an earlier hash leaks into the next one; and the worker wipes the
/// blocks whenever it runs out of work ([`Memory::wipe`]), so an idle server holds nothing
/// derived from a password (security.md: secrets in memory are zeroized).
pub struct Memory {
    blocks: Vec<Block>,
    /// Blocks the configured parameters need; a stored hash with a larger `m` gets a one-off
    /// buffer instead of growing this one for good.
    keep: usize,
    /// Whether a hash has run since the last wipe.
    used: bool,
}

impl Memory {
    /// Memory that will keep `keep` blocks once used (nothing is allocated yet).
    pub fn new(keep: usize) -> Self {
        Self {
            blocks: Vec::new(),
            keep,
            used: false,
        }
    }

    /// Runs `f` on at least `count` blocks: the kept buffer when it is large enough (allocated
    /// on first use), else a temporary one (a hash made with a larger `m` than configured),
    /// zeroized when it is dropped, even if `f` panics.
    pub fn with_blocks<T>(&mut self, count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        if count > self.keep {
            return f(&mut Zeroizing::new(vec![Block::new(); count]));
        }
        if self.blocks.len() < self.keep {
            self.blocks.resize(self.keep, Block::new());
        }
        self.used = true;
        f(&mut self.blocks[..count])
    }

    /// Zeroizes the kept blocks if a hash has used them since the last wipe. The worker calls it
    /// only when it finds no job waiting ([`next_job`]), so while a sign-in storm keeps the queue
    /// full it hardly runs (≈ 19 MiB of writes each time it does).
    pub fn wipe(&mut self) {
        if self.used {
            self.blocks.iter_mut().for_each(Zeroize::zeroize);
            self.used = false;
        }
    }

    /// Bytes held between hashes (for tests).
    #[cfg(test)]
    pub fn kept_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    /// Whether every kept block is all zeros (for tests).
    #[cfg(test)]
    pub fn kept_blocks_are_zero(&self) -> bool {
        self.blocks
            .iter()
            .all(|block| block.as_ref().iter().all(|word| *word == 0))
    }
}

/// One unit of work: runs on a hashing thread with that thread's memory.
pub type Job = Box<dyn FnOnce(&mut Memory) + Send + 'static>;

/// Why a job was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Every worker is busy and `max_queue` jobs already wait.
    Full,
    /// The workers are gone (they only stop when the pool is dropped, or a thread died).
    Stopped,
}

/// The sending side of the pool; dropping it lets the workers finish the queue and exit.
pub struct Pool {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl Pool {
    /// Starts `workers` threads (at least one) sharing a queue of `max_queue` jobs. Each keeps
    /// `keep_blocks` Argon2 blocks once it has hashed, and raises its niceness by `niceness`
    /// (0 leaves it alone).
    pub fn start(
        workers: usize,
        max_queue: usize,
        keep_blocks: usize,
        niceness: u8,
    ) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(max_queue);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("nidan-hash-{i}"))
                .spawn(move || work(&queue, keep_blocks, niceness))?;
        }
        Ok(Self { jobs, workers })
    }

    /// The number of hashing threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues `job` without waiting: [`Rejected::Full`] when every worker is busy and the queue
    /// holds `max_queue` jobs.
    pub fn submit(&self, job: Job) -> Result<(), Rejected> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Rejected::Full,
            TrySendError::Disconnected(_) => Rejected::Stopped,
        })
    }
}

/// A worker: lowers its priority, then runs jobs until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>, keep_blocks: usize, niceness: u8) {
    if niceness > 0 {
        lower_priority(niceness);
    }
    let mut memory = Memory::new(keep_blocks);
    while let Some(job) = next_job(queue, &mut memory) {
        // A panicking job must not shrink the pool; its caller sees the dropped reply channel.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
    }
}

/// The next job for a worker, or `None` once the pool is dropped. The queue's lock is held only
/// while waiting for a job, never while hashing. With no job waiting, the worker wipes `memory`
/// before it sleeps. A lock held by another worker means that one is waiting for work (or about
/// to take the one job there is), so this one wipes too: blocking on the lock instead would leave
/// its blocks as they are for as long as the server stays idle.
fn next_job(queue: &Mutex<Receiver<Job>>, memory: &mut Memory) -> Option<Job> {
    let waiting = match queue.try_lock() {
        Ok(jobs) => jobs.try_recv(),
        Err(TryLockError::Poisoned(jobs)) => jobs.into_inner().try_recv(),
        Err(TryLockError::WouldBlock) => Err(TryRecvError::Empty),
    };
    match waiting {
        Ok(job) => Some(job),
        Err(TryRecvError::Disconnected) => None,
        Err(TryRecvError::Empty) => {
            memory.wipe();
            let jobs = queue.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.recv().ok()
        }
    }
}

/// Raises this thread's niceness by `by` (at most to 19) over the niceness it inherited, so a
/// server started with `nice` keeps the same ordering (Linux: niceness is per thread). Failing
/// to is not fatal: hashing still works, only at the inherited priority.
#[cfg(target_os = "linux")]
fn lower_priority(by: u8) {
    let tid = Some(rustix::thread::gettid());
    let lowered = rustix::process::getpriority_process(tid)
        .and_then(|now| rustix::process::setpriority_process(tid, (now + i32::from(by)).min(19)));
    if let Err(e) = lowered {
        tracing::warn!(error = %e, "cannot lower the priority of a password-hashing thread");
    }
}

/// Elsewhere niceness is per process, so the threads keep the normal priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority(_by: u8) {}
