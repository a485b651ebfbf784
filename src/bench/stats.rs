//! Latency collection, percentiles and progress bars for the benchmark tool.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Latencies in microseconds; percentiles by sorting at the end (benchmarks record at most a
/// few hundred thousand samples).
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u64>);

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.0.push(d.as_micros() as u64);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// Percentiles in milliseconds (nearest rank).
    pub fn summary(&self) -> Summary {
        if self.0.is_empty() {
            return Summary::default();
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let rank = |p: f64| v[(((p * v.len() as f64).ceil() as usize).max(1) - 1).min(v.len() - 1)];
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: v.len() as u64,
            p50: ms(rank(0.50)),
            p99: ms(rank(0.99)),
            max: ms(*v.last().unwrap_or(&0)),
            mean: v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0,
        }
    }
}

/// A progress bar on stderr (hidden when quiet; indicatif hides it when stderr is no terminal).
pub fn progress_bar(quiet: bool, total: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us * 1000));
        }
        let s = l.summary();
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
    }
}
