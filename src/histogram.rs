//! Fixed-bucket histograms that hot paths record into without a lock, and that
//! `/metrics` reads as a [`Snapshot`] (encoded for Prometheus by
//! `prometheus-client`, whose own histogram cannot be read back for expvar).
//!
//! Values are recorded as integers in a unit of the caller's choice (entries,
//! microseconds) and reported scaled (seconds), as Prometheus expects base units.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds for "entries per batch" distributions.
pub const BATCH_SIZE_BOUNDS: &[u64] = &[
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

/// Upper bounds, in microseconds, for latencies from 100 µs to one minute.
pub const LATENCY_MICROS_BOUNDS: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// A distribution of integer observations over fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One count per bound, then one for values above the last bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    /// Divides bounds and sum when reported (1e6 turns microseconds into seconds;
    /// dividing by an exact power of ten gives the nearest double to the decimal).
    per_unit: f64,
}

/// A histogram's state at one moment, in reporting units.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Sum of every observation.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations in this bucket only)`, ascending; the last bound
    /// is `f64::MAX` (+Inf), as `prometheus-client`'s encoder expects.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// A histogram over `bounds` (ascending), reported divided by `per_unit`.
    pub fn new(bounds: &'static [u64], per_unit: f64) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            per_unit,
        }
    }

    /// Entries per batch.
    pub fn batch_sizes() -> Self {
        Self::new(BATCH_SIZE_BOUNDS, 1.0)
    }

    /// Latencies, recorded with [`Histogram::observe_duration`], reported in seconds.
    pub fn latencies() -> Self {
        Self::new(LATENCY_MICROS_BOUNDS, 1e6)
    }

    /// Records one value.
    pub fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Records a duration in microseconds (for [`Histogram::latencies`]).
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
    }

    /// The counts now. Read bucket by bucket while others may record, so `count`
    /// is the sum of the buckets read, never more.
    pub fn snapshot(&self) -> Snapshot {
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            let bound = self
                .bounds
                .get(i)
                .map_or(f64::MAX, |bound| *bound as f64 / self.per_unit);
            buckets.push((bound, count.load(Ordering::Relaxed)));
        }
        Snapshot {
            sum: self.sum.load(Ordering::Relaxed) as f64 / self.per_unit,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

impl Snapshot {
    /// `(upper bound, observations at or below it)`: the cumulative view Prometheus
    /// and expvar readers expect.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.buckets.iter().scan(0, |total, (bound, n)| {
            *total += n;
            Some((*bound, *total))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new(&[1, 10, 100], 1.0);
        for value in [0, 1, 2, 10, 11, 100, 101, 5_000] {
            h.observe(value);
        }
        let snap = h.snapshot();
        assert_eq!(
            snap.buckets,
            vec![(1.0, 2), (10.0, 2), (100.0, 2), (f64::MAX, 2)]
        );
        assert_eq!(snap.count, 8);
        assert_eq!(snap.sum, 5_225.0);
        let cumulative: Vec<_> = snap.cumulative().collect();
        assert_eq!(
            cumulative,
            vec![(1.0, 2), (10.0, 4), (100.0, 6), (f64::MAX, 8)]
        );
    }

    #[test]
    fn latencies_are_reported_in_seconds() {
        let h = Histogram::latencies();
        h.observe_duration(Duration::from_micros(700));
        h.observe_duration(Duration::from_secs(2));
        let snap = h.snapshot();
        assert_eq!(snap.count, 2);
        assert!((snap.sum - 2.0007).abs() < 1e-9, "{}", snap.sum);
        let at = |le: f64| {
            snap.cumulative()
                .find(|(bound, _)| *bound == le)
                .map(|(_, n)| n)
        };
        assert_eq!(at(0.0005), Some(0));
        assert_eq!(at(0.001), Some(1));
        assert_eq!(at(1.0), Some(1));
        assert_eq!(at(2.5), Some(2));
    }
}
