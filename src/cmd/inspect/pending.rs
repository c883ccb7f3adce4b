//! `inspect pending`: a group's pending list (summary and oldest entries), what
//! is claimable, and the `agentctl claim` command that recovers it.

use std::time::Duration;

use serde::Serialize;

use crate::cli::DEFAULT_GROUP;
use crate::cmd::{Usage, human_ms, or_dash, shell_quote, table, table_text};
use crate::store::{PendingQuery, Store};

/// `inspect pending --json`.
#[derive(Debug, Serialize)]
pub struct PendingView {
    /// Stream key.
    pub stream: String,
    /// Group; `null` when the stream has no consumer group (nothing can be pending).
    pub group: Option<String>,
    /// Consumer filter, when given.
    pub consumer: Option<String>,
    /// The `--min-idle` threshold (ms).
    pub min_idle_ms: u64,
    /// XPENDING summary (restricted to the consumer when filtered).
    pub summary: PendingSummaryView,
    /// Listed entries (at most `--count`), oldest first.
    pub entries: Vec<PendingRow>,
    /// Entries idle for at least `--min-idle` (whole list, not just those shown).
    pub claimable: u64,
    /// The command that claims them, when there are any.
    pub claim_command: Option<String>,
}

/// The XPENDING summary.
#[derive(Debug, Serialize)]
pub struct PendingSummaryView {
    /// Pending entries.
    pub count: u64,
    /// Smallest pending id.
    pub smallest_id: Option<String>,
    /// Largest pending id.
    pub largest_id: Option<String>,
    /// Pending per consumer.
    pub consumers: Vec<ConsumerPending>,
}

/// A consumer's pending count.
#[derive(Debug, Serialize)]
pub struct ConsumerPending {
    /// Consumer name.
    pub name: String,
    /// Pending entries.
    pub pending: u64,
}

/// One pending entry.
#[derive(Debug, Serialize)]
pub struct PendingRow {
    /// Entry id.
    pub id: String,
    /// Owner.
    pub consumer: String,
    /// Ms since last delivery.
    pub idle_ms: u64,
    /// Delivery count.
    pub deliveries: u64,
}

/// The group `--group` names; without it `notifications` (upstream's group) when
/// the stream has it, else the stream's only group. `None` when the stream has no
/// group at all.
async fn choose_group(
    store: &Store,
    key: &str,
    given: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if let Some(group) = given {
        store.require_group(key, group).await?;
        return Ok(Some(group.to_owned()));
    }
    let names: Vec<String> = store
        .groups(key)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    if names.iter().any(|n| n == DEFAULT_GROUP) {
        return Ok(Some(DEFAULT_GROUP.to_owned()));
    }
    match names.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(only.clone())),
        _ => Err(Usage(format!(
            "stream {key:?} has {} consumer groups ({}): choose one with --group",
            names.len(),
            names.join(", ")
        ))
        .into()),
    }
}

pub(super) async fn snapshot(
    store: &Store,
    key: &str,
    group: Option<&str>,
    query: &PendingQuery,
    min_idle: Duration,
) -> anyhow::Result<PendingView> {
    store.require_stream(key).await?;
    let Some(group) = choose_group(store, key, group).await? else {
        return Ok(PendingView {
            stream: key.to_owned(),
            group: None,
            consumer: query.consumer.clone(),
            min_idle_ms: u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX),
            summary: PendingSummaryView {
                count: 0,
                smallest_id: None,
                largest_id: None,
                consumers: Vec::new(),
            },
            entries: Vec::new(),
            claimable: 0,
            claim_command: None,
        });
    };
    let group = group.as_str();
    let summary = store.pending_summary(key, group).await?;
    let entries = store.pending_entries(key, group, query).await?;
    let claimable_query = PendingQuery {
        min_idle: Some(min_idle),
        ..query.clone()
    };
    let claimable = store
        .all_pending_entries(key, group, &claimable_query)
        .await?;
    let summary = match &query.consumer {
        None => PendingSummaryView {
            count: summary.count,
            smallest_id: summary.smallest.map(|id| id.to_string()),
            largest_id: summary.largest.map(|id| id.to_string()),
            consumers: summary
                .consumers
                .into_iter()
                .map(|(name, pending)| ConsumerPending { name, pending })
                .collect(),
        },
        Some(consumer) => {
            let mine = store
                .all_pending_entries(
                    key,
                    group,
                    &PendingQuery {
                        consumer: Some(consumer.clone()),
                        ..PendingQuery::default()
                    },
                )
                .await?;
            PendingSummaryView {
                count: mine.len() as u64,
                smallest_id: mine.first().map(|e| e.id.to_string()),
                largest_id: mine.last().map(|e| e.id.to_string()),
                consumers: vec![ConsumerPending {
                    name: consumer.clone(),
                    pending: mine.len() as u64,
                }],
            }
        }
    };
    let claim_command = if claimable.is_empty() {
        None
    } else {
        let owners: Vec<&str> = claimable.iter().map(|e| e.consumer.as_str()).collect();
        let to = pick_claim_target(store, key, group, &owners).await?;
        Some(claim_command(
            key,
            group,
            &to,
            min_idle,
            query.consumer.as_deref(),
        ))
    };
    Ok(PendingView {
        stream: key.to_owned(),
        group: Some(group.to_owned()),
        consumer: query.consumer.clone(),
        min_idle_ms: u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX),
        summary,
        entries: entries
            .into_iter()
            .map(|e| PendingRow {
                id: e.id.to_string(),
                consumer: e.consumer,
                idle_ms: e.idle_ms,
                deliveries: e.deliveries,
            })
            .collect(),
        claimable: claimable.len() as u64,
        claim_command,
    })
}

/// The consumer to hand stuck entries to: the most recently seen consumer of the
/// group that owns none of them, or a fresh recovery consumer when there is none.
async fn pick_claim_target(
    store: &Store,
    key: &str,
    group: &str,
    owners: &[&str],
) -> anyhow::Result<String> {
    let live = store
        .consumers(key, group)
        .await?
        .into_iter()
        .filter(|c| !owners.contains(&c.name.as_str()))
        .min_by_key(|c| c.idle_ms);
    Ok(live.map_or_else(|| RECOVERY_CONSUMER.to_owned(), |c| c.name))
}

/// Consumer name suggested when no live consumer exists to take stuck entries.
const RECOVERY_CONSUMER: &str = "agentctl-recovery";

fn claim_command(
    key: &str,
    group: &str,
    to: &str,
    min_idle: Duration,
    from: Option<&str>,
) -> String {
    let mut words = vec![
        "agentctl".to_owned(),
        "claim".to_owned(),
        shell_quote(key),
        "--group".to_owned(),
        shell_quote(group),
        "--to".to_owned(),
        shell_quote(to),
        "--min-idle".to_owned(),
        crate::config::duration::format(min_idle),
    ];
    if let Some(from) = from {
        words.extend(["--from".to_owned(), shell_quote(from)]);
    }
    words.join(" ")
}

pub(super) fn to_table(view: &PendingView) -> String {
    let Some(group) = &view.group else {
        return format!(
            "0 pending: {} has no consumer group\n(serve's subscribers read the stream without one; \
             `agentctl subscribe --group NAME` reads through a durable group)",
            view.stream
        );
    };
    let mut out = String::new();
    let s = &view.summary;
    out.push_str(&format!(
        "{} pending in group {} of {} (ids {} .. {})\n",
        s.count,
        group,
        view.stream,
        or_dash(s.smallest_id.as_deref()),
        or_dash(s.largest_id.as_deref())
    ));
    for c in &s.consumers {
        out.push_str(&format!("  {}: {}\n", c.name, c.pending));
    }
    if !view.entries.is_empty() {
        let mut t = table(["ID", "CONSUMER", "IDLE", "DELIVERIES"]);
        for e in &view.entries {
            t.add_row([
                e.id.clone(),
                e.consumer.clone(),
                human_ms(e.idle_ms),
                e.deliveries.to_string(),
            ]);
        }
        out.push_str(&format!("\n{}\n", table_text(&t)));
        if (view.entries.len() as u64) < s.count {
            out.push_str(&format!(
                "(showing {} of {}; raise --count to see more)\n",
                view.entries.len(),
                s.count
            ));
        }
    }
    match &view.claim_command {
        Some(command) => out.push_str(&format!(
            "\n{} entr{} idle for {} or more; recover {} with:\n  {command}\n",
            view.claimable,
            if view.claimable == 1 {
                "y is"
            } else {
                "ies are"
            },
            human_ms(view.min_idle_ms),
            if view.claimable == 1 { "it" } else { "them" },
        )),
        None => out.push_str(&format!(
            "\nno entry idle for {} or more\n",
            human_ms(view.min_idle_ms)
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_command_is_shell_ready() {
        assert_eq!(
            claim_command(
                "stream:optimizely-sync-K",
                "notifications",
                "consumer-b",
                Duration::from_secs(60),
                Some("dead one")
            ),
            "agentctl claim stream:optimizely-sync-K --group notifications --to consumer-b --min-idle 1m --from 'dead one'"
        );
    }
}
