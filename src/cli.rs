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
    /// `serve` it also turns notification sync through Redis on.
    #[arg(long, global = true, value_name = "ADDR")]
    pub redis: Option<String>,

    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
    /// Generate load against an Agent and verify delivery (not available yet).
    Burst,
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
else fetched from client.datafileURLTemplate. SIGINT or SIGTERM stops accepting, ends the \
notification streams, flushes queued events and exits 0.";

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
        default_value = "./datafiles"
    )]
    pub datafiles: PathBuf,
}

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

const SUBSCRIBE_LONG_ABOUT: &str = "Follow the SSE notification stream of an Agent \
(GET /v1/notifications/event-stream) and print one line per notification.\n\nFormats: pretty \
(default on a terminal: time, type and the fields that matter), json (default when piped: one \
object per line {\"id\",\"type\",\"received_at\",\"message\"}) and raw (the data payload as \
sent). A dropped connection is retried with backoff and resumed after the last id received \
(Last-Event-ID); a server on Redis Pub/Sub cannot resume, which is said on stderr before \
continuing without. --from-start replays everything the server retains (Last-Event-ID 0-0), and \
--until-caught-up exits 0 once the replay is done. Exits 0 after --count notifications, after \
--timeout or on Ctrl-C (with a summary on stderr); exits 1 when the server answers the first \
request with an error status, naming it and the server's message.";

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

impl SubscribeKind {
    /// The name the server's `filter` parameter takes.
    pub fn name(self) -> &'static str {
        match self {
            SubscribeKind::Decision => "decision",
            SubscribeKind::Track => "track",
            SubscribeKind::DatafileUpdate => "datafile-update",
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
pub struct SubscribeArgs {
    /// Base URL of the Agent's API listener.
    #[arg(long, value_name = "URL", default_value = "http://localhost:8080")]
    pub url: String,
    /// SDK key sent in X-Optimizely-SDK-Key.
    #[arg(long, value_name = "KEY")]
    pub sdk_key: String,
    /// Only these kinds (repeatable or comma-separated).
    #[arg(long, value_name = "KIND", value_enum, value_delimiter = ',')]
    pub filter: Vec<SubscribeKind>,
    /// Output format [default: pretty on a terminal, else json].
    #[arg(long, value_enum)]
    pub format: Option<SubscribeFormat>,
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
    #[arg(long)]
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

/// A stream named by key or by SDK key.
#[derive(Debug, Args, Clone)]
#[command(group(ArgGroup::new("target").required(true).args(["stream", "sdk_key"])))]
pub struct StreamTarget {
    /// Stream key, e.g. stream:optimizely-sync-SDKKEY.
    #[arg(value_name = "STREAM")]
    pub stream: Option<String>,
    /// SDK key whose stream to use (stream:optimizely-sync-<SDK_KEY>).
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
        /// The consumer group.
        #[arg(long, value_name = "GROUP", default_value = DEFAULT_GROUP)]
        group: String,
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
