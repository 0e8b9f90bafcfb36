//! The report: the run's facts, one row per scenario and connection count, the ratios to the
//! `/healthz` baseline, a table on standard output and the same as JSON.

use serde::Serialize;

use crate::load::LevelResult;

/// Facts about the run as a whole.
#[derive(Debug, Serialize)]
pub struct Meta {
    /// Users imported with TOTP seeds (plus the sign-in users).
    pub users: usize,
    /// Seconds per level.
    pub seconds: u64,
    /// `sqlite` or `postgresql`.
    pub database: String,
    /// CPUs the load generator and the server share.
    pub cpus: usize,
    /// Spawn to first 200 on `/readyz` on an empty database (includes migrations).
    pub start_fresh_ms: f64,
    /// Spawn to first 200 on `/readyz` on the database after the import.
    pub start_to_ready_ms: f64,
    /// Wall time of `nidan admin totp import`.
    pub import_secs: f64,
    /// Imported rows per second.
    pub import_users_per_sec: f64,
    /// Database size after the import.
    pub database_bytes: u64,
    /// … per account.
    pub database_bytes_per_user: f64,
    /// Server VmRSS after start, before load.
    pub rss_idle_mib: f64,
    /// Server VmHWM after the healthz and verify levels, before any sign-in (the sign-up of
    /// the sign-in users ran on the first server process, not this one).
    pub rss_peak_before_signin_mib: f64,
    /// Server VmHWM at the end.
    pub rss_peak_mib: f64,
}

/// One scenario at one connection count.
#[derive(Debug, Serialize)]
pub struct ScenarioLevel {
    /// The scenario's name.
    pub scenario: String,
    /// The measurements.
    #[serde(flatten)]
    pub result: LevelResult,
    /// Successful units per second over `/healthz` requests per second at the same connection
    /// count (verify scenarios only).
    pub ratio_to_healthz: Option<f64>,
}

impl ScenarioLevel {
    /// A row without a ratio yet.
    pub fn new(scenario: &str, result: LevelResult) -> ScenarioLevel {
        ScenarioLevel {
            scenario: scenario.to_owned(),
            result,
            ratio_to_healthz: None,
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Facts about the run.
    pub meta: Meta,
    /// Every level.
    pub levels: Vec<ScenarioLevel>,
}

impl Report {
    /// Builds the report, filling in the ratios to the baseline.
    pub fn new(meta: Meta, mut levels: Vec<ScenarioLevel>) -> Report {
        let baseline: Vec<(usize, f64)> = levels
            .iter()
            .filter(|l| l.scenario == "healthz")
            .map(|l| (l.result.connections, l.result.ok_per_sec))
            .collect();
        for l in &mut levels {
            if l.scenario.starts_with("verify") || l.scenario == "forward_auth" {
                l.ratio_to_healthz = baseline
                    .iter()
                    .find(|(c, _)| *c == l.result.connections)
                    .filter(|(_, rps)| *rps > 0.0)
                    .map(|(_, rps)| l.result.ok_per_sec / rps);
            }
        }
        Report { meta, levels }
    }

    /// Prints a readable table.
    pub fn print(&self) {
        let m = &self.meta;
        println!(
            "\nnidan-bench: {} users on {}, {} s per level, {} CPUs shared by load and server",
            m.users, m.database, m.seconds, m.cpus
        );
        println!(
            "start to ready: {:.0} ms (existing database), {:.0} ms (empty database)",
            m.start_to_ready_ms, m.start_fresh_ms
        );
        println!(
            "import: {:.2} s ({:.0} users/s); database {:.0} bytes/user ({} bytes)",
            m.import_secs, m.import_users_per_sec, m.database_bytes_per_user, m.database_bytes
        );
        println!(
            "server RSS: {:.1} MiB idle, {:.1} MiB peak before sign-ins, {:.1} MiB peak\n",
            m.rss_idle_mib, m.rss_peak_before_signin_mib, m.rss_peak_mib
        );
        println!(
            "{:<34} {:>5} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}  outcomes",
            "scenario",
            "conns",
            "ok/s",
            "p50 ms",
            "p99 ms",
            "p99.9",
            "errors",
            "ratio",
            "srv µs",
            "gen µs"
        );
        for l in &self.levels {
            let r = &l.result;
            let outcomes: Vec<String> =
                r.outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!(
                "{:<34} {:>5} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>7} {:>7} {:>7}  {}{}",
                l.scenario,
                r.connections,
                r.ok_per_sec,
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.latency.p999_ms,
                r.errors,
                l.ratio_to_healthz
                    .map(|x| format!("{:.0}%", x * 100.0))
                    .unwrap_or_default(),
                r.server_cpu_us_per_unit
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_default(),
                r.bench_cpu_us_per_unit
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_default(),
                outcomes.join(" "),
                if r.stopped_early {
                    " (ran out of fresh codes)"
                } else {
                    ""
                }
            );
        }
        println!("\nwhen the slowest 1 % started, per tenth of the level:");
        for l in self
            .levels
            .iter()
            .filter(|l| l.scenario.starts_with("verify"))
        {
            let tenths: Vec<String> = l
                .result
                .slowest_1pct_by_tenth
                .iter()
                .map(u64::to_string)
                .collect();
            println!(
                "  {:<34} {:>3}  {}",
                l.scenario,
                l.result.connections,
                tenths.join(" ")
            );
        }
    }
}
