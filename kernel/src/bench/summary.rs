//! Latency samples and their percentiles.

use std::time::Duration;

/// A set of latency samples.
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    /// Adds one sample.
    pub(crate) fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    /// Merges another set in.
    pub(crate) fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// The `p`-th percentile (0–100) in milliseconds, by nearest rank; 0 with no samples.
    pub(crate) fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.sort_unstable();
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.samples.len()) - 1;
        self.samples[index].as_secs_f64() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for ms in [5, 1, 4, 2, 3] {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), 3.0);
        assert_eq!(l.percentile_ms(99.0), 5.0);
        assert_eq!(l.percentile_ms(0.0), 1.0);
        assert_eq!(Latencies::default().percentile_ms(50.0), 0.0);
    }
}
