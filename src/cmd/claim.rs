//! `agentctl claim`: recovery of entries stuck in a consumer group's pending list
//! (XAUTOCLAIM sweep, or XPENDING + XCLAIM), with dead-lettering of poison entries
//! and safe removal of dead consumers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use super::{human_ms, or_dash, print, print_json, stream_of, table, table_text};
use crate::cli::ClaimArgs;
use crate::config::Settings;
use crate::store::{IdleGroup, PendingEntry, PendingQuery, StreamEntry, group_idle_ms};
use crate::store::{Store, StreamId};

/// Entries claimed per XAUTOCLAIM / XCLAIM round trip.
const CLAIM_BATCH: u64 = 100;

/// `claim --json`.
#[derive(Debug, Serialize)]
pub struct ClaimReport {
    /// Stream key.
    pub stream: String,
    /// Group.
    pub group: String,
    /// New owner.
    pub to: String,
    /// The `--min-idle` threshold (ms).
    pub min_idle_ms: u64,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Entries claimed (dry run: that would be claimed), with their delivery count
    /// after the claim (dry run: before).
    pub claimed: Vec<ClaimedEntry>,
    /// Ids that were pending but had been deleted from the stream (Redis drops
    /// them from the pending list).
    pub deleted: Vec<String>,
    /// Requested `--ids` that were not claimed: not pending in the group, or not
    /// idle long enough.
    pub skipped: Vec<String>,
    /// Claimed entries moved to the dead-letter stream and acknowledged.
    pub dead_lettered: Vec<String>,
    /// The dead-letter stream, when configured.
    pub dead_letter_stream: Option<String>,
    /// The consumer deleted with `--delete-consumer`, when it was.
    pub deleted_consumer: Option<String>,
}

/// One claimed entry.
#[derive(Debug, Serialize)]
pub struct ClaimedEntry {
    /// Entry id.
    pub id: String,
    /// Owner before the claim, when known (XAUTOCLAIM does not say).
    pub previous_owner: Option<String>,
    /// Delivery count.
    pub deliveries: Option<u64>,
}

/// Runs `claim`.
///
/// # Errors
///
/// Redis unreachable, stream or group missing, `--delete-consumer` refused, or
/// stdout closed.
pub async fn run(args: &ClaimArgs, settings: &Settings) -> anyhow::Result<()> {
    let store = super::connect(settings).await?;
    let key = stream_of(&args.target, settings)?;
    store.require_stream(&key).await?;
    if let Some(min_idle) = args.delete_idle_groups {
        return delete_idle_groups(&store, &key, min_idle, args).await;
    }
    // clap requires both unless --delete-idle-groups is given.
    let (Some(group), Some(to)) = (args.group.as_deref(), args.to.as_deref()) else {
        bail!("--group and --to are required to claim (or give --delete-idle-groups)");
    };
    store.require_group(&key, group).await?;

    let mut report = ClaimReport {
        stream: key.clone(),
        group: group.to_owned(),
        to: to.to_owned(),
        min_idle_ms: u64::try_from(args.min_idle.as_millis()).unwrap_or(u64::MAX),
        dry_run: args.dry_run,
        claimed: Vec::new(),
        deleted: Vec::new(),
        skipped: Vec::new(),
        dead_lettered: Vec::new(),
        dead_letter_stream: args.dead_letter.clone(),
        deleted_consumer: None,
    };

    if args.dry_run {
        dry_run(&store, &key, group, args, &mut report).await?;
    } else {
        let claimed = claim(&store, &key, (group, to), args, &mut report).await?;
        let entries: Vec<&StreamEntry> = claimed.iter().map(|c| &c.entry).collect();
        let deliveries = delivery_counts(&store, &key, group, to, &entries).await?;
        let mut poison = Vec::new();
        for Claimed {
            entry,
            previous_owner,
        } in claimed
        {
            let count = deliveries.get(&entry.id).copied();
            let id = entry.id.to_string();
            if args
                .max_deliveries
                .zip(count)
                .is_some_and(|(max, count)| count > max)
            {
                poison.push(entry);
            }
            report.claimed.push(ClaimedEntry {
                id,
                previous_owner,
                deliveries: count,
            });
        }
        if let Some(dead_letter) = &args.dead_letter {
            store.dead_letter(&key, group, dead_letter, &poison).await?;
            report.dead_lettered = poison.iter().map(|e| e.id.to_string()).collect();
        }
    }

    let refusal = match &args.delete_consumer {
        Some(consumer) => {
            delete_consumer(&store, &key, group, args.dry_run, consumer, &mut report).await?
        }
        None => None,
    };
    if args.output.json {
        print_json(&report)?
    } else {
        print(&render(&report))?
    }
    match refusal {
        Some(reason) => bail!(reason),
        None => Ok(()),
    }
}

/// What a real run would claim, from XPENDING (nothing changes).
async fn dry_run(
    store: &Store,
    key: &str,
    group: &str,
    args: &ClaimArgs,
    report: &mut ClaimReport,
) -> anyhow::Result<()> {
    let query = PendingQuery {
        min_idle: Some(args.min_idle),
        consumer: args.from.clone(),
        ..PendingQuery::default()
    };
    let mut candidates = store.all_pending_entries(key, group, &query).await?;
    if !args.ids.is_empty() {
        let wanted: BTreeSet<StreamId> = args.ids.iter().copied().collect();
        candidates.retain(|e| wanted.contains(&e.id));
        let found: BTreeSet<StreamId> = candidates.iter().map(|e| e.id).collect();
        report.skipped = wanted.difference(&found).map(ToString::to_string).collect();
    }
    if let Some(count) = args.count {
        candidates.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    }
    let existing = store
        .existing_ids(key, &candidates.iter().map(|e| e.id).collect::<Vec<_>>())
        .await?;
    for entry in candidates {
        if !existing.contains(&entry.id) {
            report.deleted.push(entry.id.to_string());
            continue;
        }
        if let (Some(max), Some(_)) = (args.max_deliveries, &args.dead_letter)
            && entry.deliveries + 1 > max
        {
            report.dead_lettered.push(entry.id.to_string());
        }
        report.claimed.push(pending_to_claimed(entry));
    }
    Ok(())
}

fn pending_to_claimed(entry: PendingEntry) -> ClaimedEntry {
    ClaimedEntry {
        id: entry.id.to_string(),
        previous_owner: Some(entry.consumer),
        deliveries: Some(entry.deliveries),
    }
}

/// A claimed entry (with its fields, for dead-lettering) and its owner before.
struct Claimed {
    entry: StreamEntry,
    previous_owner: Option<String>,
}

/// Claims for real (in `group`, for consumer `to`); records deleted and skipped
/// ids in the report.
async fn claim(
    store: &Store,
    key: &str,
    (group, to): (&str, &str),
    args: &ClaimArgs,
    report: &mut ClaimReport,
) -> anyhow::Result<Vec<Claimed>> {
    let limit = args.count.unwrap_or(u64::MAX);
    if args.ids.is_empty() && args.from.is_none() {
        // The sweep: follow XAUTOCLAIM's cursor until it wraps to 0-0 or the limit.
        let mut claimed = Vec::new();
        let mut cursor = StreamId::ZERO;
        loop {
            let want = CLAIM_BATCH.min(limit.saturating_sub(claimed.len() as u64));
            let step = store
                .autoclaim(key, group, to, args.min_idle, cursor, want)
                .await?;
            claimed.extend(step.claimed.into_iter().map(|entry| Claimed {
                entry,
                previous_owner: None,
            }));
            report
                .deleted
                .extend(step.deleted.iter().map(ToString::to_string));
            cursor = step.next;
            if cursor == StreamId::ZERO || claimed.len() as u64 >= limit {
                return Ok(claimed);
            }
        }
    }
    // Explicit ids, or the entries one consumer holds: XCLAIM them by id.
    let mut owners = BTreeMap::new();
    let ids: Vec<StreamId> = if args.ids.is_empty() {
        let query = PendingQuery {
            min_idle: Some(args.min_idle),
            consumer: args.from.clone(),
            ..PendingQuery::default()
        };
        let mut owned = store.all_pending_entries(key, group, &query).await?;
        owned.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        owned
            .into_iter()
            .map(|e| {
                owners.insert(e.id, e.consumer);
                e.id
            })
            .collect()
    } else {
        args.ids.clone()
    };
    let mut claimed = Vec::new();
    for chunk in ids.chunks(CLAIM_BATCH as usize) {
        for entry in store
            .claim_ids(key, group, to, args.min_idle, chunk)
            .await?
        {
            let previous_owner = owners.remove(&entry.id);
            claimed.push(Claimed {
                entry,
                previous_owner,
            });
        }
    }
    let got: BTreeSet<StreamId> = claimed.iter().map(|c| c.entry.id).collect();
    let missing: Vec<StreamId> = ids.iter().copied().filter(|id| !got.contains(id)).collect();
    let existing = store.existing_ids(key, &missing).await?;
    for id in missing {
        let bucket = if existing.contains(&id) {
            &mut report.skipped
        } else {
            &mut report.deleted
        };
        bucket.push(id.to_string());
    }
    Ok(claimed)
}

/// Delivery counts of freshly claimed entries, read back from XPENDING.
async fn delivery_counts(
    store: &Store,
    key: &str,
    group: &str,
    owner: &str,
    claimed: &[&StreamEntry],
) -> anyhow::Result<BTreeMap<StreamId, u64>> {
    let Some(first) = claimed.iter().map(|e| e.id).min() else {
        return Ok(BTreeMap::new());
    };
    let wanted: BTreeSet<StreamId> = claimed.iter().map(|e| e.id).collect();
    let query = PendingQuery {
        start: Some(first),
        consumer: Some(owner.to_owned()),
        ..PendingQuery::default()
    };
    Ok(store
        .all_pending_entries(key, group, &query)
        .await?
        .into_iter()
        .filter(|e| wanted.contains(&e.id))
        .map(|e| (e.id, e.deliveries))
        .collect())
}

/// Deletes the consumer when it holds nothing; otherwise returns why it refused.
async fn delete_consumer(
    store: &Store,
    key: &str,
    group: &str,
    dry_run: bool,
    consumer: &str,
    report: &mut ClaimReport,
) -> anyhow::Result<Option<String>> {
    let consumers = store.consumers(key, group).await?;
    let Some(info) = consumers.iter().find(|c| c.name == consumer) else {
        return Ok(Some(format!(
            "consumer {consumer:?} is not in group {group:?} of {key}"
        )));
    };
    if info.pending > 0 {
        return Ok(Some(format!(
            "refusing to delete consumer {consumer:?}: it still holds {} pending entr{} (claim them first with --from {consumer})",
            info.pending,
            if info.pending == 1 { "y" } else { "ies" }
        )));
    }
    if !dry_run {
        store.delete_consumer(key, group, consumer).await?;
    }
    report.deleted_consumer = Some(consumer.to_owned());
    Ok(None)
}

/// `claim --delete-idle-groups --json`.
#[derive(Debug, Serialize)]
pub struct IdleGroupsReport {
    /// Stream key.
    pub stream: String,
    /// The `--delete-idle-groups` threshold (ms).
    pub min_idle_ms: u64,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The groups found idle, and what became of each.
    pub groups: Vec<IdleGroupOutcome>,
}

/// One idle group.
#[derive(Debug, Serialize)]
pub struct IdleGroupOutcome {
    /// Group name.
    pub group: String,
    /// Consumers it had.
    pub consumers: u64,
    /// Entries pending in it (gone with it).
    pub pending: u64,
    /// How long it had been idle (ms).
    pub idle_ms: u64,
    /// `deleted`, `would be deleted` (dry run), or `in use again` (a consumer read
    /// between the listing and the deletion: kept).
    pub outcome: &'static str,
}

/// `--delete-idle-groups`: XGROUP DESTROY for every group idle at least `min_idle`,
/// each checked again just before.
async fn delete_idle_groups(
    store: &Store,
    key: &str,
    min_idle: Duration,
    args: &ClaimArgs,
) -> anyhow::Result<()> {
    let mut report = IdleGroupsReport {
        stream: key.to_owned(),
        min_idle_ms: u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX),
        dry_run: args.dry_run,
        groups: Vec::new(),
    };
    for IdleGroup { group, idle_ms } in store.idle_groups(key, min_idle).await? {
        let outcome = if args.dry_run {
            "would be deleted"
        } else {
            // A consumer may have come back since the listing.
            let consumers = store.consumers(key, &group.name).await?;
            let now = store.server_time_ms().await?;
            let still_idle = group_idle_ms(&group, &consumers, now) >= report.min_idle_ms;
            if still_idle && store.destroy_group(key, &group.name).await? {
                "deleted"
            } else {
                "in use again"
            }
        };
        report.groups.push(IdleGroupOutcome {
            group: group.name,
            consumers: group.consumers,
            pending: group.pending,
            idle_ms,
            outcome,
        });
    }
    if args.output.json {
        print_json(&report)
    } else {
        print(&render_idle_groups(&report))
    }
}

fn render_idle_groups(report: &IdleGroupsReport) -> String {
    let mut t = table(["GROUP", "CONSUMERS", "PENDING", "IDLE", "OUTCOME"]);
    for g in &report.groups {
        t.add_row([
            g.group.clone(),
            g.consumers.to_string(),
            g.pending.to_string(),
            human_ms(g.idle_ms),
            g.outcome.to_owned(),
        ]);
    }
    let done = report
        .groups
        .iter()
        .filter(|g| g.outcome != "in use again")
        .count();
    let mut out = table_text(&t);
    out.push_str(&format!(
        "\n{}{done} consumer group{} idle >= {} {}deleted from {}",
        if report.dry_run { "dry run: " } else { "" },
        if done == 1 { "" } else { "s" },
        human_ms(report.min_idle_ms),
        if report.dry_run { "would be " } else { "" },
        report.stream,
    ));
    out
}

fn render(report: &ClaimReport) -> String {
    let mut t = table(["ID", "PREVIOUS OWNER", "DELIVERIES", "OUTCOME"]);
    let dead: BTreeSet<&str> = report.dead_lettered.iter().map(String::as_str).collect();
    let verb = if report.dry_run { "would be " } else { "" };
    for c in &report.claimed {
        let outcome = if dead.contains(c.id.as_str()) {
            format!("{verb}dead-lettered")
        } else {
            format!("{verb}claimed")
        };
        t.add_row([
            c.id.clone(),
            or_dash(c.previous_owner.as_deref()),
            or_dash(c.deliveries),
            outcome,
        ]);
    }
    for id in &report.deleted {
        t.add_row([
            id.clone(),
            "-".to_owned(),
            "-".to_owned(),
            "deleted while pending".to_owned(),
        ]);
    }
    for id in &report.skipped {
        t.add_row([
            id.clone(),
            "-".to_owned(),
            "-".to_owned(),
            "not claimable".to_owned(),
        ]);
    }
    let mut out = table_text(&t);
    let claimed = report.claimed.len() - dead.len().min(report.claimed.len());
    out.push_str(&format!(
        "\n{}{claimed} entr{} {}claimed for {} in group {} (idle >= {})",
        if report.dry_run { "dry run: " } else { "" },
        if claimed == 1 { "y" } else { "ies" },
        if report.dry_run { "would be " } else { "" },
        report.to,
        report.group,
        human_ms(report.min_idle_ms),
    ));
    if let Some(dlq) = &report.dead_letter_stream {
        out.push_str(&format!(
            ", {} dead-lettered to {dlq}",
            report.dead_lettered.len()
        ));
    }
    if !report.deleted.is_empty() {
        out.push_str(&format!(", {} deleted while pending", report.deleted.len()));
    }
    if !report.skipped.is_empty() {
        out.push_str(&format!(", {} not claimable", report.skipped.len()));
    }
    if let Some(consumer) = &report.deleted_consumer {
        out.push_str(&format!(
            "\n{}deleted consumer {consumer}",
            if report.dry_run { "would have " } else { "" }
        ));
    }
    out
}
