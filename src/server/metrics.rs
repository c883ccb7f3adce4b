//! Counters and gauges of `serve`, exposed by the admin `/metrics` endpoint in
//! Prometheus text format (encoded by `prometheus-client`) or, when
//! `admin.metricsType` is `expvar`, as one flat JSON object as upstream's expvar
//! handler serves. Both are rendered from the same [`Sample`] list taken at scrape
//! time, so the two formats never disagree.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::histogram::Snapshot;
use crate::notify::Kind;
use crate::util::{read, write};

/// What a sample measures, with its value.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// Monotonic count.
    Counter(f64),
    /// Current value.
    Gauge(f64),
    /// A distribution.
    Histogram(Snapshot),
}

/// One value at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name without the `agentctl_` prefix, dot-separated in expvar style
    /// (`notifications.published`); Prometheus gets underscores.
    pub name: Cow<'static, str>,
    /// One line of help.
    pub help: &'static str,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The kind and value.
    pub value: SampleValue,
}

impl Sample {
    fn new(name: impl Into<Cow<'static, str>>, help: &'static str, value: SampleValue) -> Self {
        Sample {
            name: name.into(),
            help,
            labels: Vec::new(),
            value,
        }
    }

    /// A counter sample without labels.
    pub fn counter(name: impl Into<Cow<'static, str>>, help: &'static str, value: u64) -> Self {
        Self::new(name, help, SampleValue::Counter(value as f64))
    }

    /// A gauge sample without labels.
    pub fn gauge(name: impl Into<Cow<'static, str>>, help: &'static str, value: f64) -> Self {
        Self::new(name, help, SampleValue::Gauge(value))
    }

    /// A histogram sample without labels.
    pub fn histogram(
        name: impl Into<Cow<'static, str>>,
        help: &'static str,
        value: Snapshot,
    ) -> Self {
        Self::new(name, help, SampleValue::Histogram(value))
    }

    /// The same sample with one more label.
    pub fn label(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((key, value.into()));
        self
    }
}

/// Counters the HTTP layer increments as it goes.
#[derive(Default)]
pub struct Metrics {
    /// Route → status → count. Counting takes only the read lock once a pair has
    /// been seen, so concurrent requests do not serialise on it.
    requests: RwLock<HashMap<String, HashMap<u16, AtomicU64>>>,
    published: [AtomicU64; 3],
    dropped_notifications: AtomicU64,
    datafile_updates: AtomicU64,
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Decision => 0,
        Kind::Track => 1,
        Kind::DatafileUpdate => 2,
    }
}

impl Metrics {
    /// Counts one answered API request by route pattern and status.
    pub fn request(&self, route: &str, status: u16) {
        {
            let routes = read(&self.requests);
            if let Some(count) = routes.get(route).and_then(|codes| codes.get(&status)) {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut routes = write(&self.requests);
        routes
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one notification the hub accepted (see `server::publish`).
    pub fn published(&self, kind: Kind) {
        self.published[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a notification that could not be built or published.
    pub fn notification_dropped(&self) {
        self.dropped_notifications.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a datafile replaced by a new revision.
    pub fn datafile_updated(&self) {
        self.datafile_updates.fetch_add(1, Ordering::Relaxed);
    }

    /// The samples of these counters.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        let sorted: BTreeMap<(String, u16), u64> = read(&self.requests)
            .iter()
            .flat_map(|(route, codes)| {
                codes
                    .iter()
                    .map(|(code, n)| ((route.clone(), *code), n.load(Ordering::Relaxed)))
            })
            .collect();
        for ((route, status), count) in sorted {
            out.push(
                Sample::counter("http.requests", "API requests answered", count)
                    .label("route", route)
                    .label("code", status.to_string()),
            );
        }
        for kind in Kind::ALL {
            out.push(
                Sample::counter(
                    "notifications.published",
                    "Notifications handed to the hub",
                    self.published[kind_index(kind)].load(Ordering::Relaxed),
                )
                .label("type", kind.as_str()),
            );
        }
        out.push(Sample::counter(
            "notifications.dropped",
            "Notifications that could not be built or published",
            self.dropped_notifications.load(Ordering::Relaxed),
        ));
        out.push(Sample::counter(
            "datafile.updates",
            "Datafiles replaced by a new revision",
            self.datafile_updates.load(Ordering::Relaxed),
        ));
        out
    }
}

#[derive(Debug)]
struct Scrape(Vec<Sample>);

/// A histogram snapshot as `prometheus-client` encodes histograms.
struct ConstHistogram<'a>(&'a Snapshot);

impl EncodeMetric for ConstHistogram<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let Snapshot {
            sum,
            count,
            buckets,
        } = self.0;
        encoder.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl SampleValue {
    fn metric_type(&self) -> MetricType {
        match self {
            SampleValue::Counter(_) => MetricType::Counter,
            SampleValue::Gauge(_) => MetricType::Gauge,
            SampleValue::Histogram(_) => MetricType::Histogram,
        }
    }

    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self {
            SampleValue::Counter(value) => ConstCounter::new(*value).encode(encoder),
            SampleValue::Gauge(value) => ConstGauge::new(*value).encode(encoder),
            SampleValue::Histogram(snapshot) => ConstHistogram(snapshot).encode(encoder),
        }
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Samples of one metric are adjacent: one descriptor (HELP, TYPE), then each
        // label set.
        let mut at = 0;
        while let Some(first) = self.0.get(at) {
            let family = self.0[at..]
                .iter()
                .take_while(|s| s.name == first.name)
                .count();
            let samples = &self.0[at..at + family];
            at += family;
            let name = first.name.replace('.', "_");
            let mut described =
                encoder.encode_descriptor(&name, first.help, None, first.value.metric_type())?;
            for sample in samples {
                let labels: Vec<(&str, &str)> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                if labels.is_empty() {
                    // An unlabelled metric has exactly one sample.
                    sample.value.encode(described)?;
                    break;
                }
                sample.value.encode(described.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Prometheus text exposition of `samples`, each name prefixed `agentctl_`.
pub fn prometheus_text(samples: Vec<Sample>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("agentctl");
    registry.register_collector(Box::new(Scrape(samples)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The expvar-style JSON object: `"name"` or `"name{label=value,…}"` → value, plus
/// `cmdline` as Go's expvar always includes it.
pub fn expvar_json(samples: &[Sample]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert(
        "cmdline".to_owned(),
        serde_json::Value::from(std::env::args().collect::<Vec<_>>()),
    );
    for sample in samples {
        let key = if sample.labels.is_empty() {
            sample.name.to_string()
        } else {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}{{{}}}", sample.name, labels.join(","))
        };
        let value = match &sample.value {
            SampleValue::Counter(value) | SampleValue::Gauge(value) => serde_json::json!(value),
            SampleValue::Histogram(snapshot) => {
                let buckets: serde_json::Map<String, serde_json::Value> = snapshot
                    .cumulative()
                    .map(|(bound, n)| {
                        let le = if bound == f64::MAX {
                            "+Inf".to_owned()
                        } else {
                            bound.to_string()
                        };
                        (le, serde_json::json!(n))
                    })
                    .collect();
                serde_json::json!({
                    "count": snapshot.count,
                    "sum": snapshot.sum,
                    "buckets": buckets,
                })
            }
        };
        map.insert(key, value);
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_render_the_same_samples() {
        let metrics = Metrics::default();
        metrics.request("/v1/decide", 200);
        metrics.request("/v1/decide", 200);
        metrics.published(Kind::Track);
        let mut samples = metrics.samples();
        samples.push(Sample::gauge("sse.subscribers", "Open streams", 3.0));
        let latency = crate::histogram::Histogram::latencies();
        latency.observe_duration(std::time::Duration::from_millis(2));
        latency.observe_duration(std::time::Duration::from_millis(20));
        samples.push(Sample::histogram(
            "publish.latency_seconds",
            "Hand-off to acknowledgement",
            latency.snapshot(),
        ));
        let text = prometheus_text(samples.clone()).unwrap();
        // One HELP/TYPE per metric, however many label sets it has.
        assert_eq!(
            text.matches("# TYPE agentctl_http_requests counter")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("# TYPE agentctl_publish_latency_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("agentctl_publish_latency_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("agentctl_publish_latency_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("agentctl_publish_latency_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("agentctl_http_requests_total{route=\"/v1/decide\",code=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("agentctl_notifications_published_total{type=\"track\"} 1"),
            "{text}"
        );
        assert!(text.contains("agentctl_sse_subscribers 3"), "{text}");
        let json = expvar_json(&samples);
        assert_eq!(json["http.requests{route=/v1/decide,code=200}"], 2.0);
        assert_eq!(json["sse.subscribers"], 3.0);
        assert_eq!(json["publish.latency_seconds"]["count"], 2);
        assert_eq!(json["publish.latency_seconds"]["buckets"]["0.0025"], 1);
        assert_eq!(json["publish.latency_seconds"]["buckets"]["+Inf"], 2);
    }
}
