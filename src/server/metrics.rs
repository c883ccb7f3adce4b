//! Counters and gauges of `serve`, exposed by the admin `/metrics` endpoint in
//! Prometheus text format (encoded by `prometheus-client`) or, when
//! `admin.metricsType` is `expvar`, as one flat JSON object as upstream's expvar
//! handler serves. Both are rendered from the same [`Sample`] list taken at scrape
//! time, so the two formats never disagree.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::notify::Kind;
use crate::util::{read, write};

/// Whether a sample only goes up or may go down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// Monotonic count.
    Counter,
    /// Current value.
    Gauge,
}

/// One value at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name without the `agentctl_` prefix, dot-separated in expvar style
    /// (`notifications.published`); Prometheus gets underscores.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: SampleKind,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A counter sample without labels.
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Self {
        Sample {
            name,
            help,
            kind: SampleKind::Counter,
            labels: Vec::new(),
            value: value as f64,
        }
    }

    /// A gauge sample without labels.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Sample {
            name,
            help,
            kind: SampleKind::Gauge,
            labels: Vec::new(),
            value,
        }
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

    /// Counts one notification handed to the hub.
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
struct Snapshot(Vec<Sample>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Samples of one metric are adjacent; each metric gets one descriptor.
        let mut at = 0;
        while let Some(first) = self.0.get(at) {
            let family: Vec<&Sample> = self.0[at..]
                .iter()
                .take_while(|s| s.name == first.name)
                .collect();
            at += family.len();
            let name = first.name.replace('.', "_");
            for sample in family {
                let labels: Vec<(&str, &str)> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                match sample.kind {
                    SampleKind::Counter => {
                        let metric = ConstCounter::new(sample.value);
                        let mut described = encoder.encode_descriptor(
                            &name,
                            first.help,
                            None,
                            metric.metric_type(),
                        )?;
                        if labels.is_empty() {
                            metric.encode(described)?;
                        } else {
                            metric.encode(described.encode_family(&labels)?)?;
                        }
                    }
                    SampleKind::Gauge => {
                        let metric = ConstGauge::new(sample.value);
                        let mut described = encoder.encode_descriptor(
                            &name,
                            first.help,
                            None,
                            metric.metric_type(),
                        )?;
                        if labels.is_empty() {
                            metric.encode(described)?;
                        } else {
                            metric.encode(described.encode_family(&labels)?)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Prometheus text exposition of `samples`, each name prefixed `agentctl_`.
pub fn prometheus_text(samples: Vec<Sample>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("agentctl");
    registry.register_collector(Box::new(Snapshot(samples)));
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
            sample.name.to_owned()
        } else {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}{{{}}}", sample.name, labels.join(","))
        };
        map.insert(key, serde_json::json!(sample.value));
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
        let text = prometheus_text(samples.clone()).unwrap();
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
    }
}
