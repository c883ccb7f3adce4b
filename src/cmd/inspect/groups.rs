//! `inspect groups`: the consumer groups of one stream with their lag (counted
//! when Redis cannot report it) and oldest undelivered entry.

use serde::Serialize;

use super::{age, lag_text};
use crate::cmd::{human_ms, or_dash, table, table_text};
use crate::store::Store;

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

pub(super) async fn snapshot(store: &Store, key: &str) -> anyhow::Result<GroupsView> {
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

pub(super) fn to_table(view: &GroupsView) -> String {
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
