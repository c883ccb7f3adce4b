//! `agentctl inspect`: read-only views of the Redis side. Each view gathers a
//! snapshot (a serialisable struct whose JSON form is the documented schema) and
//! renders it as a table, or as one JSON line with `--json`; `--watch` repeats.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use super::{human_ms, or_dash, print, shell_quote, stream_of, table, table_text};
use crate::cli::{InspectArgs, InspectView};
use crate::config::Settings;
use crate::store::{self, Store, StreamId};
use crate::store::{GroupInfo, PendingQuery, StreamEntry, StreamInfo};

/// Runs `inspect`.
///
/// # Errors
///
/// Redis unreachable, the stream or group missing, or stdout closed.
pub async fn run(args: &InspectArgs, settings: &Settings) -> anyhow::Result<()> {
    let store = super::connect(settings).await?;
    loop {
        let rendered = render(&store, &args.view, args.output.json).await?;
        match args.watch {
            None => return print(&rendered),
            Some(interval) => {
                if !args.output.json && super::stdout_is_terminal() {
                    // Clear the screen and home the cursor, as `watch` does.
                    print(&format!("\x1b[2J\x1b[H{rendered}"))?;
                } else {
                    print(&rendered)?;
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
    }
}

/// Gathers one snapshot of a view and renders it.
async fn render(store: &Store, view: &InspectView, json: bool) -> anyhow::Result<String> {
    match view {
        InspectView::Streams { pattern } => {
            show(&streams(store, pattern).await?, json, streams_table)
        }
        InspectView::Stream { target } => show(
            &stream(store, &stream_of(target)?).await?,
            json,
            stream_table,
        ),
        InspectView::Groups { target } => show(
            &groups(store, &stream_of(target)?).await?,
            json,
            groups_table,
        ),
        InspectView::Consumers {
            target,
            group,
            dead_after,
        } => {
            let snap = consumers(store, &stream_of(target)?, group.as_deref(), *dead_after).await?;
            show(&snap, json, consumers_table)
        }
        InspectView::Pending {
            target,
            group,
            consumer,
            min_idle,
            count,
        } => {
            let query = PendingQuery {
                min_idle: None,
                start: None,
                count: *count,
                consumer: consumer.clone(),
            };
            let snap = pending(store, &stream_of(target)?, group, &query, *min_idle).await?;
            show(&snap, json, pending_table)
        }
        InspectView::Len { target } => {
            let key = stream_of(target)?;
            store.require_stream(&key).await?;
            let length = store.stream_len(&key).await?;
            show(
                &LenView {
                    stream: key,
                    length,
                },
                json,
                |v| v.length.to_string(),
            )
        }
    }
}

/// A snapshot as one JSON line, or as its table.
fn show<T: Serialize>(
    snapshot: &T,
    json: bool,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<String> {
    if json {
        to_json(snapshot)
    } else {
        Ok(table(snapshot))
    }
}

fn to_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    serde_json::to_string(value).context("encoding JSON output")
}

/// Age in ms of an entry id relative to the server clock.
fn age(now_ms: u64, id: StreamId) -> u64 {
    now_ms.saturating_sub(id.ms)
}

// ---------------------------------------------------------------- streams

/// `inspect streams --json`.
#[derive(Debug, Serialize)]
pub struct StreamsView {
    /// The SCAN MATCH pattern used.
    pub pattern: String,
    /// Redis server time (ms) the ages are relative to.
    pub server_time_ms: u64,
    /// One row per stream, sorted by key.
    pub streams: Vec<StreamRow>,
}

/// One stream in `inspect streams`.
#[derive(Debug, Serialize)]
pub struct StreamRow {
    /// Stream key.
    pub key: String,
    /// SDK key, when the key follows `stream:optimizely-sync-<sdkKey>`.
    pub sdk_key: Option<String>,
    /// Entries (XLEN).
    pub length: u64,
    /// Oldest entry id.
    pub first_id: Option<String>,
    /// Age of the oldest entry (ms).
    pub first_age_ms: Option<u64>,
    /// Newest entry id.
    pub last_id: Option<String>,
    /// Age of the newest entry (ms).
    pub last_age_ms: Option<u64>,
    /// Consumer groups.
    pub groups: u64,
    /// Pending entries summed over groups.
    pub pending: u64,
    /// The largest group lag (entries not yet delivered).
    pub max_lag: Option<u64>,
    /// Whether `max_lag` is estimated because Redis could not report it.
    pub lag_estimated: bool,
    /// MEMORY USAGE in bytes (null when not permitted).
    pub memory_bytes: Option<u64>,
}

async fn streams(store: &Store, pattern: &str) -> anyhow::Result<StreamsView> {
    let version = store.version().await?;
    let keys = store.scan_streams(pattern, version).await?;
    let server_time_ms = store.server_time_ms().await?;
    let rows = store
        .stream_overviews(&keys)
        .await?
        .iter()
        .map(|o| stream_row(&o.key, &o.info, &o.groups, o.memory_bytes, server_time_ms))
        .collect();
    Ok(StreamsView {
        pattern: pattern.to_owned(),
        server_time_ms,
        streams: rows,
    })
}

fn stream_row(
    key: &str,
    info: &StreamInfo,
    groups: &[GroupInfo],
    memory_bytes: Option<u64>,
    now: u64,
) -> StreamRow {
    let first = info.first_entry.as_ref().map(|e| e.id);
    let last = info.last_entry.as_ref().map(|e| e.id);
    let mut max_lag = None;
    let mut lag_estimated = false;
    for group in groups {
        let (lag, estimated) = match group.lag {
            Some(lag) => (Some(lag), false),
            None => (cheap_lag_estimate(info, group), true),
        };
        if lag > max_lag {
            max_lag = lag;
            lag_estimated = estimated;
        }
    }
    StreamRow {
        key: key.to_owned(),
        sdk_key: store::sdk_key_of(key).map(str::to_owned),
        length: info.length,
        first_id: first.map(|id| id.to_string()),
        first_age_ms: first.map(|id| age(now, id)),
        last_id: last.map(|id| id.to_string()),
        last_age_ms: last.map(|id| age(now, id)),
        groups: info.groups,
        pending: groups.iter().map(|g| g.pending).sum(),
        max_lag,
        lag_estimated,
        memory_bytes,
    }
}

/// A lag estimate from XINFO figures alone, for when Redis reports none.
///
/// All retained entries are undelivered when the group's last-delivered-id is
/// older than the first entry (the usual case after a trim overtook the group);
/// otherwise `entries-added - entries-read` counts what the group has not read.
fn cheap_lag_estimate(info: &StreamInfo, group: &GroupInfo) -> Option<u64> {
    let first = info.first_entry.as_ref().map(|e| e.id);
    match first {
        None => Some(0),
        Some(first) if group.last_delivered_id < first => Some(info.length),
        Some(_) => match (info.entries_added, group.entries_read) {
            (Some(added), Some(read)) => Some(added.saturating_sub(read).min(info.length)),
            _ => None,
        },
    }
}

fn streams_table(view: &StreamsView) -> String {
    let mut t = table([
        "STREAM",
        "SDK KEY",
        "LENGTH",
        "FIRST ID",
        "FIRST AGE",
        "LAST ID",
        "LAST AGE",
        "GROUPS",
        "PENDING",
        "MAX LAG",
        "MEMORY",
    ]);
    for row in &view.streams {
        t.add_row([
            row.key.clone(),
            or_dash(row.sdk_key.as_deref()),
            row.length.to_string(),
            or_dash(row.first_id.as_deref()),
            or_dash(row.first_age_ms.map(human_ms)),
            or_dash(row.last_id.as_deref()),
            or_dash(row.last_age_ms.map(human_ms)),
            row.groups.to_string(),
            row.pending.to_string(),
            lag_text(row.max_lag, row.lag_estimated),
            or_dash(row.memory_bytes.map(human_bytes)),
        ]);
    }
    format!(
        "{}\n{} stream(s) matching {}",
        table_text(&t),
        view.streams.len(),
        view.pattern
    )
}

fn lag_text(lag: Option<u64>, estimated: bool) -> String {
    match (lag, estimated) {
        (None, _) => "-".to_owned(),
        (Some(lag), false) => lag.to_string(),
        (Some(lag), true) => format!("~{lag} (estimated)"),
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

// ---------------------------------------------------------------- stream

/// `inspect stream --json`: XINFO STREAM.
#[derive(Debug, Serialize)]
pub struct StreamView {
    /// Stream key.
    pub stream: String,
    /// Redis server time (ms) the ages are relative to.
    pub server_time_ms: u64,
    /// Entries.
    pub length: u64,
    /// Radix tree keys.
    pub radix_tree_keys: u64,
    /// Radix tree nodes.
    pub radix_tree_nodes: u64,
    /// Newest id ever generated.
    pub last_generated_id: String,
    /// Highest deleted id (Redis >= 7).
    pub max_deleted_entry_id: Option<String>,
    /// Entries ever added (Redis >= 7).
    pub entries_added: Option<u64>,
    /// First recorded id (Redis >= 7).
    pub recorded_first_entry_id: Option<String>,
    /// Consumer groups.
    pub groups: u64,
    /// Oldest entry.
    pub first_entry: Option<EntryView>,
    /// Newest entry.
    pub last_entry: Option<EntryView>,
}

/// An entry with its age.
#[derive(Debug, Serialize)]
pub struct EntryView {
    /// Entry id.
    pub id: String,
    /// Age (ms) by the server clock.
    pub age_ms: u64,
    /// Fields in stream order.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

fn entry_view(entry: &StreamEntry, now: u64) -> EntryView {
    EntryView {
        id: entry.id.to_string(),
        age_ms: age(now, entry.id),
        fields: entry
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    }
}

async fn stream(store: &Store, key: &str) -> anyhow::Result<StreamView> {
    store.require_stream(key).await?;
    let info = store.stream_info(key).await?;
    let now = store.server_time_ms().await?;
    Ok(StreamView {
        stream: key.to_owned(),
        server_time_ms: now,
        length: info.length,
        radix_tree_keys: info.radix_tree_keys,
        radix_tree_nodes: info.radix_tree_nodes,
        last_generated_id: info.last_generated_id.to_string(),
        max_deleted_entry_id: info.max_deleted_entry_id.map(|id| id.to_string()),
        entries_added: info.entries_added,
        recorded_first_entry_id: info.recorded_first_entry_id.map(|id| id.to_string()),
        groups: info.groups,
        first_entry: info.first_entry.as_ref().map(|e| entry_view(e, now)),
        last_entry: info.last_entry.as_ref().map(|e| entry_view(e, now)),
    })
}

fn stream_table(view: &StreamView) -> String {
    let entry = |e: &Option<EntryView>| {
        e.as_ref().map_or_else(
            || "-".to_owned(),
            |e| {
                let fields: Vec<String> = e
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                format!(
                    "{} ({} ago) {}",
                    e.id,
                    human_ms(e.age_ms),
                    truncate(&fields.join(" "), 120)
                )
            },
        )
    };
    let mut t = table(["FIELD", "VALUE"]);
    let rows = [
        ("stream", view.stream.clone()),
        ("length", view.length.to_string()),
        ("radix-tree-keys", view.radix_tree_keys.to_string()),
        ("radix-tree-nodes", view.radix_tree_nodes.to_string()),
        ("last-generated-id", view.last_generated_id.clone()),
        (
            "max-deleted-entry-id",
            or_dash(view.max_deleted_entry_id.as_deref()),
        ),
        ("entries-added", or_dash(view.entries_added)),
        (
            "recorded-first-entry-id",
            or_dash(view.recorded_first_entry_id.as_deref()),
        ),
        ("groups", view.groups.to_string()),
        ("first-entry", entry(&view.first_entry)),
        ("last-entry", entry(&view.last_entry)),
    ];
    for (name, value) in rows {
        t.add_row([name.to_owned(), value]);
    }
    table_text(&t)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

// ---------------------------------------------------------------- groups

/// `inspect groups --json`.
#[derive(Debug, Serialize)]
pub struct GroupsView {
    /// Stream key.
    pub stream: String,
    /// Redis server time (ms) the ages are relative to.
    pub server_time_ms: u64,
    /// One row per group.
    pub groups: Vec<GroupRow>,
}

/// One group in `inspect groups`.
#[derive(Debug, Serialize)]
pub struct GroupRow {
    /// Group name.
    pub name: String,
    /// Consumers.
    pub consumers: u64,
    /// Pending (delivered, not acknowledged).
    pub pending: u64,
    /// Last delivered id.
    pub last_delivered_id: String,
    /// Entries read (Redis >= 7).
    pub entries_read: Option<u64>,
    /// Entries not yet delivered to the group.
    pub lag: Option<u64>,
    /// True when Redis reported no lag and `lag` was counted by agentctl.
    pub lag_estimated: bool,
    /// Oldest entry not yet delivered to the group.
    pub oldest_undelivered_id: Option<String>,
    /// Its age (ms).
    pub oldest_undelivered_age_ms: Option<u64>,
}

async fn groups(store: &Store, key: &str) -> anyhow::Result<GroupsView> {
    store.require_stream(key).await?;
    let info = store.stream_info(key).await?;
    let now = store.server_time_ms().await?;
    let mut rows = Vec::new();
    for group in store.groups(key).await? {
        let (lag, lag_estimated) = match group.lag {
            Some(lag) => (lag, false),
            // Redis reports no lag when entries after the group's position were
            // deleted; count what is left after it instead.
            None => match info.first_entry.as_ref().map(|e| e.id) {
                None => (0, true),
                Some(first) if group.last_delivered_id < first => (info.length, true),
                Some(_) => (
                    store
                        .count_between(key, Some(group.last_delivered_id), None)
                        .await?,
                    true,
                ),
            },
        };
        let oldest = store
            .first_after(key, group.last_delivered_id)
            .await?
            .map(|e| e.id);
        rows.push(GroupRow {
            name: group.name,
            consumers: group.consumers,
            pending: group.pending,
            last_delivered_id: group.last_delivered_id.to_string(),
            entries_read: group.entries_read,
            lag: Some(lag),
            lag_estimated,
            oldest_undelivered_id: oldest.map(|id| id.to_string()),
            oldest_undelivered_age_ms: oldest.map(|id| age(now, id)),
        });
    }
    Ok(GroupsView {
        stream: key.to_owned(),
        server_time_ms: now,
        groups: rows,
    })
}

fn groups_table(view: &GroupsView) -> String {
    let mut t = table([
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAST DELIVERED",
        "ENTRIES READ",
        "LAG",
        "OLDEST UNDELIVERED",
    ]);
    for g in &view.groups {
        t.add_row([
            g.name.clone(),
            g.consumers.to_string(),
            g.pending.to_string(),
            g.last_delivered_id.clone(),
            or_dash(g.entries_read),
            lag_text(g.lag, g.lag_estimated),
            match (&g.oldest_undelivered_id, g.oldest_undelivered_age_ms) {
                (Some(id), Some(age)) => format!("{id} ({} ago)", human_ms(age)),
                _ => "-".to_owned(),
            },
        ]);
    }
    format!(
        "{}\n{} group(s) on {}",
        table_text(&t),
        view.groups.len(),
        view.stream
    )
}

// ---------------------------------------------------------------- consumers

/// `inspect consumers --json`.
#[derive(Debug, Serialize)]
pub struct ConsumersView {
    /// Stream key.
    pub stream: String,
    /// Redis server time (ms) the ages are relative to.
    pub server_time_ms: u64,
    /// Idle time (ms) from which a consumer counts as dead.
    pub dead_after_ms: u64,
    /// One row per consumer, grouped by group.
    pub consumers: Vec<ConsumerRow>,
}

/// One consumer in `inspect consumers`.
#[derive(Debug, Serialize)]
pub struct ConsumerRow {
    /// Its group.
    pub group: String,
    /// Consumer name.
    pub name: String,
    /// Pending entries it holds.
    pub pending: u64,
    /// Ms since its last attempted interaction.
    pub idle_ms: u64,
    /// Ms since its last successful interaction (Redis >= 7.2).
    pub inactive_ms: Option<i64>,
    /// Its oldest pending entry.
    pub oldest_pending_id: Option<String>,
    /// That entry's age (ms).
    pub oldest_pending_age_ms: Option<u64>,
    /// Highest delivery count among its pending entries.
    pub max_deliveries: Option<u64>,
    /// `active`, `idle` or `dead`.
    pub status: ConsumerStatus,
}

/// A consumer's liveness judged from its idle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerStatus {
    /// Seen within a tenth of `--dead-after`.
    Active,
    /// Not seen for a tenth of `--dead-after` or more.
    Idle,
    /// Not seen for `--dead-after` or more.
    Dead,
}

impl ConsumerStatus {
    /// Classifies an idle time against the dead-after threshold.
    pub fn from_idle(idle: Duration, dead_after: Duration) -> Self {
        if idle >= dead_after {
            Self::Dead
        } else if idle >= dead_after / 10 {
            Self::Idle
        } else {
            Self::Active
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Dead => "dead",
        }
    }
}

async fn consumers(
    store: &Store,
    key: &str,
    only: Option<&str>,
    dead_after: Duration,
) -> anyhow::Result<ConsumersView> {
    store.require_stream(key).await?;
    let group_names = match only {
        Some(group) => vec![store.require_group(key, group).await?.name],
        None => store
            .groups(key)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect(),
    };
    let now = store.server_time_ms().await?;
    let mut rows = Vec::new();
    for group in group_names {
        for consumer in store.consumers(key, &group).await? {
            let pending = if consumer.pending == 0 {
                Vec::new()
            } else {
                let query = PendingQuery {
                    consumer: Some(consumer.name.clone()),
                    ..PendingQuery::default()
                };
                store.all_pending_entries(key, &group, &query).await?
            };
            let oldest = pending.first().map(|e| e.id);
            // Redis 7.2+ reports "inactive" (time since the last successful read);
            // older servers only "idle" (time since the last attempt).
            let seen_ms = consumer
                .inactive_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(consumer.idle_ms);
            rows.push(ConsumerRow {
                group: group.clone(),
                name: consumer.name,
                pending: consumer.pending,
                idle_ms: consumer.idle_ms,
                inactive_ms: consumer.inactive_ms,
                oldest_pending_id: oldest.map(|id| id.to_string()),
                oldest_pending_age_ms: oldest.map(|id| age(now, id)),
                max_deliveries: pending.iter().map(|e| e.deliveries).max(),
                status: ConsumerStatus::from_idle(Duration::from_millis(seen_ms), dead_after),
            });
        }
    }
    let dead_after_ms = u64::try_from(dead_after.as_millis()).unwrap_or(u64::MAX);
    Ok(ConsumersView {
        stream: key.to_owned(),
        server_time_ms: now,
        dead_after_ms,
        consumers: rows,
    })
}

fn consumers_table(view: &ConsumersView) -> String {
    let mut t = table([
        "GROUP",
        "CONSUMER",
        "PENDING",
        "IDLE",
        "INACTIVE",
        "OLDEST PENDING",
        "MAX DELIVERIES",
        "STATUS",
    ]);
    for c in &view.consumers {
        t.add_row([
            c.group.clone(),
            c.name.clone(),
            c.pending.to_string(),
            human_ms(c.idle_ms),
            or_dash(
                c.inactive_ms
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(human_ms),
            ),
            match (&c.oldest_pending_id, c.oldest_pending_age_ms) {
                (Some(id), Some(age)) => format!("{id} ({} ago)", human_ms(age)),
                _ => "-".to_owned(),
            },
            or_dash(c.max_deliveries),
            c.status.as_str().to_owned(),
        ]);
    }
    let dead = view
        .consumers
        .iter()
        .filter(|c| c.status == ConsumerStatus::Dead)
        .count();
    format!(
        "{}\n{} consumer(s) on {}, {dead} dead (idle >= {})",
        table_text(&t),
        view.consumers.len(),
        view.stream,
        human_ms(view.dead_after_ms)
    )
}

// ---------------------------------------------------------------- pending

/// `inspect pending --json`.
#[derive(Debug, Serialize)]
pub struct PendingView {
    /// Stream key.
    pub stream: String,
    /// Group.
    pub group: String,
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

async fn pending(
    store: &Store,
    key: &str,
    group: &str,
    query: &PendingQuery,
    min_idle: Duration,
) -> anyhow::Result<PendingView> {
    store.require_stream(key).await?;
    store.require_group(key, group).await?;
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
        group: group.to_owned(),
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

fn pending_table(view: &PendingView) -> String {
    let mut out = String::new();
    let s = &view.summary;
    out.push_str(&format!(
        "{} pending in group {} of {} (ids {} .. {})\n",
        s.count,
        view.group,
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

// ---------------------------------------------------------------- len

/// `inspect len --json`.
#[derive(Debug, Serialize)]
pub struct LenView {
    /// Stream key.
    pub stream: String,
    /// XLEN.
    pub length: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_thresholds() {
        let dead_after = Duration::from_secs(300);
        assert_eq!(
            ConsumerStatus::from_idle(Duration::from_secs(5), dead_after),
            ConsumerStatus::Active
        );
        assert_eq!(
            ConsumerStatus::from_idle(Duration::from_secs(30), dead_after),
            ConsumerStatus::Idle
        );
        assert_eq!(
            ConsumerStatus::from_idle(Duration::from_secs(300), dead_after),
            ConsumerStatus::Dead
        );
    }

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

    #[test]
    fn bytes_for_humans() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0MiB");
    }
}
