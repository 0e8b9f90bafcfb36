//! Checkpoints: copying the WAL into the database file, and keeping the WAL from growing without
//! bound under steady writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Above this many bytes of frames the WAL is rewound (see [`checkpoint_loop`]); it is also the
/// size the WAL file is truncated back to after a rewind. Under steady writes the WAL then stays
/// below about this plus what is written during one checkpoint.
const WAL_REWIND_BYTES: u64 = 256 * 1024 * 1024;

/// Background checkpoint passes at most, one after the other, before the writer is asked to finish
/// the job (see [`checkpoint_loop`]).
const CATCH_UP_PASSES: usize = 4;

/// Frames left uncopied that the writer may be asked to copy itself.
const CATCH_UP_FRAMES: i64 = 256;

/// When the WAL is checkpointed and rewound. Tests make both small.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WalPolicy {
    /// How often the checkpoint thread runs.
    pub checkpoint_every: Duration,
    /// The WAL size above which the writer is asked to finish a checkpoint so the WAL can rewind.
    pub rewind_bytes: u64,
}

impl Default for WalPolicy {
    fn default() -> Self {
        WalPolicy {
            checkpoint_every: CHECKPOINT_EVERY,
            rewind_bytes: WAL_REWIND_BYTES,
        }
    }
}

/// Copies committed pages from the WAL into the database file every `checkpoint_every` without
/// blocking the writer or the readers (PASSIVE), so a COMMIT never waits for the bulk of a
/// checkpoint's copying and fsyncs.
///
/// PASSIVE checkpoints alone never let the WAL start over under steady writes: SQLite rewinds the
/// WAL only when a write transaction begins with every frame already copied, and the writer
/// appends frames while a checkpoint runs. Measured before this: 1.2 GB of WAL after 15 s of
/// verifying, growing for as long as the load lasted. So when the WAL holds more than
/// `rewind_bytes`, this asks the writer (`rewind`) to run one more PASSIVE checkpoint itself,
/// between two batches: nothing is appended meanwhile, so it copies everything left, and its next
/// transaction rewinds the WAL (unless a reader still reads old frames; then a later round does).
pub(crate) fn checkpoint_loop(
    conn: Connection,
    stop: mpsc::Receiver<()>,
    policy: WalPolicy,
    rewind: &AtomicBool,
) {
    let page_size: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .map_or(4096, |n| n.max(512) as u64);
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(policy.checkpoint_every) {
        // Each pass copies what the writer appended during the one before, so each is shorter;
        // the writer's own pass, which holds up its queue, is then left with very little.
        for pass in 1..=CATCH_UP_PASSES {
            // (busy, frames in the WAL, frames copied)
            let passive = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            });
            match passive {
                Ok((frames, _)) if (frames.max(0) as u64) * page_size <= policy.rewind_bytes => {
                    break;
                }
                // After the last pass the writer finishes the job whatever is left: a longer
                // pause, but the WAL stays bounded even where the passes cannot catch up.
                Ok((frames, copied))
                    if frames - copied <= CATCH_UP_FRAMES || pass == CATCH_UP_PASSES =>
                {
                    rewind.store(true, Ordering::Release);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite: checkpoint failed (retried later)");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::WalPolicy;
    use crate::sqlite::engine::Engine;

    /// Under steady writes, with readers busy, the WAL is rewound and stays small; with PASSIVE
    /// checkpoints alone it grew for as long as the writes went on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_steady_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy = WalPolicy {
            checkpoint_every: Duration::from_millis(5),
            rewind_bytes: 256 * 1024,
        };
        let engine = Engine::open_with(dir.path().join("t.db"), Duration::from_secs(5), policy)
            .expect("open");
        engine
            .write(|c| {
                c.execute_batch(
                    "CREATE TABLE b (k INTEGER PRIMARY KEY, v BLOB NOT NULL);
                     WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 1999)
                     INSERT INTO b SELECT k, zeroblob(600) FROM n;",
                )
            })
            .await
            .expect("table");
        let wal = dir.path().join("t.db-wal");
        // Enough updates that each rewriting one 4 KiB page adds up to far more than the bound.
        const UPDATES: u64 = 6000;
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..6u64 {
            let (engine, done) = (engine.clone(), done.clone());
            tasks.spawn(async move {
                let mut k = task * 7919;
                while done.fetch_add(1, Ordering::Relaxed) < UPDATES {
                    k = (k * 31 + 17) % 2000;
                    engine
                        .write(move |c| {
                            c.execute("UPDATE b SET v = randomblob(600) WHERE k = ?1", [k as i64])
                        })
                        .await
                        .expect("update");
                    let n: i64 = engine
                        .read(|c| c.query_row("SELECT COUNT(*) FROM b", [], |r| r.get(0)))
                        .expect("read");
                    assert_eq!(n, 2000);
                }
            });
        }
        let mut largest = 0;
        while !tasks.is_empty() {
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::select! {
                joined = tasks.join_next() => joined.expect("a task").expect("task"),
                () = tokio::time::sleep(Duration::from_millis(2)) => {}
            }
        }
        assert!(
            largest < 6 * 1024 * 1024,
            "the WAL grew to {largest} bytes over {UPDATES} updates"
        );
    }
}
