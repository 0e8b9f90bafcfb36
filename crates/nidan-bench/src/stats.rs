//! Latency summaries: nearest-rank percentiles over the sorted samples of one level.

use serde::Serialize;

/// The latency percentiles of one level, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest sample.
    pub max_ms: f64,
}

/// Nearest-rank percentile `p` (0..=100) of `sorted` (ascending); 0 for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // The small subtraction keeps float error (0.999 * 1000 = 999.000…1) from adding a rank.
    let rank = ((p / 100.0) * n as f64 - 1e-9).ceil() as usize;
    let idx = rank.clamp(1, n) - 1;
    sorted[idx]
}

/// Summarises latency samples given in microseconds (sorts them in place).
pub fn summarise(samples_us: &mut [u64]) -> Latency {
    samples_us.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        p50_ms: ms(percentile(samples_us, 50.0)),
        p99_ms: ms(percentile(samples_us, 99.0)),
        p999_ms: ms(percentile(samples_us, 99.9)),
        max_ms: ms(samples_us.last().copied().unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500);
        assert_eq!(percentile(&v, 99.0), 990);
        assert_eq!(percentile(&v, 99.9), 999);
        assert_eq!(percentile(&v, 100.0), 1000);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 99.9), 7);
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        let mut v = vec![3000, 1000, 2000];
        let s = summarise(&mut v);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (2.0, 3.0, 3.0));
    }
}
