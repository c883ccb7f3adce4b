//! `inspect streams`: every stream matching a pattern with its length, first and
//! last entry ages, groups, pending, largest lag and memory.

use serde::Serialize;

use super::{age, lag_text};
use crate::cmd::{human_ms, or_dash, table, table_text};
use crate::store::{self, GroupInfo, Store, StreamInfo};

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
    /// The node holding the stream: its primary's `host:port` on a Redis
    /// Cluster, else the address in use.
    pub node: String,
}

pub(super) async fn snapshot(store: &Store, pattern: &str) -> anyhow::Result<StreamsView> {
    let version = store.version().await?;
    let streams = store.scan_streams_by_node(pattern, version).await?;
    let keys: Vec<String> = streams.iter().map(|(key, _)| key.clone()).collect();
    let server_time_ms = store.server_time_ms().await?;
    let rows = store
        .stream_overviews(&keys)
        .await?
        .iter()
        .map(|o| {
            let mut row = stream_row(&o.key, &o.info, &o.groups, o.memory_bytes, server_time_ms);
            if let Ok(at) = streams.binary_search_by(|(key, _)| key.cmp(&o.key)) {
                row.node = streams[at].1.clone();
            }
            row
        })
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
        node: String::new(),
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

pub(super) fn to_table(view: &StreamsView) -> String {
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
        "NODE",
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
            row.node.clone(),
        ]);
    }
    format!(
        "{}\n{} stream(s) matching {}",
        table_text(&t),
        view.streams.len(),
        view.pattern
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_humans() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0MiB");
    }
}
