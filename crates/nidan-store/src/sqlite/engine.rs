//! How the SQLite store talks to SQLite: one writer thread with group commit, and reads on the
//! caller's thread from a small pool of read-only connections.
//!
//! Why not a pooled async driver: sqlx runs every SQLite connection on a worker thread of its own
//! and hands each statement and each row across threads. Profiling `POST /api/v1/verify` showed
//! the server spending most of its CPU in futex wake-ups and context switches of those hand-offs
//! and about 1 % inside SQLite itself (docs/performance.md). SQLite is a library, not a server:
//! a point lookup in a warm page cache takes microseconds, less than one thread hand-off.
//!
//! - **Reads** run synchronously on the calling task's thread, on a connection taken from a
//!   pool (WAL readers never wait for the writer); the one read on the hot path of every code
//!   check runs on the writer instead ([`Engine::read_on_writer`]). A read is a few indexed lookups; the pool holds
//!   as many connections as threads that have read at the same time. The one case where a read
//!   can wait (up to the busy timeout) is another process recovering the WAL after a crash, at
//!   its first open; the async worker then waits with it, which is acceptable for a moment that
//!   rare.
//! - **Writes** are jobs sent to one writer thread, the only connection that writes. It takes
//!   every job waiting in its queue, and every job that arrives while those run (up to
//!   [`MAX_BATCH`] in all), and runs them in one transaction, each inside a savepoint so that a
//!   job that fails or asks for a rollback undoes only its own changes (except the hottest job,
//!   which needs none: [`Engine::write_step_whole`]). Callers get their answer only after the
//!   COMMIT: nothing is reported done before it is in the database (a read on the writer is
//!   answered as soon as it ran: see [`Engine::read_on_writer`] for why that is safe where it is
//!   used). Under load this is group commit — one WAL write for many requests — and it keeps
//!   the whole async runtime free of database waits.
//!
//! Jobs run strictly one after another on the writer, so a job's reads see every earlier job's
//! writes: the compare-and-swap guards of `settle_attempt` work exactly as in separate
//! transactions.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nidan_service::StoreError;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rusqlite::{Connection, OpenFlags, PrepFlags, Statement};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use super::checkpoint::{WalPolicy, checkpoint_loop};
use crate::error::OpenError;

/// Most jobs in one transaction: bounds the latency a job adds to those after it.
const MAX_BATCH: usize = 256;

/// Prepared statements kept per read connection (every distinct statement of the store fits).
const STATEMENT_CACHE: usize = 256;

/// The writer's page cache in KiB (SQLite's default is 2 MiB); allocated only as pages are read.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// Idle read connections kept; more may exist while many threads read at once.
const IDLE_READERS: usize = 8;

pub(crate) use crate::db::Step;

/// When the caller of a job gets its answer.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// After the batch's COMMIT, with its error if it failed: for writes.
    AfterCommit,
    /// As soon as the job ran: for reads whose result the write after them checks again
    /// ([`Engine::read_on_writer`]).
    AsSoonAsRun,
}

/// Called once the batch's COMMIT succeeded or failed.
type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write job: runs on the writer thread; given `None` (its transaction could not begin, or
/// its batch is being rolled back) it does not run and only hands back its finisher.
type Job = Box<dyn FnOnce(Option<Link<'_>>) -> Ran + Send>;

/// A connection as a job or a read sees it (it derefs to rusqlite's connection), with the
/// statements the writer keeps prepared.
#[derive(Clone, Copy)]
pub(crate) struct Link<'c> {
    conn: &'c Connection,
    kept: Option<&'c dyn Keep>,
}

impl Deref for Link<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Link<'_> {
    /// Runs `f` on the statement `sql`, prepared once per connection: on the writer from the
    /// statements it keeps, on a read connection from rusqlite's cache.
    pub(crate) fn statement<T>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Statement<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let Some(kept) = self.kept else {
            let mut statement = self.conn.prepare_cached(sql)?;
            return f(&mut statement);
        };
        let (mut f, mut out) = (Some(f), None);
        kept.with(sql, &mut |statement| {
            if let Some(f) = f.take() {
                out = Some(f(statement)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| bad_data("a kept statement did not run"))
    }
}

/// The writer's statements, each prepared once for the writer's life and found by the address
/// of its text. Why not rusqlite's cache, which the read connections use: it finds a statement
/// by hashing and comparing its whole text, and copies the text into a new key at every use,
/// about 1,500 instructions a statement; with it a code check cost the store 75,400
/// instructions, with these 70,700 (docs/performance.md). The store's statements are `'static`
/// texts, so their address and length name them.
///
/// A trait so that [`Link`] can hold the statements without naming the writer's connection's
/// lifetime (`Kept` is invariant in it: its statements sit in a `RefCell`).
trait Keep {
    fn with(
        &self,
        sql: &'static str,
        f: &mut dyn FnMut(&mut Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()>;
}

const PERSISTENT: PrepFlags = PrepFlags::SQLITE_PREPARE_PERSISTENT;

struct Kept<'c> {
    conn: &'c Connection,
    statements: RefCell<FxHashMap<(usize, usize), Statement<'c>>>,
}

impl Keep for Kept<'_> {
    fn with(
        &self,
        sql: &'static str,
        f: &mut dyn FnMut(&mut Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        // A statement run while another is in use (no operation does that) is prepared apart.
        let Ok(mut statements) = self.statements.try_borrow_mut() else {
            return f(&mut self.conn.prepare(sql)?);
        };
        let statement = match statements.entry((sql.as_ptr() as usize, sql.len())) {
            Entry::Occupied(kept) => kept.into_mut(),
            // Persistent: kept for long, so not in the connection's small-allocation slots
            // (lookaside), which every statement run needs.
            Entry::Vacant(new) => new.insert(self.conn.prepare_with_flags(sql, PERSISTENT)?),
        };
        let done = f(statement);
        // As rusqlite's cache does when a statement goes back: SQLite's copies of bound texts
        // and blobs are freed now, not held until the statement's next use.
        statement.clear_bindings();
        done
    }
}

/// What running one job left behind.
struct Ran {
    finish: Finisher,
    /// The job left changes it could not undo by itself (a job without a savepoint that failed
    /// after writing): the whole batch must be rolled back.
    spoiled: bool,
}

/// The connections of one database file.
pub(crate) struct Engine {
    path: PathBuf,
    busy_timeout: Duration,
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    writer: Option<JoinHandle<()>>,
    /// Dropping the sender stops the checkpointer.
    checkpointer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    metrics: WriterMetrics,
}

/// What `/metrics` shows of the writer: jobs per transaction, and the time of each COMMIT.
#[derive(Clone, Debug)]
struct WriterMetrics {
    batch_jobs: Histogram,
    commit_seconds: Histogram,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            // 1 to 512 jobs (MAX_BATCH bounds a batch).
            batch_jobs: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            // 50 µs to about 0.8 s: a COMMIT is one WAL write and, with synchronous = NORMAL,
            // no fsync.
            commit_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 15)),
        }
    }
}

impl Drop for Engine {
    /// Closes the database cleanly: readers and the checkpointer first, then the writer, whose
    /// close (the last connection) checkpoints the WAL into the database file and removes it.
    fn drop(&mut self) {
        if let Ok(mut idle) = self.readers.lock() {
            idle.clear();
        }
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
        self.jobs = None;
        if let Some(thread) = self.writer.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The file path of a `sqlite://path` or `sqlite:path` URL (a `?query` is ignored).
pub(crate) fn path_of(url: &str) -> Result<PathBuf, OpenError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| OpenError::Connect(format!("not a sqlite: URL: {url}")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(OpenError::Connect(
            "the SQLite URL must name a file (in-memory databases cannot be shared by the \
             writer and the readers)"
                .into(),
        ));
    }
    Ok(PathBuf::from(path))
}

fn configure(conn: &Connection, busy_timeout: Duration, write: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Temporary files stay in memory: every write job runs in a savepoint, whose sub-journal
    // (the pages it changed, for `ROLLBACK TO`) would otherwise spill to a temporary file.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )?;
    if write {
        // The writer's page cache survives between its transactions (a reader's is emptied
        // whenever the database changed), so it is the one worth making larger.
        conn.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};"))?;
    }
    Ok(())
}

fn open_connection(
    path: &Path,
    busy_timeout: Duration,
    write: bool,
) -> rusqlite::Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn, busy_timeout, write)?;
    Ok(conn)
}

impl Engine {
    /// Opens (creating if missing) the database file in WAL mode and starts the writer thread.
    pub(crate) fn open(path: PathBuf, busy_timeout: Duration) -> Result<Arc<Self>, OpenError> {
        Self::open_with(path, busy_timeout, WalPolicy::default())
    }

    /// [`Engine::open`] with a WAL policy of the caller's choosing.
    pub(crate) fn open_with(
        path: PathBuf,
        busy_timeout: Duration,
        wal: WalPolicy,
    ) -> Result<Arc<Self>, OpenError> {
        let writer = open_connection(&path, busy_timeout, true)
            .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::Connect(format!(
                "{}: could not switch to WAL mode (got `{mode}`)",
                path.display()
            )));
        }
        // Checkpoints run on a thread of their own (below), not inside a writer's COMMIT; after a
        // rewind the WAL file is cut back to the rewind size.
        writer
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
                wal.rewind_bytes
            ))
            .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))?;
        let checkpoints = open_connection(&path, busy_timeout, true)
            .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let rewind = Arc::new(AtomicBool::new(false));
        let metrics = WriterMetrics::default();
        let writer = std::thread::Builder::new()
            .name("nidan-sqlite-writer".into())
            .spawn({
                let rewind = rewind.clone();
                let metrics = metrics.clone();
                move || write_loop(writer, queue, &rewind, &metrics)
            })
            .map_err(|e| OpenError::Connect(format!("cannot start the writer thread: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("nidan-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, stopped, wal, &rewind))
            .map_err(|e| OpenError::Connect(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Arc::new(Self {
            path,
            busy_timeout,
            jobs: Some(jobs),
            readers: Mutex::new(Vec::new()),
            writer: Some(writer),
            checkpointer: Some((stop, checkpointer)),
            metrics,
        }))
    }

    /// Adds the writer's series to `registry`.
    pub(crate) fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "nidan_sqlite_writer_batch_jobs",
            "Jobs written in one SQLite transaction (group commit)",
            self.metrics.batch_jobs.clone(),
        );
        registry.register(
            "nidan_sqlite_writer_commit_seconds",
            "Time of each SQLite COMMIT on the writer thread",
            self.metrics.commit_seconds.clone(),
        );
    }

    /// Runs `f` on a read connection, on this thread.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(Link<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path, self.busy_timeout, false).map_err(map)?,
        };
        let result = f(Link {
            conn: &conn,
            kept: None,
        })
        .map_err(map);
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }

    /// Runs `f` on a read connection inside one read transaction: every statement sees the same
    /// snapshot, and the shared-memory locks are taken once instead of once per statement.
    pub(crate) fn read_snapshot<T>(
        &self,
        f: impl FnOnce(Link<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.read(|c| {
            run_cached(c, "BEGIN")?;
            let result = f(c);
            // A read-only transaction has nothing to keep: end it either way.
            let ended = run_cached(c, "COMMIT");
            if ended.is_err() && !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            let value = result?;
            ended?;
            Ok(value)
        })
    }

    /// Runs `f` on the writer thread inside the next batch's transaction and answers once that
    /// transaction is committed. `f` decides whether its own changes are kept.
    pub(crate) async fn write_step<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Link<'_>) -> rusqlite::Result<Step<T>> + Send + 'static,
    {
        self.submit_job(Answer::AfterCommit, move |conn| {
            (run_in_savepoint(conn, f), false)
        })
        .await
    }

    /// [`Engine::write_step`] without a savepoint of its own, for the hottest job (settling a
    /// code check): no `SAVEPOINT`/`RELEASE`, and no copy of each page it changes into the
    /// savepoint's journal (3.9 % of the server's samples under load; docs/performance.md).
    ///
    /// `f` must decide to roll back before its first write, which settling does (a race or a
    /// dead challenge is found by reads, or by an update that matched nothing). Should it fail,
    /// panic or ask for a rollback after changing rows, nothing of it can be undone alone: the
    /// whole batch is rolled back and every job in it answered with an error — never a change
    /// kept that was meant to be undone, nor a caller told of a change that was not kept.
    pub(crate) async fn write_step_whole<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Link<'_>) -> rusqlite::Result<Step<T>> + Send + 'static,
    {
        self.submit_job(Answer::AfterCommit, move |conn| {
            let before = conn.total_changes();
            let outcome = run_guarded(conn, f);
            let changed = conn.total_changes() != before;
            match outcome {
                Ok(Step::Commit(v)) => (Ok(v), false),
                Ok(Step::Rollback(v)) if !changed => (Ok(v), false),
                Ok(Step::Rollback(_)) => {
                    tracing::error!("a job without a savepoint asked for a rollback after writing; its batch is rolled back");
                    (Err(StoreError::Other("rolled back".into())), true)
                }
                Err(e) => (Err(e), changed),
            }
        })
        .await
    }

    /// Runs the read `f` on the writer thread, in the next batch, and answers as soon as it ran
    /// (not after the batch's COMMIT).
    ///
    /// For the reads on the hot path of a check, next to its write: a read connection empties its
    /// page cache whenever the database changed since its last transaction, which under steady
    /// writes is every time, so each of its reads starts cold (a `pread` per page, plus the
    /// shared-memory locks). The writer's cache stays warm. Measured on `POST /api/v1/verify`:
    /// the server's CPU time per request is about a fifth lower than with the read on a read
    /// connection (docs/performance.md). `f` must only read: it runs without a savepoint of its
    /// own (there is nothing to undo).
    ///
    /// Answering before the COMMIT lets the caller go on while the writer finishes the batch, so
    /// the check's settling write can join that same batch. The price: `f` may see changes of
    /// earlier jobs in the same batch that a failed COMMIT then undoes. That is only safe for
    /// reads whose result is checked again by the write that follows them, as a code check's is:
    /// settling compares the failure count it was decided on and updates the replay step only if
    /// it is still older (compare-and-swap), so a decision made on undone state ends as "raced"
    /// and is taken again from fresh state.
    pub(crate) async fn read_on_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Link<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit_job(Answer::AsSoonAsRun, move |conn| {
            (run_guarded(conn, f), false)
        })
        .await
    }

    /// Queues a job that may spoil its batch (`run` returns `(outcome, spoiled)`) and waits for
    /// its answer, given when `answer` says.
    async fn submit_job<T, R>(&self, answer: Answer, run: R) -> Result<T, StoreError>
    where
        T: Send + 'static,
        R: FnOnce(Link<'_>) -> (Result<T, StoreError>, bool) + Send + 'static,
    {
        let (reply, answered) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn: Option<Link<'_>>| {
            let (outcome, spoiled) = match conn {
                Some(conn) => run(conn),
                None => (Err(StoreError::Unavailable("not run".into())), false),
            };
            let finish: Finisher = match answer {
                Answer::AsSoonAsRun => {
                    let _ = reply.send(outcome);
                    Box::new(|_| {})
                }
                Answer::AfterCommit => Box::new(move |committed: Result<(), StoreError>| {
                    let _ = reply.send(committed.and(outcome));
                }),
            };
            Ran { finish, spoiled }
        });
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answered.await.map_err(|_| {
            StoreError::Other("a job failed on the SQLite writer (see the logs)".into())
        })?
    }

    /// [`Engine::write_step`] for jobs that keep their changes whenever they succeed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Link<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.write_step(move |c| f(c).map(Step::Commit)).await
    }
}

/// Runs one job between `SAVEPOINT` and `RELEASE`, rolling back to the savepoint when it fails,
/// asks for it, or panics.
fn run_in_savepoint<T>(
    conn: Link<'_>,
    f: impl FnOnce(Link<'_>) -> rusqlite::Result<Step<T>>,
) -> Result<T, StoreError> {
    run_cached(conn, "SAVEPOINT job").map_err(map)?;
    let (keep, value) = match run_guarded(conn, f) {
        Ok(Step::Commit(v)) => (true, Ok(v)),
        Ok(Step::Rollback(v)) => (false, Ok(v)),
        Err(e) => (false, Err(e)),
    };
    if !keep {
        run_cached(conn, "ROLLBACK TO job").map_err(map)?;
    }
    run_cached(conn, "RELEASE job").map_err(map)?;
    value
}

/// Runs a job's function on the writer's connection; a panic becomes an error for that job (the
/// writer thread must outlive every job).
fn run_guarded<T>(
    conn: Link<'_>,
    f: impl FnOnce(Link<'_>) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(|| f(conn))) {
        Ok(result) => result.map_err(map),
        Err(_) => {
            tracing::error!("a job on the SQLite writer panicked; its changes are rolled back");
            Err(StoreError::Other(
                "a job on the SQLite writer panicked".into(),
            ))
        }
    }
}

fn write_loop(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    rewind: &AtomicBool,
    metrics: &WriterMetrics,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut finishers: Vec<Finisher> = Vec::with_capacity(MAX_BATCH);
    let kept = Kept {
        conn: &conn,
        statements: RefCell::default(),
    };
    let link = Link {
        conn: &conn,
        kept: Some(&kept),
    };
    while let Ok(first) = queue.recv() {
        batch.push(first);
        take_waiting(&queue, &mut batch, 0);
        if let Err(e) = run_cached(link, "BEGIN IMMEDIATE") {
            let e = map(e);
            tracing::warn!(error = %e, jobs = batch.len(), "SQLite: cannot begin a write transaction");
            // The jobs never ran: answer each with the error (dropping its reply would say "panic").
            for job in batch.drain(..) {
                (job(None).finish)(Err(e.clone()));
            }
            continue;
        }
        let mut spoiled = false;
        while !batch.is_empty() {
            for job in batch.drain(..) {
                // After a spoiled job the rest do not run: the batch is rolled back anyway.
                let ran = job((!spoiled).then_some(link));
                spoiled |= ran.spoiled;
                finishers.push(ran.finish);
            }
            // Jobs that arrived while these ran join this transaction: above all the settling
            // writes of checks whose reads this batch answered early (`read_on_writer`), so
            // that a check's read and write share one COMMIT (docs/performance.md).
            // Not into a spoiled batch: they would only be answered with its failure.
            if !spoiled {
                take_waiting(&queue, &mut batch, finishers.len());
            }
        }
        let committed = if spoiled {
            Err(StoreError::Unavailable(
                "a job failed after writing; its batch was rolled back".into(),
            ))
        } else {
            let started = Instant::now();
            let committed = run_cached(link, "COMMIT").map_err(map);
            metrics
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
            committed
        };
        metrics.batch_jobs.observe(finishers.len() as f64);
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = finishers.len(), "SQLite: the batch is rolled back");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for finish in finishers.drain(..) {
            finish(committed.clone());
        }
        // Between batches, outside any transaction: see `checkpoint_loop`.
        if rewind.swap(false, Ordering::Acquire)
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "SQLite: the writer's checkpoint failed (retried later)");
        }
    }
}

/// Moves the jobs waiting in `queue` into `batch` while the transaction, which holds `taken`
/// jobs already, has room for them (at most [`MAX_BATCH`] in all).
fn take_waiting(queue: &mpsc::Receiver<Job>, batch: &mut Vec<Job>, taken: usize) {
    while taken + batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Runs a statement without parameters or results, prepared once per connection (these run
/// several times per request; parsing them each time showed up in profiles).
fn run_cached(conn: Link<'_>, sql: &'static str) -> rusqlite::Result<()> {
    conn.statement(sql, |s| s.execute([])).map(drop)
}

/// An error for data in the database that does not decode (reported as an internal error).
pub(crate) fn bad_data(message: impl Into<String>) -> rusqlite::Error {
    let message: String = message.into();
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Null, message.into())
}

/// Maps a SQLite error: uniqueness violations are conflicts, a busy or locked database is
/// "unavailable", everything else an internal error.
pub(crate) fn map(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict("unique constraint")
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
