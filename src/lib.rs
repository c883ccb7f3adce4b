//! agentctl: run, test and operate the notification system of a feature-flag
//! decision service ("the Agent") across many instances.
//!
//! Layers, and the only direction in which they may depend on each other:
//!
//! - [`cli`] holds the clap types and nothing else (no I/O).
//! - [`config`] resolves [`config::Settings`]: defaults, then the YAML file, then
//!   `OPTIMIZELY_*` environment variables, then flags.
//! - [`util`] holds the small policies the long-lived layers share: the clock,
//!   poison-tolerant locks, capped exponential back-off ([`util::Backoff`]) and
//!   error chains.
//! - [`wire`] is the vocabulary server and clients share (kind names, filters, the
//!   stream envelope, SSE framing, header and query names); it depends on nothing
//!   else in the crate.
//! - [`decide`] is the decision engine: datafiles, bucketing, audiences, decide,
//!   activate, track. Pure: no I/O, and it depends on nothing else in the crate.
//! - [`store`] is the Redis side: connections, retry policy, version detection,
//!   typed stream/group/pending operations. It depends only on [`config`].
//! - [`notify`] is the notification model and the hub that fans notifications out to
//!   SSE subscribers: in memory, or through Redis Streams or Pub/Sub ([`store`]).
//! - [`outbound`] holds the HTTP clients `serve` calls out with: the event
//!   dispatcher and the CMAB prediction client. It depends only on [`config`] and
//!   [`util`].
//! - [`telemetry`] is OpenTelemetry tracing (`tracing.*`): the exporter, the
//!   `tracing` layer and the span target the other layers write spans with. It
//!   depends only on [`config`] and [`util`].
//! - [`server`] is the `serve` HTTP service; it uses [`decide`], [`notify`],
//!   [`outbound`], [`telemetry`] and [`config`].
//! - [`cmd`] holds one thin adapter per subcommand; it may use every layer above and
//!   is the only place that prints.
//!
//! `main.rs` parses the command line, initialises logging (and, for `serve`,
//! tracing) and maps errors to exit codes.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod decide;
pub mod histogram;
pub mod notify;
pub mod outbound;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod util;
pub mod wire;
