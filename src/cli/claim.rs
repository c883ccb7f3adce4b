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
consumer only when its pending list is empty.\n\n--delete-idle-groups DURATION is the repair for \
groups nobody reads any more (for example many groups made by clients with ?group=…): it deletes \
(XGROUP DESTROY) every group of the stream whose consumers have all been idle for at least \
DURATION, together with its pending entries, so `trim --safe` can trim past them again. A group \
without consumers counts as idle for as long ago as its last delivered entry was added (never \
delivered: idle). Each group is checked again just before it is deleted. Before Redis 7.2 only a \
delivery restarts a consumer's idle time (an empty read does not): pick a DURATION longer than the \
quietest stream's gaps. --group and --to are not used in this mode; --dry-run lists the groups \
that would be deleted.";

/// `agentctl claim`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The stream.
    #[command(flatten)]
    pub target: StreamTarget,
    /// The consumer group whose pending entries to claim.
    #[arg(
        long,
        value_name = "GROUP",
        required_unless_present = "delete_idle_groups"
    )]
    pub group: Option<String>,
    /// The consumer that becomes the owner of the claimed entries.
    #[arg(
        long,
        value_name = "CONSUMER",
        required_unless_present = "delete_idle_groups"
    )]
    pub to: Option<String>,
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
    /// Instead of claiming: delete the stream's consumer groups whose consumers
    /// have all been idle at least this long (with their pending entries).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = duration_arg,
        conflicts_with_all = ["group", "to", "count", "from", "ids", "dead_letter", "max_deliveries", "delete_consumer"]
    )]
    pub delete_idle_groups: Option<Duration>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}
