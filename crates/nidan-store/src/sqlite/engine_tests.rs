//! Tests of the writer thread and its jobs (kept apart from `engine.rs` for its length).
use super::*;

fn engine() -> (tempfile::TempDir, Arc<Engine>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(dir.path().join("t.db"), Duration::from_secs(5)).expect("open");
    (dir, engine)
}

async fn setup(engine: &Engine) {
    engine
        .write(|c| {
            c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
        })
        .await
        .expect("create table");
}

/// Writes the row (1, 'a').
async fn insert_a(engine: &Engine) {
    insert(engine, 1, "a").await.expect("insert");
}

/// Writes the row (`k`, `v`) in a job of its own.
async fn insert(engine: &Engine, k: i64, v: &'static str) -> Result<usize, StoreError> {
    engine
        .write(move |c| c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", (k, v)))
        .await
}

fn count(engine: &Engine) -> i64 {
    engine
        .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
        .expect("count")
}

/// Runs `job(engine, i)` for every `i` in `0..n` as tasks in flight at once (so the writer takes
/// them in shared batches) and collects each `(i, answer)`.
async fn in_flight<T, Fut>(
    engine: &Arc<Engine>,
    n: i64,
    job: impl Fn(Arc<Engine>, i64) -> Fut,
) -> Vec<(i64, T)>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let answer = job(engine.clone(), i);
        tasks.spawn(async move { (i, answer.await) });
    }
    let mut answers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.expect("task"));
    }
    answers
}

/// Inserts row `i`; when `fail_after_write`, then inserts its value a second time under another
/// key, which fails (the value is unique) after the first insert; when `roll_back`, asks for a
/// rollback after the insert.
fn insert_then(
    c: &Connection,
    i: i64,
    fail_after_write: bool,
    roll_back: bool,
) -> rusqlite::Result<Step<&'static str>> {
    c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params(i))?;
    if fail_after_write {
        c.execute(
            "INSERT INTO t (k, v) VALUES (?1, ?2)",
            (i + 1000, format!("v{i}")),
        )?;
    }
    Ok(if roll_back {
        Step::Rollback("rolled back")
    } else {
        Step::Commit("kept")
    })
}

/// Many jobs in flight at once land in shared batches; a job that fails (here a uniqueness
/// violation) or asks for a rollback undoes only its own changes, and every other job of its
/// batch is committed and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_undoes_only_its_own_changes() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    // Every 10th job fails half way, after its first insert; every 10th from 5 rolls back.
    let answers = in_flight(&engine, 200, |engine, i| async move {
        engine
            .write_step(move |c| insert_then(&c, i, i % 10 == 0, i % 10 == 5))
            .await
    })
    .await;
    let mut kept = 0;
    for (i, result) in answers {
        match (i % 10, result) {
            (0, Err(StoreError::Conflict(_))) => {}
            (5, Ok("rolled back")) => {}
            (_, Ok("kept")) => kept += 1,
            (_, other) => panic!("job {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(kept, 160);
    assert_eq!(
        count(&engine),
        160,
        "only the kept jobs' rows are in the table"
    );
    let stray: i64 = engine
        .read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM t WHERE k >= 1000 OR k % 10 IN (0, 5)",
                [],
                |r| r.get(0),
            )
        })
        .expect("stray");
    assert_eq!(stray, 0, "no row of a failed or rolled-back job survives");
}

/// A job without a savepoint that fails after writing takes its whole batch down: whoever was
/// told "done" has their row, whoever got an error has none, and the writer carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_job_that_fails_after_writing_rolls_back_its_batch() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    let answers = in_flight(&engine, 300, |engine, i| async move {
        match i % 20 {
            // Spoilers: write, then fail (a duplicate value) or ask for a rollback.
            0 | 10 => {
                engine
                    .write_step_whole(move |c| insert_then(&c, i, i % 20 == 0, i % 20 == 10))
                    .await
            }
            // Rolls back before writing: fine without a savepoint.
            5 => {
                engine
                    .write_step_whole(|_| Ok(Step::Rollback("rolled back")))
                    .await
            }
            // Whole jobs that succeed, and ordinary jobs.
            1..=3 => {
                engine
                    .write_step_whole(move |c| insert_then(&c, i, false, false))
                    .await
            }
            _ => {
                engine
                    .write_step(move |c| insert_then(&c, i, false, false))
                    .await
            }
        }
    })
    .await;
    let mut failed = 0;
    for (i, result) in answers {
        let present: i64 = engine
            .read(move |c| c.query_row("SELECT COUNT(*) FROM t WHERE k = ?1", [i], |r| r.get(0)))
            .expect("read");
        match (i % 20, result) {
            (0 | 10, Ok(v)) => panic!("spoiler {i} answered {v:?}"),
            (5, Ok("rolled back")) => assert_eq!(present, 0),
            (_, Ok("kept")) => assert_eq!(present, 1, "job {i} was told its row is kept"),
            (_, Err(_)) => {
                failed += 1;
                assert_eq!(present, 0, "job {i} got an error but its row is there");
            }
            (_, other) => panic!("job {i}: unexpected {other:?}"),
        }
    }
    assert!(failed >= 30, "every spoiler fails ({failed} errors)");
    let stray: i64 = engine
        .read(|c| c.query_row("SELECT COUNT(*) FROM t WHERE k >= 1000", [], |r| r.get(0)))
        .expect("stray");
    assert_eq!(stray, 0);
    let after = insert(&engine, 5000, "after").await;
    assert_eq!(after.ok(), Some(1), "the writer carries on");
}

fn params(i: i64) -> (i64, String) {
    (i, format!("v{i}"))
}

/// A job that panics is rolled back and answered with an error; the writer keeps working.
#[tokio::test]
async fn a_panicking_job_does_not_stop_the_writer() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    let result: Result<(), StoreError> = engine
        .write(|c| {
            c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?;
            panic!("job panics on purpose");
        })
        .await;
    assert!(result.is_err(), "a panicking job reports an error");
    insert(&engine, 2, "b")
        .await
        .expect("the writer still works");
    assert_eq!(
        count(&engine),
        1,
        "the panicking job's insert was rolled back"
    );
}

/// A read on the writer sees every write answered before it; one that panics is answered
/// with an error and the writer keeps working.
#[tokio::test]
async fn reads_on_the_writer_see_answered_writes() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    insert_a(&engine).await;
    let n: i64 = engine
        .read_on_writer(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
        .await
        .expect("read");
    assert_eq!(n, 1);
    let panicked: Result<i64, StoreError> = engine
        .read_on_writer(|_| panic!("read panics on purpose"))
        .await;
    assert!(panicked.is_err());
    let v: String = engine
        .read_on_writer(|c| c.query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0)))
        .await
        .expect("the writer still answers");
    assert_eq!(v, "a");
}

/// A write is visible to reads as soon as it is answered, and a clean close leaves no WAL.
#[tokio::test]
async fn answered_writes_are_visible_and_close_removes_the_wal() {
    let (dir, engine) = engine();
    setup(&engine).await;
    insert_a(&engine).await;
    assert_eq!(count(&engine), 1);
    assert!(dir.path().join("t.db-wal").exists(), "WAL mode while open");
    drop(engine);
    assert!(
        !dir.path().join("t.db-wal").exists(),
        "closing checkpoints the WAL into the file and removes it"
    );
    let reopened = Engine::open(dir.path().join("t.db"), Duration::from_secs(5)).expect("reopen");
    assert_eq!(count(&reopened), 1, "the row survived the close");
}

/// Polls `answer` once, which queues its job on the writer, and hands back the rest to await.
async fn queued<T>(answer: impl Future<Output = T>) -> std::pin::Pin<Box<impl Future<Output = T>>> {
    let mut answer = Box::pin(answer);
    std::future::poll_fn(|cx| {
        let _ = answer.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    answer
}

/// A point inside a job on the writer: the job says it got there and waits for the test.
struct Pause {
    reached: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
}

impl Pause {
    fn here(self) {
        let _ = self.reached.send(());
        let _ = self.go.recv_timeout(Duration::from_secs(30));
    }
}

/// The test's side of a [`Pause`].
struct Gate {
    reached: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

impl Gate {
    fn new() -> (Gate, Pause) {
        let (reached, reached_rx) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        (
            Gate {
                reached: reached_rx,
                go,
            },
            Pause { reached, go: go_rx },
        )
    }

    /// Waits until the job is at its pause.
    fn wait_reached(&self, what: &str) {
        self.reached
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what} never reached its pause"));
    }

    /// Lets the job go on.
    fn open(&self) {
        self.go.send(()).expect("the job waits at its pause");
    }
}

/// Queues a job that inserts the row (`k`, `v`) and then holds the writer at a pause; returns
/// once the job is there.
async fn holding_job<'e>(
    engine: &'e Engine,
    k: i64,
    v: &'static str,
) -> (
    Gate,
    std::pin::Pin<Box<impl Future<Output = Result<usize, StoreError>> + 'e>>,
) {
    let (gate, pause) = Gate::new();
    let job = queued(engine.write(move |c| {
        let inserted = c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", (k, v))?;
        pause.here();
        Ok(inserted)
    }))
    .await;
    gate.wait_reached("the holding job");
    (gate, job)
}

/// A read on the writer is answered as soon as it ran, not after its batch's COMMIT: it sees
/// the uncommitted rows of the jobs before it, and its answer comes while a job after it in the
/// same transaction still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_on_the_writer_is_answered_before_its_batch_commits() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    let (first_gate, first) = holding_job(&engine, 1, "a").await;
    let read = queued(
        engine
            .read_on_writer(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))),
    )
    .await;
    let (last_gate, pause) = Gate::new();
    let last = queued(engine.write(move |c| {
        pause.here();
        c.execute("INSERT INTO t (k, v) VALUES (2, 'b')", [])
    }))
    .await;
    first_gate.open();
    let seen = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the read is answered while a later job of its batch still runs")
        .expect("read");
    assert_eq!(seen, 1, "the read sees the row of the job before it");
    assert_eq!(count(&engine), 0, "nothing is committed yet");
    last_gate.open();
    last.await.expect("last job");
    first.await.expect("first job");
    assert_eq!(count(&engine), 2);
}

/// Jobs queued while a batch's jobs run join that batch: their changes share its COMMIT, so a
/// check's read, answered early, and its write can land in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_while_a_batch_runs_join_its_transaction() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    let (first_gate, first) = holding_job(&engine, 1, "a").await;
    let (second_gate, pause) = Gate::new();
    let second = queued(engine.write(move |c| {
        pause.here();
        c.execute("INSERT INTO t (k, v) VALUES (2, 'b')", [])
    }))
    .await;
    first_gate.open();
    second_gate.wait_reached("the second job");
    assert_eq!(
        count(&engine),
        0,
        "the first job's row is not committed before the second job, queued while it ran, is done"
    );
    second_gate.open();
    second.await.expect("second job");
    first.await.expect("first job");
    assert_eq!(count(&engine), 2);
}

/// A job that arrives after a job spoiled the running batch is not drawn into it (it would only
/// share the rollback): it runs in the next batch and keeps its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoiled_batch_takes_no_more_jobs() {
    let (_dir, engine) = engine();
    setup(&engine).await;
    let (gate, pause) = Gate::new();
    let spoiler = queued(engine.write_step_whole(move |c| {
        c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?;
        pause.here();
        // The same value again: fails after writing, which spoils the batch.
        c.execute("INSERT INTO t (k, v) VALUES (2, 'a')", [])
            .map(|_| Step::Commit(()))
    }))
    .await;
    gate.wait_reached("the spoiler");
    let later = queued(insert(&engine, 3, "c")).await;
    gate.open();
    assert!(spoiler.await.is_err(), "the spoiler fails");
    assert_eq!(
        later.await.ok(),
        Some(1),
        "the later job runs in a batch of its own"
    );
    assert_eq!(count(&engine), 1, "only the later job's row is there");
}
