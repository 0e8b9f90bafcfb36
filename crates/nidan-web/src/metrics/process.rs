//! The process's own series under the names every Prometheus client uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, …), read
//! from `/proc/self` at each scrape.
//!
//! Written here rather than taken from a crate: `prometheus-client` has no process collector,
//! and the crates that read `/proc` (`procfs`) bring far more than the two files and one
//! directory these seven numbers come from. Elsewhere than Linux nothing is reported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
#[cfg(target_os = "linux")]
use prometheus_client::metrics::{counter::ConstCounter, gauge::ConstGauge};

/// The collector (stateless: everything is read when scraped).
#[derive(Debug)]
pub(super) struct Process;

/// What one reading of `/proc/self/stat` says.
#[derive(Debug, PartialEq)]
pub(super) struct Stat {
    /// User plus system time, in clock ticks.
    pub(super) cpu_ticks: u64,
    pub(super) threads: u64,
    /// Since boot, in clock ticks.
    pub(super) start_ticks: u64,
    pub(super) virtual_bytes: u64,
    pub(super) resident_pages: u64,
}

/// Parses `/proc/<pid>/stat` (proc(5)): the fields after the command name, which is in
/// parentheses and may itself hold spaces and parentheses.
pub(super) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is fields[n - 3].
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub(super) fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(target_os = "linux")]
impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stat) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(parse_stat)
        else {
            return Ok(());
        };
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as u64;

        let cpu = ConstCounter::new(stat.cpu_ticks as f64 / ticks);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                Some(stat.resident_pages.saturating_mul(page) as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                Some(stat.virtual_bytes as f64),
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                Some(stat.threads as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                std::fs::read_dir("/proc/self/fd")
                    .ok()
                    .map(|d| d.count() as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                rustix::process::getrlimit(rustix::process::Resource::Nofile)
                    .current
                    .map(|n| n as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                std::fs::read_to_string("/proc/stat")
                    .ok()
                    .as_deref()
                    .and_then(parse_boot_time)
                    .map(|boot| boot as f64 + stat.start_ticks as f64 / ticks),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
impl Collector for Process {
    fn encode(&self, _encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (nidan (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 35 0 0 20 0 \
                    7 0 123456 987654321 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 \
                    17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                cpu_ticks: 185,
                threads: 7,
                start_ticks: 123_456,
                virtual_bytes: 987_654_321,
                resident_pages: 3000,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn boot_time_is_read_from_its_line() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1764680000\nprocesses 9\n";
        assert_eq!(parse_boot_time(text), Some(1_764_680_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_every_series() {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Process));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encodes");
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_threads ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(
                out.contains(&format!("\n{name}")),
                "{name} missing in:\n{out}"
            );
        }
    }
}
