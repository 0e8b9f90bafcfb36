//! The load driver: one tokio task per keep-alive connection, each running a scenario's unit
//! of work in a loop until the level's time is up (or the scenario runs out of fresh work),
//! timing every unit.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::http::Conn;
use crate::stats::{Latency, summarise};

/// What one unit of work came to.
pub struct Outcome {
    /// A short label counted in the report (`valid`, `rate_limited`, `http_500`, …).
    pub label: String,
    /// Whether it is what the scenario expects (only these count as successes).
    pub ok: bool,
}

impl Outcome {
    /// An expected outcome.
    pub fn ok(label: &str) -> Outcome {
        Outcome {
            label: label.to_owned(),
            ok: true,
        }
    }
    /// An unexpected outcome.
    pub fn bad(label: impl Into<String>) -> Outcome {
        Outcome {
            label: label.into(),
            ok: false,
        }
    }
}

/// A workload: one unit (one or more requests) at a time on the given connection.
pub trait Scenario: Send + Sync + 'static {
    /// Runs one unit; `None` when there is no fresh work left (the level stops early).
    fn run_one<'a>(
        &'a self,
        conn: &'a mut Conn,
    ) -> impl Future<Output = Option<Outcome>> + Send + 'a;
}

/// The figures of one scenario at one connection count.
#[derive(Clone, Debug, Serialize)]
pub struct LevelResult {
    /// Connections (one task each).
    pub connections: usize,
    /// Seconds the level actually ran.
    pub seconds: f64,
    /// Units done.
    pub total: u64,
    /// Units with the expected outcome.
    pub ok: u64,
    /// Expected units per second.
    pub ok_per_sec: f64,
    /// All units per second.
    pub total_per_sec: f64,
    /// Units with an unexpected outcome.
    pub errors: u64,
    /// Count per outcome label.
    pub outcomes: BTreeMap<String, u64>,
    /// Latency over all units.
    pub latency: Latency,
    /// Where in the level the slowest 1 % of units started: counts per tenth of the level's
    /// time (a tail made by the level's first moments piles up in the first tenth; pauses of
    /// the server spread over the others).
    pub slowest_1pct_by_tenth: [u64; 10],
    /// True when the scenario ran out of fresh work before the time was up.
    pub stopped_early: bool,
    /// Server CPU time (user + system) per unit in microseconds, when the level ran alone.
    pub server_cpu_us_per_unit: Option<f64>,
    /// The load generator's own CPU time per unit in microseconds, when the level ran alone.
    pub bench_cpu_us_per_unit: Option<f64>,
}

impl LevelResult {
    /// Fills in the CPU time per unit from process CPU times taken before and after the level.
    pub fn with_cpu(mut self, server: Option<Duration>, bench: Option<Duration>) -> Self {
        let per_unit = |d: Option<Duration>| {
            d.filter(|_| self.total > 0)
                .map(|d| d.as_secs_f64() * 1e6 / self.total as f64)
        };
        self.server_cpu_us_per_unit = per_unit(server);
        self.bench_cpu_us_per_unit = per_unit(bench);
        self
    }
}

/// Runs `scenario` on `connections` connections for `duration`.
pub async fn run_level<S: Scenario>(
    addr: SocketAddr,
    scenario: Arc<S>,
    connections: usize,
    duration: Duration,
) -> Result<LevelResult> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(addr).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for mut conn in conns {
        let scenario = scenario.clone();
        tasks.spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut outcomes: BTreeMap<String, (u64, bool)> = BTreeMap::new();
            let mut exhausted = false;
            while Instant::now() < deadline {
                let t = Instant::now();
                let Some(outcome) = scenario.run_one(&mut conn).await else {
                    exhausted = true;
                    break;
                };
                samples.push(Sample {
                    started_us: micros(t - start),
                    latency_us: micros(t.elapsed()),
                });
                let e = outcomes.entry(outcome.label).or_insert((0, outcome.ok));
                e.0 += 1;
            }
            (samples, outcomes, exhausted)
        });
    }
    let mut samples = Vec::new();
    let mut outcomes = BTreeMap::new();
    let (mut ok, mut total, mut stopped_early) = (0, 0, false);
    while let Some(joined) = tasks.join_next().await {
        let (s, o, exhausted) = joined?;
        samples.extend(s);
        stopped_early |= exhausted;
        for (label, (n, is_ok)) in o {
            total += n;
            if is_ok {
                ok += n;
            }
            *outcomes.entry(label).or_insert(0) += n;
        }
    }
    let elapsed = start.elapsed();
    let seconds = elapsed.as_secs_f64();
    let slowest_1pct_by_tenth = slowest_by_tenth(&samples, micros(elapsed));
    let mut latencies: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
    Ok(LevelResult {
        connections,
        seconds,
        total,
        ok,
        ok_per_sec: ok as f64 / seconds,
        total_per_sec: total as f64 / seconds,
        errors: total - ok,
        outcomes,
        latency: summarise(&mut latencies),
        slowest_1pct_by_tenth,
        stopped_early,
        server_cpu_us_per_unit: None,
        bench_cpu_us_per_unit: None,
    })
}

/// One timed unit: when it started (from the level's start) and how long it took.
#[derive(Clone, Copy, Debug)]
struct Sample {
    started_us: u64,
    latency_us: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counts per tenth of the level (`level_us` long) of when the slowest 1 % of `samples` started.
fn slowest_by_tenth(samples: &[Sample], level_us: u64) -> [u64; 10] {
    let mut tenths = [0u64; 10];
    if samples.is_empty() {
        return tenths;
    }
    let mut slowest: Vec<Sample> = samples.to_vec();
    slowest.sort_unstable_by_key(|s| std::cmp::Reverse(s.latency_us));
    let tail = samples.len().div_ceil(100);
    for s in &slowest[..tail] {
        let tenth = (s.started_us.saturating_mul(10) / level_us.max(1)).min(9);
        tenths[tenth as usize] += 1;
    }
    tenths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_hundredth_is_placed_by_when_it_started() {
        // 1,000 units over 1 s; the 10 slowest started at 0.05 s (5) and 0.95 s (5).
        let mut samples: Vec<Sample> = (0..1000)
            .map(|i| Sample {
                started_us: i * 1000,
                latency_us: 100,
            })
            .collect();
        for i in 0..5 {
            samples[50 + i].latency_us = 9000;
            samples[950 + i].latency_us = 8000;
        }
        assert_eq!(
            slowest_by_tenth(&samples, 1_000_000),
            [5, 0, 0, 0, 0, 0, 0, 0, 0, 5]
        );
        assert_eq!(slowest_by_tenth(&[], 1_000_000), [0; 10]);
    }
}
