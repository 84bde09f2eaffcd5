//! Latency percentiles.

use std::time::Duration;

/// Percentiles of a set of latencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

/// Nearest-rank percentiles of `samples` (sorted in place).
pub fn summarise(samples: &mut [Duration]) -> Summary {
    if samples.is_empty() {
        return Summary::default();
    }
    samples.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1]
    };
    let total: Duration = samples.iter().sum();
    Summary {
        count: samples.len(),
        p50: rank(50.0),
        p95: rank(95.0),
        p99: rank(99.0),
        max: samples[samples.len() - 1],
        mean: total / samples.len() as u32,
    }
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
