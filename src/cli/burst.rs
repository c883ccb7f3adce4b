//! `agentctl burst`: its options, long help, `--threshold` expressions and their
//! value parsers.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse_positive_duration;
use crate::config::duration;

/// The long help of `burst`.
pub(super) const BURST_LONG_ABOUT: &str = "Generate load against an Agent and verify delivery.\n\nWith \
--concurrency alone (closed model) C workers each send the next request as soon as the previous \
one answered. With --rate (open model) requests are started at a constant rate whether or not \
earlier ones answered, and latencies are measured from the intended send time (corrected for \
coordinated omission; the raw ones are reported too). The run ends after --requests requests \
(default 20) or after --duration. The report gives the target and achieved rate, status counts, \
error messages and latency percentiles from an HDR histogram; --timeseries adds one row per \
interval and --json prints the whole report as one JSON object. --verify opens --subscribers SSE \
streams (spread over every --subscribe-url, default --url; the load goes to --url alone) before \
sending, tags every request with a unique user id and reports, per subscriber, the \
notifications received, lost, duplicated and out of order, the reconnects, the \
publish-to-delivery latency and the time to the first event. A subscriber whose connection \
drops reconnects to the next --subscribe-url and resumes after the last id it received \
(Last-Event-ID), so a loss is the service's, not the tool's. Each \
--threshold (`p99<5ms`, `errors=0`, `lost=0`) that is violated is named on stderr and makes the \
exit code 1; any loss under --verify does too, and so does any failed request (a transport error \
or a non-2xx answer) unless an `errors` threshold says how many are acceptable.";

/// The endpoint `burst` sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BurstEndpoint {
    /// `POST /v1/decide?keys=FLAG`.
    Decide,
    /// `POST /v1/track?eventKey=KEY`.
    Track,
    /// `POST /v1/activate?featureKey=FLAG`.
    Activate,
    /// Decide, track and activate in turn.
    Mix,
}

/// `agentctl burst`.
#[derive(Debug, Args)]
pub struct BurstArgs {
    /// Base URL of the Agent's API listener (`host:port` means http://host:port).
    /// Default: the API address of the config (server.host:api.port).
    #[arg(long, value_name = "URL", env = "AGENTCTL_URL")]
    pub url: Option<String>,
    /// SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in
    /// ./datafiles, else the only key of sdkKeys in the config.
    #[arg(long, value_name = "KEY", env = "AGENTCTL_SDK_KEY")]
    pub sdk_key: Option<String>,
    /// Extra request header `NAME: VALUE` on every request and subscription
    /// (repeatable), e.g. `Authorization: Bearer TOKEN` for an Agent with api.auth.
    #[arg(long, value_name = "NAME: VALUE", value_parser = super::parse_header)]
    pub header: Vec<(String, String)>,
    /// The endpoint to load.
    #[arg(long, value_enum, default_value_t = BurstEndpoint::Decide)]
    pub endpoint: BurstEndpoint,
    /// Send this many requests [default: 20].
    #[arg(long, value_name = "N", conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Send for this long instead of a number of requests.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,
    /// Requests in flight at once: the workers of the closed model, or the cap on
    /// outstanding requests with --rate [default: 1, or 1000 with --rate].
    #[arg(long, value_name = "C", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Start requests at this constant rate per second (open model).
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Flag keys for decide and activate, comma-separated; requests cycle through
    /// them (decide without flags decides every flag).
    #[arg(long, value_name = "K1,K2", value_delimiter = ',')]
    pub flags: Vec<String>,
    /// Cycle through this many distinct user ids (default: one per request).
    #[arg(long, value_name = "N", conflicts_with = "verify", value_parser = clap::value_parser!(u64).range(1..))]
    pub users: Option<u64>,
    /// User attributes sent with every request (a JSON object).
    #[arg(long, value_name = "JSON", value_parser = parse_attributes)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Event key for track (required for track and mix).
    #[arg(long, value_name = "KEY")]
    pub event_key: Option<String>,
    /// Subscribe to the notification stream first and check every request's
    /// notifications arrive at every subscriber.
    #[arg(long)]
    pub verify: bool,
    /// Number of SSE subscribers opened by --verify.
    #[arg(long, value_name = "S", default_value_t = 1, requires = "verify", value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Base URL the subscribers connect to (repeatable or comma-separated; they
    /// are spread over all of them, and a subscriber whose connection drops
    /// resumes on the next one). Default: --url.
    #[arg(long, value_name = "URL", requires = "verify", value_delimiter = ',')]
    pub subscribe_url: Vec<String>,
    /// Print the whole report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Add one report row per interval of this length.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub timeseries: Option<Duration>,
    /// Fail (exit 1) unless this holds: `p50|p90|p99|p99.9|max|mean OP DURATION`,
    /// `errors|lost|duplicated OP N` or `rate OP R`, OP one of < <= > >= =.
    #[arg(long, value_name = "EXPR", value_parser = parse_threshold)]
    pub threshold: Vec<Threshold>,
}

/// A `--threshold` of `burst`: `metric op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The text as given, for messages.
    pub text: String,
    /// The metric's name (`p99`, `errors`, ...).
    pub metric: String,
    /// The comparison.
    pub op: ThresholdOp,
    /// The bound: microseconds for latencies, a count or a rate otherwise.
    pub value: f64,
}

/// The comparison of a [`Threshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=` or `==`
    Eq,
}

impl ThresholdOp {
    /// Whether `actual op bound` holds.
    pub fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            ThresholdOp::Lt => actual < bound,
            ThresholdOp::Le => actual <= bound,
            ThresholdOp::Gt => actual > bound,
            ThresholdOp::Ge => actual >= bound,
            ThresholdOp::Eq => actual == bound,
        }
    }
}

/// Latency metrics a threshold can name.
pub const LATENCY_METRICS: [&str; 6] = ["p50", "p90", "p99", "p99.9", "max", "mean"];
/// Count metrics a threshold can name.
pub const COUNT_METRICS: [&str; 4] = ["errors", "lost", "duplicated", "rate"];

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let expected = "expected METRIC OP VALUE such as p99<5ms, errors=0 or lost=0";
    let at = text
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| expected.to_owned())?;
    let metric = text[..at].trim().to_ascii_lowercase();
    let rest = &text[at..];
    let (op, len) = if rest.starts_with("<=") {
        (ThresholdOp::Le, 2)
    } else if rest.starts_with(">=") {
        (ThresholdOp::Ge, 2)
    } else if rest.starts_with("==") {
        (ThresholdOp::Eq, 2)
    } else if rest.starts_with('<') {
        (ThresholdOp::Lt, 1)
    } else if rest.starts_with('>') {
        (ThresholdOp::Gt, 1)
    } else if rest.starts_with('=') {
        (ThresholdOp::Eq, 1)
    } else {
        return Err(expected.to_owned());
    };
    let value_text = rest[len..].trim();
    let value = if LATENCY_METRICS.contains(&metric.as_str()) {
        duration::parse(value_text)?.as_nanos() as f64 / 1000.0
    } else if COUNT_METRICS.contains(&metric.as_str()) {
        value_text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{value_text:?} is not a number"))?
    } else {
        return Err(format!(
            "unknown metric {metric:?}: one of {}, {}",
            LATENCY_METRICS.join(", "),
            COUNT_METRICS.join(", ")
        ));
    };
    Ok(Threshold {
        text: text.to_owned(),
        metric,
        op,
        value,
    })
}

fn parse_rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| "expected a rate per second greater than zero, such as 200".to_owned())
}

fn parse_attributes(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("expected a JSON object such as {\"country\":\"SE\"}".to_owned()),
        Err(err) => Err(format!("not JSON: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_thresholds_parse() {
        let t = parse_threshold("p99<5ms").unwrap();
        assert_eq!(
            (t.metric.as_str(), t.op, t.value),
            ("p99", ThresholdOp::Lt, 5000.0)
        );
        let t = parse_threshold("errors=0").unwrap();
        assert_eq!(
            (t.metric.as_str(), t.op, t.value),
            ("errors", ThresholdOp::Eq, 0.0)
        );
        let t = parse_threshold("p99.9 <= 1us").unwrap();
        assert_eq!(
            (t.metric.as_str(), t.op, t.value),
            ("p99.9", ThresholdOp::Le, 1.0)
        );
        assert!(parse_threshold("p99<5").is_err());
        assert!(parse_threshold("p42<5ms").is_err());
        assert!(parse_threshold("errors").is_err());
        assert!(parse_threshold("lost=x").is_err());
    }
}
