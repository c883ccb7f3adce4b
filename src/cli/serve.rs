//! `agentctl serve`: its options, long help and the default datafiles directory.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// The long help of `serve`.
pub(super) const SERVE_LONG_ABOUT: &str = "Run the Agent-compatible HTTP service: decisions, track, the SSE \
notification stream, webhook and admin endpoints.\n\nThree listeners, as the upstream Agent: the API \
(/v1/decide, /v1/activate, /v1/track, /v1/config, /v1/datafile, /v1/override, /v1/lookup, /v1/save, \
/v1/reset, /v1/batch, /v1/notifications/event-stream) on server.host:api.port (8080), the admin \
endpoints (/health, /info, /metrics) on admin.port (8088) and the datafile webhook \
(/webhooks/optimizely) on webhook.port (8089). Once all three are bound, one line is printed to \
stdout: `listening api=ADDR admin=ADDR webhook=ADDR`. Datafiles are read from DIR/<sdkKey>.json, \
else fetched from client.datafileURLTemplate. SIGINT (Ctrl-C) or SIGTERM stops accepting, ends \
the notification streams and flushes queued events (waiting at most client.eventShutdownTimeout \
for the event endpoint); then SIGTERM exits 0 and SIGINT 130. Logs go to stderr: readable lines \
on a terminal, JSON lines otherwise; log.pretty, when set, decides. With tracing.enabled every API \
request is an OpenTelemetry span, with children for the decision, the datafile fetch and the \
notification publish, written to tracing.opentelemetry.services.stdout.filename or sent to an \
OTLP collector (tracing.opentelemetry.default: remote); queued spans are flushed at shutdown \
(at most 5 s).";

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
