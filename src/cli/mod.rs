//! The command line: every clap type, and nothing that does I/O.
//!
//! Commands never see these types directly for settings: `main` folds the global
//! options into [`crate::config::Settings`] and hands each command its own `Args`
//! struct plus the resolved settings. Value parsers here are pure functions.
//!
//! One file per subcommand holds its `Args` types, long help and value parsers;
//! `help.rs` holds the examples and exit statuses. Everything is re-exported
//! here, so callers name `crate::cli::X`.

mod burst;
mod claim;
mod completions;
mod help;
mod inspect;
mod serve;
mod subscribe;
mod trim;

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

pub use burst::{BurstArgs, BurstEndpoint, COUNT_METRICS, LATENCY_METRICS, Threshold, ThresholdOp};
pub use claim::ClaimArgs;
pub use completions::{CompletionsArgs, Shell};
pub use help::{Example, examples, exit_status};
pub use inspect::{InspectArgs, InspectView};
pub use serve::{DATAFILES_ENV, DEFAULT_DATAFILES, ServeArgs};
pub use subscribe::{SubscribeArgs, SubscribeFormat, SubscribeKind};
pub use trim::TrimArgs;

use crate::config::duration;
use burst::BURST_LONG_ABOUT;
use claim::CLAIM_LONG_ABOUT;
use help::after_help_of;
use serve::SERVE_LONG_ABOUT;
use subscribe::SUBSCRIBE_LONG_ABOUT;
use trim::TRIM_LONG_ABOUT;

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
    /// `rediss://…` for TLS, `redis+cluster://[user:pass@]h1:p1,h2:p2` for a Redis
    /// Cluster, `redis+sentinel://[user:pass@]s1:p1,s2:p2/NAME` for the primary
    /// that sentinels monitor as NAME. Overrides synchronization.pubsub.redis
    /// (host, cluster and sentinel); with
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

/// The pattern that matches every Agent notification stream.
pub const DEFAULT_STREAM_PATTERN: &str = "stream:optimizely-sync-*";
/// The consumer group upstream Agents read with.
pub const DEFAULT_GROUP: &str = "notifications";

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
