//! `agentctl trim`: retention on demand (XTRIM MAXLEN / MINID), with a dry run
//! and a safe mode that never removes what a consumer group still needs.

use std::time::Duration;

use serde::Serialize;

use super::{named_stream, or_dash, print, print_json, table, table_text};
use crate::cli::TrimArgs;
use crate::config::Settings;
use crate::store::TrimTo;
use crate::store::{Store, StreamId};

/// `trim --json`: one object per run.
#[derive(Debug, Serialize)]
pub struct TrimReport {
    /// Whether nothing was removed because of `--dry-run`.
    pub dry_run: bool,
    /// Whether trimming was exact (`=`) rather than approximate (`~`).
    pub exact: bool,
    /// Whether `--safe` was given.
    pub safe: bool,
    /// One row per stream.
    pub streams: Vec<TrimRow>,
}

/// The outcome for one stream.
#[derive(Debug, Serialize)]
pub struct TrimRow {
    /// Stream key.
    pub stream: String,
    /// The XTRIM applied (or that would be), e.g. `MINID ~ 1700000000000-0`; null when
    /// nothing needed trimming.
    pub command: Option<String>,
    /// XLEN before.
    pub length_before: u64,
    /// XLEN after (for a dry run: the length an exact trim would leave).
    pub length_after: u64,
    /// Entries removed (for a dry run: that an exact trim would remove; an
    /// approximate trim removes at most this many).
    pub removed: u64,
    /// Entries kept only because of `--safe`.
    pub held_back: u64,
    /// Why they were kept: the group and the id that limited the trim.
    pub held_back_reason: Option<String>,
}

/// Runs `trim`.
///
/// # Errors
///
/// Redis unreachable, a named stream missing or not a stream, or stdout closed.
pub async fn run(args: &TrimArgs, settings: &Settings) -> anyhow::Result<()> {
    let store = super::connect(settings).await?;
    let keys = if args.all {
        let version = store.version().await?;
        let keys = store.scan_streams(&args.pattern, version).await?;
        if keys.is_empty() {
            tracing::warn!(pattern = %args.pattern, "no stream matches the pattern; nothing to trim");
        }
        keys
    } else {
        let key = named_stream(args.stream.as_deref(), args.sdk_key.as_deref())?;
        store.require_stream(&key).await?;
        vec![key]
    };
    let policy = match (args.maxlen, args.max_age, args.minid) {
        (Some(n), _, _) => Policy::MaxLen(n),
        (_, Some(age), _) => Policy::MaxAge(age),
        (_, _, Some(id)) => Policy::MinId(id),
        // clap's required "policy" group guarantees one of the three.
        _ => anyhow::bail!("give one of --maxlen, --max-age or --minid"),
    };
    let now_ms = store.server_time_ms().await?;
    let mut rows = Vec::with_capacity(keys.len());
    for key in keys {
        rows.push(trim_one(&store, &key, policy.resolve(now_ms), args).await?);
    }
    let report = TrimReport {
        dry_run: args.dry_run,
        exact: args.exact,
        safe: args.safe,
        streams: rows,
    };
    if args.output.json {
        print_json(&report)
    } else {
        print(&render(&report))
    }
}

/// The retention rule as given on the command line.
#[derive(Debug, Clone, Copy)]
enum Policy {
    MaxLen(u64),
    MaxAge(Duration),
    MinId(StreamId),
}

impl Policy {
    /// `--max-age` becomes a MINID relative to the Redis clock.
    fn resolve(self, now_ms: u64) -> TrimTo {
        match self {
            Self::MaxLen(n) => TrimTo::MaxLen(n),
            Self::MinId(id) => TrimTo::MinId(id),
            Self::MaxAge(age) => {
                let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                TrimTo::MinId(StreamId::new(now_ms.saturating_sub(age_ms), 0))
            }
        }
    }
}

/// The lowest id `--safe` allows trimming up to, and why.
struct SafeFloor {
    /// Entries with an id below this may go.
    id: StreamId,
    reason: String,
}

/// The highest MINID that keeps every entry some group still needs: entries after
/// a group's last-delivered-id (not delivered yet) and its pending entries.
async fn safe_floor(store: &Store, key: &str) -> anyhow::Result<Option<SafeFloor>> {
    let mut floor: Option<SafeFloor> = None;
    for group in store.groups(key).await? {
        let undelivered = group
            .last_delivered_id
            .successor()
            .unwrap_or(group.last_delivered_id);
        let mut candidate = SafeFloor {
            id: undelivered,
            reason: format!(
                "group {} has not been delivered entries after {}",
                group.name, group.last_delivered_id
            ),
        };
        if group.pending > 0
            && let Some(oldest) = store.pending_summary(key, &group.name).await?.smallest
            && oldest < candidate.id
        {
            candidate = SafeFloor {
                id: oldest,
                reason: format!("group {} still has entry {oldest} pending", group.name),
            };
        }
        if floor.as_ref().is_none_or(|f| candidate.id < f.id) {
            floor = Some(candidate);
        }
    }
    Ok(floor)
}

async fn trim_one(
    store: &Store,
    key: &str,
    to: TrimTo,
    args: &TrimArgs,
) -> anyhow::Result<TrimRow> {
    let length_before = store.stream_len(key).await?;
    let mut held_back = 0;
    let mut held_back_reason = None;
    // Safe mode works in MINID terms: MAXLEN N becomes "below the N-th newest id".
    let to = if args.safe {
        let requested = match to {
            TrimTo::MinId(id) => Some(id),
            TrimTo::MaxLen(n) => store.nth_newest_id(key, n).await?,
        };
        match (requested, safe_floor(store, key).await?) {
            (None, _) => None,
            (Some(id), Some(floor)) if floor.id < id => {
                held_back = store
                    .count_between(key, Some(prev(floor.id)), Some(id))
                    .await?;
                held_back_reason = Some(floor.reason);
                Some(TrimTo::MinId(floor.id))
            }
            (Some(id), _) => Some(TrimTo::MinId(id)),
        }
    } else {
        Some(to)
    };
    let Some(to) = to else {
        return Ok(TrimRow {
            stream: key.to_owned(),
            command: None,
            length_before,
            length_after: length_before,
            removed: 0,
            held_back,
            held_back_reason,
        });
    };
    let command = Some(describe(to, args.exact));
    let removed = if args.dry_run {
        match to {
            TrimTo::MaxLen(n) => length_before.saturating_sub(n),
            TrimTo::MinId(id) => store.count_between(key, None, Some(id)).await?,
        }
    } else {
        store.trim(key, to, args.exact).await?
    };
    let length_after = if args.dry_run {
        length_before.saturating_sub(removed)
    } else {
        store.stream_len(key).await?
    };
    Ok(TrimRow {
        stream: key.to_owned(),
        command,
        length_before,
        length_after,
        removed,
        held_back,
        held_back_reason,
    })
}

/// The id just below `id` as an exclusive lower bound for counting `id..`.
fn prev(id: StreamId) -> StreamId {
    match (id.ms, id.seq) {
        (ms, 0) if ms > 0 => StreamId::new(ms - 1, u64::MAX),
        (ms, seq) => StreamId::new(ms, seq.saturating_sub(1)),
    }
}

fn describe(to: TrimTo, exact: bool) -> String {
    let op = if exact { "=" } else { "~" };
    match to {
        TrimTo::MaxLen(n) => format!("MAXLEN {op} {n}"),
        TrimTo::MinId(id) => format!("MINID {op} {id}"),
    }
}

fn render(report: &TrimReport) -> String {
    let mut t = table(["STREAM", "TRIM", "BEFORE", "AFTER", "REMOVED", "HELD BACK"]);
    for row in &report.streams {
        t.add_row([
            row.stream.clone(),
            or_dash(row.command.as_deref()),
            row.length_before.to_string(),
            row.length_after.to_string(),
            row.removed.to_string(),
            row.held_back.to_string(),
        ]);
    }
    let mut out = table_text(&t);
    for row in &report.streams {
        if let Some(reason) = &row.held_back_reason {
            out.push_str(&format!(
                "\n{}: kept {} entr{} because {reason}",
                row.stream,
                row.held_back,
                if row.held_back == 1 { "y" } else { "ies" }
            ));
        }
    }
    let removed: u64 = report.streams.iter().map(|r| r.removed).sum();
    out.push('\n');
    out.push_str(&match (report.dry_run, report.exact) {
        (true, true) => format!("dry run: would remove {removed} entries; nothing was changed"),
        (true, false) => format!(
            "dry run: an exact trim would remove {removed} entries; approximate trimming (~) removes only whole nodes, so at most that many; nothing was changed"
        ),
        (false, _) => format!("removed {removed} entries from {} stream(s)", report.streams.len()),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_relative_to_the_server_clock() {
        assert_eq!(
            Policy::MaxAge(Duration::from_secs(60)).resolve(1_000_000),
            TrimTo::MinId(StreamId::new(940_000, 0))
        );
        assert_eq!(
            Policy::MaxAge(Duration::from_secs(60)).resolve(5),
            TrimTo::MinId(StreamId::ZERO)
        );
        assert_eq!(Policy::MaxLen(7).resolve(1), TrimTo::MaxLen(7));
    }

    #[test]
    fn previous_ids() {
        assert_eq!(prev(StreamId::new(5, 3)), StreamId::new(5, 2));
        assert_eq!(prev(StreamId::new(5, 0)), StreamId::new(4, u64::MAX));
        assert_eq!(describe(TrimTo::MaxLen(3), false), "MAXLEN ~ 3");
        assert_eq!(
            describe(TrimTo::MinId(StreamId::new(9, 1)), true),
            "MINID = 9-1"
        );
    }
}
