//! Exponential backoff with jitter between delivery retries, so many app instances that saw
//! the same outage do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

/// Retry delays: `initial`, doubling up to `max`, each scaled by a random factor in
/// `[0.5, 1.0]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(self.attempt.min(20)))
            .min(self.max);
        self.attempt += 1;
        base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Back to the initial delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(1));
            assert!(*d >= base / 2 && *d <= base, "{i}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
