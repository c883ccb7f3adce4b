//! `agentctl inspect`: read-only views of the Redis side. Each view gathers a
//! snapshot (a serialisable struct whose JSON form is the documented schema) and
//! renders it as a table, or as one JSON line with `--json`; `--watch` repeats.
//!
//! One file per view: `streams`, `stream`, `groups`, `consumers`, `pending`; this
//! file dispatches, renders, and holds the `len` view and the helpers they share.

mod consumers;
mod groups;
mod pending;
mod stream;
mod streams;

use anyhow::Context;
use serde::Serialize;

pub use consumers::{ConsumerRow, ConsumerStatus, ConsumersView};
pub use groups::{GroupRow, GroupsView};
pub use pending::{ConsumerPending, PendingRow, PendingSummaryView, PendingView};
pub use stream::{EntryView, StreamView};
pub use streams::{StreamRow, StreamsView};

use super::{print, stream_of};
use crate::cli::{InspectArgs, InspectView};
use crate::config::Settings;
use crate::store::{PendingQuery, Store, StreamId};

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
        InspectView::Streams { pattern } => show(
            &streams::snapshot(store, pattern).await?,
            json,
            streams::to_table,
        ),
        InspectView::Stream { target } => show(
            &stream::snapshot(store, &stream_of(target)?).await?,
            json,
            stream::to_table,
        ),
        InspectView::Groups { target } => show(
            &groups::snapshot(store, &stream_of(target)?).await?,
            json,
            groups::to_table,
        ),
        InspectView::Consumers {
            target,
            group,
            dead_after,
        } => {
            let snap =
                consumers::snapshot(store, &stream_of(target)?, group.as_deref(), *dead_after)
                    .await?;
            show(&snap, json, consumers::to_table)
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
            let snap =
                pending::snapshot(store, &stream_of(target)?, group, &query, *min_idle).await?;
            show(&snap, json, pending::to_table)
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

/// A group's lag for the tables: `-` when unknown, `~n (estimated)` when counted.
fn lag_text(lag: Option<u64>, estimated: bool) -> String {
    match (lag, estimated) {
        (None, _) => "-".to_owned(),
        (Some(lag), false) => lag.to_string(),
        (Some(lag), true) => format!("~{lag} (estimated)"),
    }
}

/// `inspect len --json`.
#[derive(Debug, Serialize)]
pub struct LenView {
    /// Stream key.
    pub stream: String,
    /// XLEN.
    pub length: u64,
}
