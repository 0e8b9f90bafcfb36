//! `--callgrind`: the server's instructions per request, counted by valgrind's callgrind
//! instead of timed.
//!
//! Why: on the project's shared two-CPU machines the timed figures drift by up to half within
//! an hour (docs/performance.md, "Running the benchmark"), so a change worth a few per cent
//! cannot be told from the drift by timing, however many runs. An instruction count is the
//! same from run to run whatever else the machine does. It is not time: it does not see cache
//! misses, system calls or waits for the disk, and valgrind hides the CPU's SHA instructions,
//! so SHA-1 and SHA-256 are counted in their software form (several times what the server runs
//! natively). Use it for before/after comparisons of CPU work on the request path; use the
//! timed levels for throughput and latency.
//!
//! How: `nidan serve` runs under `valgrind --tool=callgrind`; before a level the counters are
//! zeroed (`callgrind_control -z`), after it they are dumped (`callgrind_control -d`), and the
//! dump's total divided by the requests done. The dumps are kept for `callgrind_annotate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::load::LevelResult;

/// The valgrind command line `nidan serve` runs under; dumps go to `dir/callgrind.out.<n>`.
pub fn launcher(dir: &Path) -> Vec<String> {
    vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        "--dump-instr=no".to_owned(),
        format!(
            "--callgrind-out-file={}",
            dir.join("callgrind.out").display()
        ),
    ]
}

/// Fails early, with the fix, when valgrind is not installed.
pub fn check_installed() -> Result<()> {
    let found = Command::new("callgrind_control")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bail!("--callgrind needs valgrind (callgrind_control not found): apt-get install valgrind");
    }
    Ok(())
}

/// Zeroes the counters of the callgrind process `pid`.
fn zero(pid: u32) -> Result<()> {
    control(pid, "-z")
}

/// Dumps the counters of `pid` and returns the dump's path and its instruction total.
fn dump(pid: u32, dir: &Path) -> Result<(PathBuf, u64)> {
    let before = dumps(dir)?.len();
    control(pid, "-d")?;
    // The dump is written by the server's process, after `callgrind_control` has returned; it
    // is complete once its `totals:` line (the last) is there.
    let t = Instant::now();
    loop {
        let files = dumps(dir)?;
        if files.len() > before
            && let Some(path) = files.last()
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(total) = totals(&text) {
                return Ok((path.clone(), total));
            }
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("no complete callgrind dump in {} after 60 s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn control(pid: u32, flag: &str) -> Result<()> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control")?;
    if !out.status.success() {
        bail!(
            "callgrind_control {flag} {pid} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The numbered dumps (`callgrind.out.1`, `.2`, …) in `dir`, in dump order.
fn dumps(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let n = name.strip_prefix("callgrind.out.")?.parse().ok()?;
            Some((n, path))
        })
        .collect();
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}

/// The instruction total of a complete dump: its `totals:` line (written last), else `None`.
fn totals(dump: &str) -> Option<u64> {
    dump.lines()
        .rev()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Runs `level` (not yet started: a future runs only when awaited) with the counters of `pid`
/// zeroed before it and dumped after it: its instructions per unit done. The counted twin of
/// the timed harness's `measured`.
pub async fn count(
    pid: u32,
    dir: &Path,
    scenario: &str,
    level: impl Future<Output = Result<LevelResult>>,
) -> Result<CountedLevel> {
    zero(pid)?;
    let result = level.await?;
    let (dump, instructions) = dump(pid, dir)?;
    Ok(CountedLevel {
        scenario: scenario.to_owned(),
        connections: result.connections,
        units: result.total,
        ok: result.ok,
        instructions,
        instructions_per_unit: instructions as f64 / result.total.max(1) as f64,
        dump,
    })
}

/// One level counted.
#[derive(Debug, Serialize)]
pub struct CountedLevel {
    /// The scenario's name.
    pub scenario: String,
    /// Connections.
    pub connections: usize,
    /// Units done.
    pub units: u64,
    /// Units with the expected outcome.
    pub ok: u64,
    /// The server's instructions during the level.
    pub instructions: u64,
    /// … per unit done.
    pub instructions_per_unit: f64,
    /// The dump, for `callgrind_annotate`.
    pub dump: PathBuf,
}

/// The `--callgrind` report.
#[derive(Debug, Serialize)]
pub struct CountReport {
    /// Accounts imported.
    pub users: usize,
    /// The levels.
    pub levels: Vec<CountedLevel>,
}

impl CountReport {
    /// The table on standard output, with each verify level's instructions over those of
    /// `/healthz` at the same connection count.
    pub fn print(&self) {
        println!(
            "\nserver instructions per request under callgrind ({} accounts; SHA counted in \
             software)\n",
            self.users
        );
        println!(
            "{:<14} {:>5} {:>7} {:>7} {:>14} {:>10} {:>9}",
            "scenario", "conns", "units", "ok", "instructions", "per unit", "× healthz"
        );
        for l in &self.levels {
            let healthz = self
                .levels
                .iter()
                .find(|h| h.scenario == "healthz" && h.connections == l.connections)
                .map(|h| h.instructions_per_unit)
                .filter(|h| *h > 0.0 && l.scenario != "healthz");
            println!(
                "{:<14} {:>5} {:>7} {:>7} {:>14} {:>10.0} {:>9}",
                l.scenario,
                l.connections,
                l.units,
                l.ok,
                l.instructions,
                l.instructions_per_unit,
                healthz
                    .map(|h| format!("{:.2}", l.instructions_per_unit / h))
                    .unwrap_or_default()
            );
        }
        for l in &self.levels {
            println!(
                "dump of {} at {}: {}",
                l.scenario,
                l.connections,
                l.dump.display()
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::totals;

    #[test]
    fn a_dump_counts_once_its_totals_line_is_written() {
        let head =
            "# callgrind format\nversion: 1\nevents: Ir\nsummary: 4321\n\nfn=(1) main\n1 4321\n";
        assert_eq!(
            totals(head),
            None,
            "summary alone: the dump is still being written"
        );
        assert_eq!(totals(&format!("{head}\ntotals: 4321\n")), Some(4321));
        assert_eq!(totals("totals: junk\n"), None);
    }
}
