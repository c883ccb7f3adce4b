//! The command line: every clap type, and nothing that does I/O.
//!
//! Commands never see these types directly for settings: `main` folds the global
//! options into [`crate::config::Settings`] and hands each command its own `Args`
//! struct plus the resolved settings. Value parsers here are pure functions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::config::duration;
use crate::store::StreamId;

/// `agentctl`: run, test and operate the notification system of a feature-flag
/// Agent fleet (Redis Streams, Redis Pub/Sub or in-memory).
#[derive(Debug, Parser)]
#[command(name = "agentctl", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Configuration: defaults, then the YAML file (--config, AGENTCTL_CONFIG or \
    ./config.yaml), then OPTIMIZELY_* environment variables, then flags."
)]
pub struct Cli {
    /// Global options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (upstream Agent config.yaml format). Without it,
    /// ./config.yaml is read when present.
    #[arg(long, global = true, value_name = "PATH", env = "AGENTCTL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Redis to use: `host:port`, `redis://[user:pass@]host:port/db` or
    /// `rediss://…` for TLS. Overrides synchronization.pubsub.redis.host; with
    /// `serve` it also turns notification sync through Redis on. inspect, trim and
    /// claim also read REDIS_URL when neither this flag nor AGENTCTL_REDIS is set.
    #[arg(long, global = true, value_name = "ADDR", env = "AGENTCTL_REDIS")]
    pub redis: Option<String>,

    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// When to colour output: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto
    )]
    pub color: ColorChoice,
}

/// `--color`: when output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless the NO_COLOR environment variable is set.
    Auto,
    /// Always, even into a pipe or with NO_COLOR.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Agent-compatible HTTP service: decisions, track, the SSE
    /// notification stream, webhook and admin endpoints.
    #[command(long_about = SERVE_LONG_ABOUT)]
    Serve(ServeArgs),
    /// Follow the SSE notification stream of an Agent.
    #[command(long_about = SUBSCRIBE_LONG_ABOUT)]
    Subscribe(SubscribeArgs),
    /// Generate load against an Agent and verify delivery.
    #[command(long_about = BURST_LONG_ABOUT)]
    Burst(BurstArgs),
    /// Operator views of the Redis side: streams, groups, consumers, pending entries.
    Inspect(InspectArgs),
    /// Remove old entries from notification streams (XTRIM by MAXLEN or MINID).
    #[command(long_about = TRIM_LONG_ABOUT)]
    Trim(TrimArgs),
    /// Move stuck pending entries to a live consumer (XAUTOCLAIM / XCLAIM).
    #[command(long_about = CLAIM_LONG_ABOUT)]
    Claim(ClaimArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
}

const SERVE_LONG_ABOUT: &str = "Run the Agent-compatible HTTP service: decisions, track, the SSE \
notification stream, webhook and admin endpoints.\n\nThree listeners, as the upstream Agent: the API \
(/v1/decide, /v1/activate, /v1/track, /v1/config, /v1/datafile, /v1/override, /v1/lookup, /v1/save, \
/v1/reset, /v1/batch, /v1/notifications/event-stream) on server.host:api.port (8080), the admin \
endpoints (/health, /info, /metrics) on admin.port (8088) and the datafile webhook \
(/webhooks/optimizely) on webhook.port (8089). Once all three are bound, one line is printed to \
stdout: `listening api=ADDR admin=ADDR webhook=ADDR`. Datafiles are read from DIR/<sdkKey>.json, \
else fetched from client.datafileURLTemplate. SIGINT (Ctrl-C) or SIGTERM stops accepting, ends \
the notification streams and flushes queued events (waiting at most client.eventShutdownTimeout \
for the event endpoint); then SIGTERM exits 0 and SIGINT 130. Logs go to stderr: readable lines \
on a terminal, JSON lines otherwise; log.pretty, when set, decides.";

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// API listener address (port 0 picks a free port). Default: server.host:api.port.
    #[arg(long, value_name = "ADDR", env = "AGENTCTL_API_ADDR")]
    pub api_addr: Option<SocketAddr>,
    /// Admin listener address. Default: server.host:admin.port.
    #[arg(long, value_name = "ADDR", env = "AGENTCTL_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Webhook listener address. Default: server.host:webhook.port.
    #[arg(long, value_name = "ADDR", env = "AGENTCTL_WEBHOOK_ADDR")]
    pub webhook_addr: Option<SocketAddr>,
    /// Directory of datafiles named `<sdkKey>.json`.
    #[arg(
        long,
        value_name = "DIR",
        env = "AGENTCTL_DATAFILES",
        default_value = DEFAULT_DATAFILES
    )]
    pub datafiles: PathBuf,
}

/// Where `serve` reads datafiles from by default, and where the client commands
/// look for the default SDK key.
pub const DEFAULT_DATAFILES: &str = "./datafiles";
/// The variable naming another datafiles directory (`serve --datafiles`).
pub const DATAFILES_ENV: &str = "AGENTCTL_DATAFILES";

const TRIM_LONG_ABOUT: &str = "Remove old entries from notification streams (XTRIM by MAXLEN or \
MINID).\n\nTrimming is approximate (`~`, whole radix-tree nodes only, cheap for Redis) unless \
--exact is given. For each stream the length before and after and the number of entries removed \
are printed. --dry-run computes the figures without deleting anything. --safe never removes an \
entry that a consumer group has not been delivered yet or that is still pending in a group: the \
trim threshold is lowered to stay below every group's last-delivered-id and oldest pending id, \
and the output says how many entries were held back and by which group.";

const CLAIM_LONG_ABOUT: &str = "Move stuck pending entries to a live consumer (XAUTOCLAIM / \
XCLAIM).\n\nWithout --ids, sweeps the group's pending entries list with XAUTOCLAIM, following the \
cursor until the whole list was visited or --count entries were claimed; with --from, only the \
entries owned by that consumer are claimed (XPENDING + XCLAIM). With --ids, exactly those entries \
are claimed with XCLAIM. Entries that were deleted from the stream while pending are reported \
(and Redis drops them from the pending list). With --dead-letter and --max-deliveries, claimed \
entries delivered more than N times are copied to the dead-letter stream (original fields plus \
origin_stream and origin_id) and acknowledged in the source group. --delete-consumer removes a \
consumer only when its pending list is empty.";

const BURST_LONG_ABOUT: &str = "Generate load against an Agent and verify delivery.\n\nWith \
--concurrency alone (closed model) C workers each send the next request as soon as the previous \
one answered. With --rate (open model) requests are started at a constant rate whether or not \
earlier ones answered, and latencies are measured from the intended send time (corrected for \
coordinated omission; the raw ones are reported too). The run ends after --requests requests \
(default 20) or after --duration. The report gives the target and achieved rate, status counts, \
error messages and latency percentiles from an HDR histogram; --timeseries adds one row per \
interval and --json prints the whole report as one JSON object. --verify opens --subscribers SSE \
streams (spread over every --subscribe-url, default --url) before sending, tags every request \
with a unique user id and reports, per subscriber, the notifications received, lost, duplicated \
and out of order, the publish-to-delivery latency and the time to the first event. Each \
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
    /// Base URL the subscribers connect to (repeatable; they are spread over all
    /// of them). Default: --url.
    #[arg(long, value_name = "URL", requires = "verify")]
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

const SUBSCRIBE_LONG_ABOUT: &str = "Follow the SSE notification stream of an Agent \
(GET /v1/notifications/event-stream) and print one line per notification.\n\nFormats: pretty \
(default on a terminal: time, type and the fields that matter), json (default when piped: one \
object per line {\"id\",\"type\",\"received_at\",\"message\"}) and raw (the data payload as \
sent). A dropped connection is retried with backoff and resumed after the last id received \
(Last-Event-ID); a server on Redis Pub/Sub cannot resume, which is said on stderr before \
continuing without. --from-start replays everything the server retains (Last-Event-ID 0-0), and \
--until-caught-up exits 0 once the replay is done. Exits 0 after --count notifications or after \
--timeout, 130 on Ctrl-C (with a summary on stderr); exits 1 when the server answers the first \
request with an error status, naming it and the server's message. Without --url and --sdk-key \
it follows the local serve of the config with the SDK key of the only datafile in ./datafiles.";

/// Notification kinds `subscribe --filter` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscribeKind {
    /// Decision notifications (flag, ab-test, feature-test, all-feature-variables).
    Decision,
    /// Track (conversion) notifications.
    Track,
    /// Datafile updates.
    DatafileUpdate,
}

impl From<SubscribeKind> for crate::wire::Kind {
    /// The wire kind, whose name the server's `filter` parameter takes.
    fn from(kind: SubscribeKind) -> Self {
        match kind {
            SubscribeKind::Decision => crate::wire::Kind::Decision,
            SubscribeKind::Track => crate::wire::Kind::Track,
            SubscribeKind::DatafileUpdate => crate::wire::Kind::DatafileUpdate,
        }
    }
}

/// Output formats of `subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscribeFormat {
    /// One readable line per notification, coloured on a terminal.
    Pretty,
    /// One JSON object per line: id, type, received_at, message.
    Json,
    /// The `data:` payload as the server sent it.
    Raw,
}

/// `agentctl subscribe`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("start").args(["last_event_id", "from_start"])))]
pub struct SubscribeArgs {
    /// Base URL of the Agent's API listener (`host:port` means http://host:port).
    /// Default: the API address of the config (server.host:api.port).
    #[arg(long, value_name = "URL", env = "AGENTCTL_URL")]
    pub url: Option<String>,
    /// SDK key sent in X-Optimizely-SDK-Key. Default: the only datafile in
    /// ./datafiles, else the only key of sdkKeys in the config.
    #[arg(long, value_name = "KEY", env = "AGENTCTL_SDK_KEY")]
    pub sdk_key: Option<String>,
    /// Only these kinds (repeatable or comma-separated).
    #[arg(long, value_name = "KIND", value_enum, value_delimiter = ',')]
    pub filter: Vec<SubscribeKind>,
    /// Output format [default: pretty on a terminal, else json].
    #[arg(long, value_enum, conflicts_with = "json")]
    pub format: Option<SubscribeFormat>,
    /// The same as --format json.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 after N notifications.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Exit 0 after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,
    /// Resume after this notification id (sent as Last-Event-ID).
    #[arg(long, value_name = "ID", conflicts_with = "from_start")]
    pub last_event_id: Option<String>,
    /// Replay everything the server retains first (Last-Event-ID 0-0).
    #[arg(long)]
    pub from_start: bool,
    /// Exit 0 once the replay asked for with --from-start or --last-event-id is done.
    #[arg(long, requires = "start")]
    pub until_caught_up: bool,
    /// Read as a consumer of this durable consumer group (Redis Streams servers).
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["last_event_id", "from_start", "until_caught_up"])]
    pub group: Option<String>,
    /// The consumer name within --group (default: the server picks one).
    #[arg(long, value_name = "NAME", requires = "group")]
    pub consumer: Option<String>,
    /// Exit 1 when the connection drops instead of reconnecting.
    #[arg(long)]
    pub no_reconnect: bool,
    /// Extra request header `NAME: VALUE` (repeatable).
    #[arg(long, value_name = "NAME: VALUE", value_parser = parse_header)]
    pub header: Vec<(String, String)>,
    /// Trust the CA certificates in this PEM file (for https URLs).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
}

/// `Name: value` → `(name, value)`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| "expected `NAME: VALUE`".to_owned())?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("bad header name {name:?}"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Output selection shared by every data-printing command.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Print JSON (one object per line) instead of a table; see the README for the schema.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A stream named by key or by SDK key; with neither, the stream of the default
/// SDK key (AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only
/// key of sdkKeys in the config).
#[derive(Debug, Args, Clone)]
#[command(group(ArgGroup::new("target").args(["stream", "sdk_key"])))]
pub struct StreamTarget {
    /// Stream key, e.g. stream:optimizely-sync-SDKKEY. Default: the stream of the
    /// default SDK key.
    #[arg(value_name = "STREAM")]
    pub stream: Option<String>,
    /// SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>). Default:
    /// AGENTCTL_SDK_KEY, else the only datafile in ./datafiles, else the only key of
    /// sdkKeys in the config.
    #[arg(long, value_name = "SDK_KEY")]
    pub sdk_key: Option<String>,
}

/// `agentctl inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Which view to show.
    #[command(subcommand)]
    pub view: InspectView,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Re-render the view every DURATION (e.g. 2s) until interrupted.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub watch: Option<Duration>,
}

/// The views of `agentctl inspect`.
#[derive(Debug, Subcommand)]
pub enum InspectView {
    /// Every stream matching a pattern: length, first/last entry, groups, pending, lag, memory.
    Streams {
        /// SCAN MATCH pattern selecting the streams.
        #[arg(long = "match", value_name = "PATTERN", default_value = DEFAULT_STREAM_PATTERN)]
        pattern: String,
    },
    /// One stream as XINFO STREAM reports it.
    Stream {
        /// The stream.
        #[command(flatten)]
        target: StreamTarget,
    },
    /// The consumer groups of a stream: consumers, pending, last-delivered-id, lag.
    Groups {
        /// The stream.
        #[command(flatten)]
        target: StreamTarget,
    },
    /// The consumers of a stream's groups: pending, idle, status.
    Consumers {
        /// The stream.
        #[command(flatten)]
        target: StreamTarget,
        /// Only this group (default: every group of the stream).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// A consumer idle for at least this long is reported as dead.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
        dead_after: Duration,
    },
    /// A group's pending entries (XPENDING), and the claim command that recovers idle ones.
    Pending {
        /// The stream.
        #[command(flatten)]
        target: StreamTarget,
        /// The consumer group. Default: notifications, else the stream's only group.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only entries owned by this consumer.
        #[arg(long, value_name = "CONSUMER")]
        consumer: Option<String>,
        /// Entries idle for at least this long are counted as claimable.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration_arg)]
        min_idle: Duration,
        /// At most this many entries are listed.
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        count: u64,
    },
    /// The number of entries in a stream (XLEN).
    Len {
        /// The stream.
        #[command(flatten)]
        target: StreamTarget,
    },
}

/// The pattern that matches every Agent notification stream.
pub const DEFAULT_STREAM_PATTERN: &str = "stream:optimizely-sync-*";
/// The consumer group upstream Agents read with.
pub const DEFAULT_GROUP: &str = "notifications";

/// `agentctl trim`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["stream", "sdk_key", "all"])))]
#[command(group(ArgGroup::new("policy").required(true).args(["maxlen", "max_age", "minid"])))]
pub struct TrimArgs {
    /// Stream key to trim.
    #[arg(value_name = "STREAM")]
    pub stream: Option<String>,
    /// SDK key whose stream to trim (stream:optimizely-sync-<SDK_KEY>).
    #[arg(long, value_name = "SDK_KEY")]
    pub sdk_key: Option<String>,
    /// Trim every stream matching --match.
    #[arg(long)]
    pub all: bool,
    /// SCAN MATCH pattern used with --all.
    #[arg(long = "match", value_name = "PATTERN", requires = "all", default_value = DEFAULT_STREAM_PATTERN)]
    pub pattern: String,
    /// Keep at most N entries (XTRIM MAXLEN).
    #[arg(long, value_name = "N")]
    pub maxlen: Option<u64>,
    /// Remove entries older than DURATION (XTRIM MINID now-DURATION).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub max_age: Option<Duration>,
    /// Remove entries whose id is lower than ID (XTRIM MINID).
    #[arg(long, value_name = "ID")]
    pub minid: Option<StreamId>,
    /// Trim exactly (`=`) instead of approximately (`~`).
    #[arg(long)]
    pub exact: bool,
    /// Compute and print what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Never remove entries a group has not been delivered yet or still has pending.
    #[arg(long)]
    pub safe: bool,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `agentctl claim`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The stream.
    #[command(flatten)]
    pub target: StreamTarget,
    /// The consumer group whose pending entries to claim.
    #[arg(long, value_name = "GROUP")]
    pub group: String,
    /// The consumer that becomes the owner of the claimed entries.
    #[arg(long, value_name = "CONSUMER")]
    pub to: String,
    /// Only entries idle for at least this long are claimed.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration_arg)]
    pub min_idle: Duration,
    /// Claim at most N entries.
    #[arg(long, value_name = "N", conflicts_with = "ids", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Only claim entries owned by this consumer.
    #[arg(long, value_name = "CONSUMER", conflicts_with = "ids")]
    pub from: Option<String>,
    /// Claim exactly these entry ids (XCLAIM).
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub ids: Vec<StreamId>,
    /// Show what would be claimed without claiming.
    #[arg(long)]
    pub dry_run: bool,
    /// Stream that receives entries delivered more than --max-deliveries times.
    #[arg(long, value_name = "STREAM", requires = "max_deliveries")]
    pub dead_letter: Option<String>,
    /// Delivery count above which a claimed entry goes to --dead-letter.
    #[arg(long, value_name = "N", requires = "dead_letter")]
    pub max_deliveries: Option<u64>,
    /// Afterwards, delete this consumer from the group if it holds no pending entries.
    #[arg(long, value_name = "CONSUMER")]
    pub delete_consumer: Option<String>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `agentctl completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells that completion scripts are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// Elvish.
    Elvish,
}

/// One example of a subcommand: shown by `--help` and in the man page's EXAMPLES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// The command line, starting with `agentctl`.
    pub command: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// An [`Example`] literal (a macro, so that the tables below are constants).
macro_rules! ex {
    ($command:expr, $meaning:expr $(,)?) => {
        Example {
            command: $command,
            meaning: $meaning,
        }
    };
}

/// The examples of a subcommand (empty for an unknown name).
/// `agentctl` itself has the everyday commands of the README's first ten minutes.
pub fn examples(subcommand: &str) -> &'static [Example] {
    match subcommand {
        "agentctl" => &[
            ex!(
                "agentctl serve",
                "The Agent-compatible service on the demo datafile, offline.",
            ),
            ex!(
                "agentctl subscribe --filter decision",
                "In a second terminal: follow its decision notifications.",
            ),
            ex!(
                "agentctl burst",
                "In a third: send 20 decisions and report the latencies.",
            ),
            ex!(
                "agentctl inspect pending",
                "With `agentctl --redis HOST:PORT serve`: what its durable groups left pending.",
            ),
        ],
        "serve" => &[
            ex!(
                "agentctl serve",
                "Serve the demo datafile of ./datafiles on 127.0.0.1:8080 (admin 8088, webhook 8089), \
                 notifications in memory.",
            ),
            ex!(
                "agentctl --redis 127.0.0.1:6379 serve --api-addr 127.0.0.1:18081 \
                 --admin-addr 127.0.0.1:18181 --webhook-addr 127.0.0.1:18281",
                "One instance of a fleet: notifications synchronised through Redis Streams.",
            ),
        ],
        "subscribe" => &[
            ex!(
                "agentctl subscribe --filter decision",
                "Follow the decisions of the local serve (SDK key: the only datafile in ./datafiles).",
            ),
            ex!(
                "agentctl subscribe --sdk-key demo --filter track --count 100 --json",
                "Print the next 100 track notifications as JSON lines, then exit.",
            ),
            ex!(
                "agentctl subscribe --from-start --until-caught-up > backlog.jsonl",
                "Save everything a Redis Streams serve retains, then exit.",
            ),
        ],
        "burst" => &[
            ex!(
                "agentctl burst",
                "Send 20 decisions to the local serve and report the latencies.",
            ),
            ex!(
                "agentctl burst --flags promo_banner --concurrency 16 --duration 10s \
                 --threshold 'p99<5ms'",
                "Ten seconds of load from 16 workers; exit 1 when p99 is 5 ms or more.",
            ),
            ex!(
                "agentctl burst --requests 1000 --verify --subscribers 4",
                "Check that every notification of 1000 decisions reaches 4 subscribers.",
            ),
        ],
        "inspect" => &[
            ex!(
                "agentctl inspect pending",
                "The pending entries of the default SDK key's stream, and how to claim idle ones.",
            ),
            ex!(
                "agentctl --redis 127.0.0.1:6379 inspect streams",
                "Every notification stream of that Redis.",
            ),
            ex!(
                "agentctl inspect groups --sdk-key demo --json --watch 2s",
                "The consumer groups of stream:optimizely-sync-demo as JSON, every 2 seconds.",
            ),
        ],
        "trim" => &[
            ex!(
                "agentctl trim --sdk-key demo --maxlen 1000 --safe --dry-run",
                "What trimming the stream to about 1000 entries would remove, sparing pending ones.",
            ),
            ex!(
                "agentctl trim --all --max-age 24h",
                "Remove entries older than a day from every notification stream.",
            ),
        ],
        "claim" => &[
            ex!(
                "agentctl claim --group notifications --to consumer-2 --dry-run",
                "What would move to consumer-2 from the default SDK key's stream.",
            ),
            ex!(
                "agentctl claim --sdk-key demo --group notifications --to consumer-2 \
                 --dead-letter stream:dead-letter --max-deliveries 5",
                "Claim idle entries; those delivered more than 5 times go to a dead-letter stream.",
            ),
        ],
        "completions" => &[
            ex!(
                "agentctl completions bash > ~/.local/share/bash-completion/completions/agentctl",
                "Install bash completion for the current user.",
            ),
            ex!(
                "agentctl completions zsh > \"${fpath[1]}/_agentctl\"",
                "Install zsh completion.",
            ),
        ],
        _ => &[],
    }
}

/// The exit codes of a subcommand and what each means.
pub fn exit_status(subcommand: &str) -> &'static [(&'static str, &'static str)] {
    const USAGE: (&str, &str) = (
        "2",
        "Usage error: an unknown or misused flag, or a value that cannot be resolved (no SDK key).",
    );
    const INTERRUPTED: (&str, &str) = ("130", "Interrupted (Ctrl-C).");
    match subcommand {
        "serve" => &[
            ("0", "Stopped by SIGTERM after a graceful shutdown."),
            (
                "1",
                "Could not start: bad configuration, a listener that cannot bind, no datafiles.",
            ),
            USAGE,
            (
                "130",
                "Stopped by SIGINT (Ctrl-C) after a graceful shutdown.",
            ),
        ],
        "subscribe" => &[
            (
                "0",
                "--count notifications printed, --timeout passed, or caught up (--until-caught-up).",
            ),
            (
                "1",
                "The server cannot be reached or answered an error; a drop with --no-reconnect.",
            ),
            USAGE,
            INTERRUPTED,
        ],
        "burst" => &[
            (
                "0",
                "Every request succeeded (or the errors threshold held) and nothing was lost.",
            ),
            (
                "1",
                "A request failed, a --threshold was violated, or --verify lost a notification.",
            ),
            USAGE,
            INTERRUPTED,
        ],
        "completions" => &[("0", "The script was printed."), USAGE],
        _ => &[
            ("0", "Success, also when stdout is a closed pipe."),
            (
                "1",
                "Redis unreachable, the stream or group missing, or another error (one line on stderr).",
            ),
            USAGE,
            INTERRUPTED,
        ],
    }
}

/// `Examples:` and `Exit status:` as text, for the end of `--help`.
fn after_help_of(subcommand: &str) -> String {
    let mut text = String::from("Examples:\n");
    for example in examples(subcommand) {
        text.push_str(&format!(
            "  {}\n      {}\n",
            example.command, example.meaning
        ));
    }
    text.push_str("\nExit status:\n");
    for (code, meaning) in exit_status(subcommand) {
        text.push_str(&format!("  {code:<5}{meaning}\n"));
    }
    text.trim_end().to_owned()
}

/// The whole command line definition: [`Cli`] with each subcommand's examples and
/// exit status appended to its long help. `main`, the man pages, the reference
/// pages and the completions all start from this one value.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        let after = after_help_of(&name);
        cmd = cmd.mut_subcommand(name, |sub| sub.after_long_help(after));
    }
    cmd
}

/// A Go-style duration (`500ms`, `5s`, `1m30s`); zero allowed.
fn duration_arg(text: &str) -> Result<Duration, String> {
    duration::parse(text)
}

/// A Go-style duration that must be greater than zero.
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let value = duration::parse(text)?;
    if value.is_zero() {
        return Err("expected a duration greater than zero, such as 500ms, 5s or 1m".to_owned());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn trim_needs_exactly_one_target_and_one_policy() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.kind());
        assert!(parse(&["agentctl", "trim", "s", "--maxlen", "5"]).is_ok());
        assert!(parse(&["agentctl", "trim", "s", "--all", "--maxlen", "5"]).is_err());
        assert!(parse(&["agentctl", "trim", "s"]).is_err());
        assert!(parse(&["agentctl", "trim", "s", "--maxlen", "5", "--minid", "1-0"]).is_err());
        assert!(parse(&["agentctl", "trim", "s", "--max-age", "0s"]).is_err());
        assert!(parse(&["agentctl", "trim", "s", "--minid", "abc"]).is_err());
    }

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

    #[test]
    fn claim_flag_rules() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|_| ());
        let base = ["agentctl", "claim", "s", "--group", "g", "--to", "c"];
        assert!(parse(&base).is_ok());
        let with = |extra: &[&str]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            parse(&all)
        };
        assert!(with(&["--dead-letter", "dlq"]).is_err());
        assert!(with(&["--dead-letter", "dlq", "--max-deliveries", "3"]).is_ok());
        assert!(with(&["--ids", "1-1", "--from", "x"]).is_err());
        assert!(with(&["--ids", "1-1", "2-2"]).is_ok());
        assert!(with(&["--min-idle", "soon"]).is_err());
    }
}
