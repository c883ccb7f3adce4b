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

use super::{Interrupted, print, stream_of};
use crate::cli::{InspectArgs, InspectView, StreamTarget};
use crate::config::Settings;
use crate::store::{self, PendingQuery, Store, StreamId};

/// Runs `inspect`.
///
/// # Errors
///
/// Redis unreachable, the stream or group missing, stdout closed, or
/// [`Interrupted`] when `--watch` was stopped with Ctrl-C.
pub async fn run(args: &InspectArgs, settings: &Settings) -> anyhow::Result<()> {
    // The stream is resolved once, so a default SDK key is announced once.
    let target = target_of(&args.view);
    let key = target.map(|t| stream_of(t, settings)).transpose()?;
    let defaulted = target.is_some_and(|t| t.stream.is_none() && t.sdk_key.is_none());
    let store = match super::connect(settings).await {
        Ok(store) => store,
        Err(err) if defaulted => {
            return Err(anyhow::anyhow!(
                "{err} (and run serve with --redis too: without it serve keeps notifications \
                 in memory, so Redis has nothing to inspect)"
            ));
        }
        Err(err) => return Err(err),
    };
    loop {
        let rendered = match render(&store, &args.view, key.as_deref(), args.output.json).await {
            Ok(rendered) => rendered,
            Err(err) if defaulted => return Err(not_synced_hint(err, settings)),
            Err(err) => return Err(err),
        };
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
                    _ = tokio::signal::ctrl_c() => return Err(Interrupted.into()),
                }
            }
        }
    }
}

/// The stream a view names, if it names one.
fn target_of(view: &InspectView) -> Option<&StreamTarget> {
    match view {
        InspectView::Streams { .. } => None,
        InspectView::Stream { target }
        | InspectView::Groups { target }
        | InspectView::Consumers { target, .. }
        | InspectView::Pending { target, .. }
        | InspectView::Len { target } => Some(target),
    }
}

/// A missing default stream most often means `serve` keeps its notifications in
/// memory: say so, and how to make it write them to Redis.
fn not_synced_hint(err: anyhow::Error, settings: &Settings) -> anyhow::Error {
    match err.downcast_ref::<store::Error>() {
        Some(store::Error::NoSuchStream { .. }) => {
            let host = &settings.synchronization.pubsub.redis.host;
            anyhow::anyhow!(
                "{err}: nothing is in Redis at {host} for this SDK key; `agentctl serve` writes \
                 notifications to Redis only when it runs with --redis (or \
                 synchronization.notification.enable), so start it as `agentctl --redis {host} \
                 serve` and make a decision first"
            )
        }
        _ => err,
    }
}

/// Gathers one snapshot of a view and renders it; `key` is the stream the view
/// names, resolved by [`run`].
async fn render(
    store: &Store,
    view: &InspectView,
    key: Option<&str>,
    json: bool,
) -> anyhow::Result<String> {
    let stream = || key.context("the view names no stream");
    match view {
        InspectView::Streams { pattern } => show(
            &streams::snapshot(store, pattern).await?,
            json,
            streams::to_table,
        ),
        InspectView::Stream { .. } => show(
            &stream::snapshot(store, stream()?).await?,
            json,
            stream::to_table,
        ),
        InspectView::Groups { .. } => show(
            &groups::snapshot(store, stream()?).await?,
            json,
            groups::to_table,
        ),
        InspectView::Consumers {
            group, dead_after, ..
        } => {
            let snap = consumers::snapshot(store, stream()?, group.as_deref(), *dead_after).await?;
            show(&snap, json, consumers::to_table)
        }
        InspectView::Pending {
            group,
            consumer,
            min_idle,
            count,
            ..
        } => {
            let query = PendingQuery {
                count: *count,
                consumer: consumer.clone(),
                ..PendingQuery::default()
            };
            let snap =
                pending::snapshot(store, stream()?, group.as_deref(), &query, *min_idle).await?;
            show(&snap, json, pending::to_table)
        }
        InspectView::Len { .. } => {
            let key = stream()?.to_owned();
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
