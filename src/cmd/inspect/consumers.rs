//! `inspect consumers`: the consumers of one stream's groups with their pending
//! entries and a liveness status judged from their idle time.

use std::time::Duration;

use serde::Serialize;

use super::age;
use crate::cmd::{human_ms, or_dash, table, table_text};
use crate::store::{PendingQuery, Store};

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

pub(super) async fn snapshot(
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

pub(super) fn to_table(view: &ConsumersView) -> String {
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
}
