//! `inspect stream`: XINFO STREAM of one stream, its first and last entries with
//! their ages.

use serde::Serialize;

use super::age;
use crate::cmd::{human_ms, or_dash, table, table_text};
use crate::store::{Store, StreamEntry};

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

pub(super) async fn snapshot(store: &Store, key: &str) -> anyhow::Result<StreamView> {
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

pub(super) fn to_table(view: &StreamView) -> String {
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
