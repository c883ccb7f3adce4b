//! Latency arithmetic shared by the `burst` report and `--verify`: the HDR
//! histogram of microseconds, unit conversions, and the [`Latency`] percentile
//! summary. Imports nothing from the other `burst` files, so `report` and `verify`
//! both depend on it instead of on each other.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
pub(crate) fn histogram() -> Histogram<u64> {
    // Constant bounds that satisfy the crate's rules (low >= 1, high >= 2 * low,
    // 0-5 significant digits), so construction cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// A duration in whole microseconds (at least 1, as the histograms record).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Percentiles listed under `histogram` in the JSON report.
const HISTOGRAM_PERCENTILES: [f64; 14] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.9, 99.99,
];

/// Microseconds as milliseconds.
pub(crate) fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Microseconds for humans: `850us`, `1.25ms`, `2.1s`.
pub(crate) fn ms_text(micros: u64) -> String {
    match micros {
        0..1000 => format!("{micros}us"),
        1000..1_000_000 => format!("{:.2}ms", ms(micros)),
        _ => format!("{:.2}s", micros as f64 / 1e6),
    }
}

/// One point of a histogram.
#[derive(Debug, Serialize)]
pub(crate) struct Point {
    pub(crate) percentile: f64,
    pub(crate) ms: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    pub(crate) count: u64,
    pub(crate) min: f64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    #[serde(rename = "p99.9")]
    pub(crate) p99_9: f64,
    pub(crate) max: f64,
    /// The histogram's percentile distribution (the last point is the maximum).
    pub(crate) histogram: Vec<Point>,
}

impl Latency {
    /// The percentiles of a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Latency {
        let at = |p: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_percentile(p))
            }
        };
        let mut histogram: Vec<Point> = HISTOGRAM_PERCENTILES
            .iter()
            .map(|&p| Point {
                percentile: p,
                ms: at(p),
            })
            .collect();
        histogram.push(Point {
            percentile: 100.0,
            ms: at(100.0),
        });
        Latency {
            count: h.len(),
            min: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            p99_9: at(99.9),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
            histogram,
        }
    }

    /// A latency metric by name, in microseconds.
    pub(crate) fn metric_us(&self, name: &str) -> Option<f64> {
        let v = match name {
            "p50" => self.p50,
            "p90" => self.p90,
            "p99" => self.p99,
            "p99.9" => self.p99_9,
            "max" => self.max,
            "mean" => self.mean,
            _ => return None,
        };
        Some(v * 1000.0)
    }

    /// `p50 …  p90 …  p99 …  p99.9 …  max …`, for the text report.
    pub(crate) fn line(&self) -> String {
        let t = |v: f64| ms_text((v * 1000.0).round() as u64);
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            t(self.p50),
            t(self.p90),
            t(self.p99),
            t(self.p99_9),
            t(self.max)
        )
    }
}
