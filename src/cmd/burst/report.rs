//! The `burst` report: built once from the recorder, printed as text or JSON, and
//! checked against the `--threshold`s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::latency::{Latency, histogram, ms, ms_text};
use super::verify::Verification;
use super::{Plan, Recorder};
use crate::cli::{BurstArgs, COUNT_METRICS, Threshold};

/// One `--timeseries` row.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    /// Start of the interval, seconds after the start of the run.
    pub(crate) start_s: f64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) rate: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// One `--threshold` and its outcome.
#[derive(Debug, Serialize)]
pub(crate) struct Check {
    pub(crate) threshold: String,
    pub(crate) metric: String,
    /// The measured value as text (with its unit for latencies).
    pub(crate) actual: String,
    pub(crate) ok: bool,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) url: String,
    pub(crate) endpoint: String,
    /// `closed` (--concurrency workers) or `open` (--rate).
    pub(crate) model: &'static str,
    pub(crate) concurrency: u32,
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) duration_s: f64,
    pub(crate) target_rate: Option<f64>,
    pub(crate) achieved_rate: f64,
    /// Answers by HTTP status.
    pub(crate) status: BTreeMap<String, u64>,
    /// Failed requests by error message (non-2xx answers and transport errors).
    pub(crate) error_messages: BTreeMap<String, u64>,
    /// Latency; with --rate measured from the intended send time.
    pub(crate) latency: Latency,
    /// With --rate: latency from the actual send time (not corrected).
    pub(crate) raw_latency: Option<Latency>,
    pub(crate) timeseries: Option<Vec<Row>>,
    pub(crate) verify: Option<Verification>,
    pub(crate) thresholds: Vec<Check>,
}

impl Report {
    pub(crate) fn build(
        args: &BurstArgs,
        plan: &Plan,
        recorder: &Recorder,
        concurrency: u32,
        verify: Option<Verification>,
    ) -> Report {
        let latency = recorder.merged(|s| &s.latency);
        let raw = recorder.merged(|s| &s.raw);
        let mut status = BTreeMap::new();
        let mut error_messages = BTreeMap::new();
        let mut rows: Vec<(u64, u64, Histogram<u64>)> = Vec::new();
        for shard in &recorder.shards {
            let shard = crate::util::lock(shard);
            for (code, n) in &shard.statuses {
                *status.entry(code.to_string()).or_insert(0) += n;
            }
            for (text, n) in &shard.errors {
                *error_messages.entry(text.clone()).or_insert(0) += n;
            }
            for (i, interval) in shard.intervals.iter().enumerate() {
                while rows.len() <= i {
                    rows.push((0, 0, histogram()));
                }
                rows[i].0 += interval.requests;
                rows[i].1 += interval.errors;
                let _ = rows[i].2.add(&interval.latency);
            }
        }
        let requests = latency.len();
        let errors: u64 = error_messages.values().sum();
        let elapsed = recorder.elapsed().as_secs_f64();
        let timeseries = args.timeseries.map(|step| {
            let step = step.as_secs_f64();
            rows.iter()
                .enumerate()
                .map(|(i, (n, e, h))| Row {
                    start_s: i as f64 * step,
                    requests: *n,
                    errors: *e,
                    rate: *n as f64 / step,
                    p50_ms: if h.is_empty() {
                        0.0
                    } else {
                        ms(h.value_at_percentile(50.0))
                    },
                    p99_ms: if h.is_empty() {
                        0.0
                    } else {
                        ms(h.value_at_percentile(99.0))
                    },
                    max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
                })
                .collect()
        });
        let mut report = Report {
            url: plan.url.clone(),
            endpoint: format!("{:?}", args.endpoint).to_ascii_lowercase(),
            model: if args.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            concurrency,
            requests,
            ok: requests - errors,
            errors,
            duration_s: elapsed,
            target_rate: args.rate,
            achieved_rate: if elapsed > 0.0 {
                requests as f64 / elapsed
            } else {
                0.0
            },
            status,
            error_messages,
            latency: Latency::of(&latency),
            raw_latency: args.rate.map(|_| Latency::of(&raw)),
            timeseries,
            verify,
            thresholds: Vec::new(),
        };
        report.thresholds = args.threshold.iter().map(|t| report.check(t)).collect();
        report
    }

    fn check(&self, threshold: &Threshold) -> Check {
        let (actual, text) = if let Some(us) = self.latency.metric_us(&threshold.metric) {
            (Some(us), ms_text(us.round() as u64))
        } else {
            debug_assert!(COUNT_METRICS.contains(&threshold.metric.as_str()));
            let value = match threshold.metric.as_str() {
                "errors" => Some(self.errors as f64),
                "rate" => Some(self.achieved_rate),
                "lost" => self.verify.as_ref().map(|v| v.lost as f64),
                "duplicated" => self.verify.as_ref().map(|v| v.duplicated as f64),
                _ => None,
            };
            let text = match value {
                Some(v) if threshold.metric == "rate" => format!("{v:.1}"),
                Some(v) => format!("{v}"),
                None => "unknown without --verify".to_owned(),
            };
            (value, text)
        };
        Check {
            threshold: threshold.text.clone(),
            metric: threshold.metric.clone(),
            ok: actual.is_some_and(|a| threshold.op.holds(a, threshold.value)),
            actual: text,
        }
    }

    /// The report for humans.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let model = match self.target_rate {
            Some(rate) => format!(
                "open model, {rate}/s, at most {} in flight",
                self.concurrency
            ),
            None => format!("closed model, {} workers", self.concurrency),
        };
        let _ = writeln!(out, "burst     {} {} ({model})", self.endpoint, self.url);
        let target = self
            .target_rate
            .map_or(String::new(), |r| format!(" (target {r:.1}/s)"));
        let _ = writeln!(
            out,
            "requests  {} in {:.2}s: {:.1}/s achieved{target}",
            self.requests, self.duration_s, self.achieved_rate
        );
        let statuses: Vec<String> = self
            .status
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "status    {}",
            if statuses.is_empty() {
                "-".to_owned()
            } else {
                statuses.join("  ")
            }
        );
        let _ = writeln!(out, "errors    {}", self.errors);
        for (text, n) in &self.error_messages {
            let _ = writeln!(out, "  {n:>7}  {text}");
        }
        let label = if self.raw_latency.is_some() {
            "latency   (corrected) "
        } else {
            "latency   "
        };
        let _ = writeln!(out, "{label}{}", self.latency.line());
        if let Some(raw) = &self.raw_latency {
            let _ = writeln!(out, "latency   (raw)       {}", raw.line());
        }
        if let Some(rows) = &self.timeseries {
            let mut table =
                crate::cmd::table(["START", "REQUESTS", "ERRORS", "RATE", "P50", "P99", "MAX"]);
            for row in rows {
                let t = |v: f64| ms_text((v * 1000.0).round() as u64);
                table.add_row([
                    format!("{:.1}s", row.start_s),
                    row.requests.to_string(),
                    row.errors.to_string(),
                    format!("{:.1}/s", row.rate),
                    t(row.p50_ms),
                    t(row.p99_ms),
                    t(row.max_ms),
                ]);
            }
            let _ = writeln!(out, "\n{}", crate::cmd::table_text(&table));
        }
        if let Some(verify) = &self.verify {
            let mut table = crate::cmd::table([
                "SUBSCRIBER",
                "URL",
                "RECEIVED",
                "LOST",
                "DUPLICATED",
                "OUT-OF-ORDER",
                "RECONNECTS",
                "P50",
                "P99",
                "MAX",
                "FIRST",
            ]);
            for sub in &verify.subscribers {
                let t = |v: f64| ms_text((v * 1000.0).round() as u64);
                table.add_row([
                    sub.subscriber.to_string(),
                    sub.url.clone(),
                    format!("{}/{}", sub.received, sub.expected),
                    sub.lost.to_string(),
                    sub.duplicated.to_string(),
                    sub.out_of_order.to_string(),
                    sub.reconnects.to_string(),
                    t(sub.delivery_latency.p50),
                    t(sub.delivery_latency.p99),
                    t(sub.delivery_latency.max),
                    sub.time_to_first_event_ms.map_or("-".to_owned(), t),
                ]);
            }
            let _ = writeln!(
                out,
                "\nverify    {} notifications expected per subscriber: {} lost, {} duplicated, {} out of order",
                verify.expected, verify.lost, verify.duplicated, verify.out_of_order
            );
            let _ = writeln!(out, "{}", crate::cmd::table_text(&table));
            for sub in &verify.subscribers {
                if let Some(err) = &sub.stream_error {
                    let _ = writeln!(out, "subscriber {}: {err}", sub.subscriber);
                }
            }
        }
        for check in &self.thresholds {
            let verdict = if check.ok { "ok" } else { "VIOLATED" };
            let _ = writeln!(
                out,
                "threshold {}: {verdict} ({} {})",
                check.threshold, check.metric, check.actual
            );
        }
        out
    }
}
