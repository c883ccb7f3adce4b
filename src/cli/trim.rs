//! `agentctl trim`: its options and long help.

use std::time::Duration;

use clap::{ArgGroup, Args};

use super::{DEFAULT_STREAM_PATTERN, OutputArgs, parse_positive_duration};
use crate::store::StreamId;

/// The long help of `trim`.
pub(super) const TRIM_LONG_ABOUT: &str = "Remove old entries from notification streams (XTRIM by MAXLEN or \
MINID).\n\nTrimming is approximate (`~`, whole radix-tree nodes only, cheap for Redis) unless \
--exact is given. For each stream the length before and after and the number of entries removed \
are printed. --dry-run computes the figures without deleting anything. --safe never removes an \
entry that a consumer group has not been delivered yet or that is still pending in a group: the \
trim threshold is lowered to stay below every group's last-delivered-id and oldest pending id, \
and the output says how many entries were held back and by which group.";

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
