//! `agentctl inspect`: its options and views.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{
    DEFAULT_STREAM_PATTERN, OutputArgs, StreamTarget, duration_arg, parse_positive_duration,
};

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
