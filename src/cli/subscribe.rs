//! `agentctl subscribe`: its options, long help, notification kinds and formats.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};

use super::parse_positive_duration;

/// The long help of `subscribe`.
pub(super) const SUBSCRIBE_LONG_ABOUT: &str = "Follow the SSE notification stream of an Agent \
(GET /v1/notifications/event-stream) and print one line per notification.\n\nFormats: pretty \
(default on a terminal: time, type and the fields that matter), json (default when piped: one \
object per line {\"id\",\"type\",\"received_at\",\"message\"}) and raw (the data payload as \
sent). A dropped connection is retried with backoff, on the next --url when several are given (round \
robin), and resumed after the last id received (Last-Event-ID): an event's id, or the resume \
point a Redis Streams server sends first (an id-only frame), so nothing sent while reconnecting \
is missed even before the first event; a server on Redis Pub/Sub cannot resume, which is said on stderr before \
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
    /// Repeatable or comma-separated: a dropped connection resumes on the next one
    /// (round robin). Default: the API address of the config (server.host:api.port).
    #[arg(long, value_name = "URL", env = "AGENTCTL_URL", value_delimiter = ',')]
    pub url: Vec<String>,
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
    #[arg(long, value_name = "NAME: VALUE", value_parser = super::parse_header)]
    pub header: Vec<(String, String)>,
    /// Trust the CA certificates in this PEM file (for https URLs).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
}
