//! Latency histograms in microseconds, merged across tasks.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram (1 µs to 60 s, 3 significant digits).
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        Self(histogram)
    }

    /// Records one latency (clamped into range).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile` (0–1) in microseconds.
    pub fn micros_at(&self, quantile: f64) -> u64 {
        self.0.value_at_quantile(quantile)
    }
}
