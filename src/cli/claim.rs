//! `agentctl claim`: its options and long help.

use std::time::Duration;

use clap::Args;

use super::{OutputArgs, StreamTarget, duration_arg};
use crate::store::StreamId;

/// The long help of `claim`.
pub(super) const CLAIM_LONG_ABOUT: &str = "Move stuck pending entries to a live consumer (XAUTOCLAIM / \
XCLAIM).\n\nWithout --ids, sweeps the group's pending entries list with XAUTOCLAIM, following the \
cursor until the whole list was visited or --count entries were claimed; with --from, only the \
entries owned by that consumer are claimed (XPENDING + XCLAIM). With --ids, exactly those entries \
are claimed with XCLAIM. Entries that were deleted from the stream while pending are reported \
(and Redis drops them from the pending list). With --dead-letter and --max-deliveries, claimed \
entries delivered more than N times are copied to the dead-letter stream (original fields plus \
origin_stream and origin_id) and acknowledged in the source group. --delete-consumer removes a \
consumer only when its pending list is empty.";

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
