//! Durable named subscriptions (DESIGN §3.3): an SSE connection as a consumer of a
//! Redis consumer group on `stream:optimizely-sync-<sdkKey>`.
//!
//! Unlike the broadcast reader (one XREAD per SDK key, fanned out in memory), each
//! [`GroupSubscription`] reads for itself with XREADGROUP on **its own connection**
//! (a blocking read must not hold up the publisher's pipelines, PERF-NOTES trap 1),
//! so connections sharing a group split the entries and separate groups each get
//! everything. Delivery is at least once:
//!
//! 1. **Own pending entries first.** A consumer that reconnects under its name gets
//!    what it was given before but never acknowledged (`XREADGROUP … 0`, paged until
//!    empty).
//! 2. **Then entries abandoned by other consumers**: `XAUTOCLAIM … claim_min_idle
//!    0-0 COUNT n` over the whole pending list. The sweep is repeated every
//!    `claim_min_idle / 2` while the subscription lives, so what a dead consumer left
//!    is picked up by a live one. A `claim_min_idle` of zero turns claiming off
//!    (it would otherwise steal entries live consumers are writing right now).
//! 3. **Then new entries** (`XREADGROUP … BLOCK … >`), the block kept well under
//!    the connection's response timeout.
//!
//! Nothing is acknowledged when it is read: the caller acknowledges with
//! [`GroupSubscription::ack`] once the entries were written (the SSE layer does it
//! when the body is polled for the next chunk). Entries the subscription's filter
//! rejects, entries that are not notification envelopes (counted, logged once per stream)
//! and entries deleted from the stream while pending are acknowledged at once
//! without being delivered.
//!
//! The subscription does no work of its own between calls (no task, no prefetch):
//! a slow client holds back only its own reads, and dropping the subscription
//! (client gone, server shutting down) stops everything. An XREADGROUP interrupted
//! by that drop may leave entries pending for this consumer: step 1 or 2 delivers
//! them again later.
//!
//! This module depends on `crate::store` and `crate::config` only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Value;

mod request;

pub use request::{GroupError, GroupRequest};
use request::{generated_consumer, start_id, validate_name};

use super::{Event, Filter, LogOnce};
use crate::config::RedisSettings;
use crate::store::{self, Connector, Store, StreamId, read_data, stream_key, xreadgroup_cmd};

/// Entries asked for per XREADGROUP / XAUTOCLAIM call.
const READ_COUNT: u64 = 100;

/// Longest a blocking XREADGROUP waits (and less when the connection's response
/// timeout is short).
const MAX_BLOCK: Duration = Duration::from_secs(5);

/// Shortest pause between two XAUTOCLAIM sweeps.
const MIN_SWEEP: Duration = Duration::from_millis(100);

/// Counters of every group subscription of one hub, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Group subscriptions open now (gauge).
    pub subscriptions: u64,
    /// Entries handed to group subscribers (to be written).
    pub delivered: u64,
    /// Entries acknowledged with XACK (written, filtered out, corrupt or deleted).
    pub acked: u64,
    /// Entries delivered again: a consumer's own pending entries on reconnect, plus
    /// every claimed entry.
    pub redelivered: u64,
    /// Entries claimed from other consumers with XAUTOCLAIM (part of `redelivered`).
    pub claimed: u64,
    /// Entries that were not notification envelopes (acknowledged and skipped).
    pub decode_errors: u64,
    /// Entries the subscriber's filter rejected (acknowledged without being sent).
    pub filtered: u64,
    /// Failed Redis operations of group subscriptions (each retried).
    pub errors: u64,
}

/// The shared counters behind [`GroupStats`].
#[derive(Debug, Default)]
pub(super) struct GroupCounters {
    subscriptions: AtomicU64,
    delivered: AtomicU64,
    acked: AtomicU64,
    redelivered: AtomicU64,
    claimed: AtomicU64,
    decode_errors: AtomicU64,
    filtered: AtomicU64,
    errors: AtomicU64,
    /// Streams whose undecodable group entries were logged (each is logged once).
    pub(super) undecodable_logged: LogOnce,
}

impl GroupCounters {
    /// The counters now.
    pub(super) fn stats(&self) -> GroupStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GroupStats {
            subscriptions: get(&self.subscriptions),
            delivered: get(&self.delivered),
            acked: get(&self.acked),
            redelivered: get(&self.redelivered),
            claimed: get(&self.claimed),
            decode_errors: get(&self.decode_errors),
            filtered: get(&self.filtered),
            errors: get(&self.errors),
        }
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Makes a group subscription on the Streams hub: validates the names, creates the
/// group if missing, and opens the subscription's own connection.
pub(super) async fn subscribe(
    settings: &RedisSettings,
    counters: &Arc<GroupCounters>,
    connector: &Connector,
    sdk_key: &str,
    filter: Filter,
    request: GroupRequest,
) -> Result<GroupSubscription, GroupError> {
    validate_name("group", &request.group)?;
    if let Some(consumer) = &request.consumer {
        validate_name("consumer", consumer)?;
    }
    let start = start_id(request.from.as_deref())?;
    let group = request.group;
    let unavailable = |err: store::Error| GroupError::Unavailable {
        group: group.clone(),
        reason: err.to_string(),
    };
    let store = connector.store();
    let key = stream_key(sdk_key);
    if settings.max_groups > 0 {
        // Counted in Redis, so the cap holds across instances; two instances
        // creating groups at the same moment may each see room for one more.
        let existing = store.groups_if_stream(&key).await.map_err(unavailable)?;
        if existing.len() >= settings.max_groups && !existing.iter().any(|g| g.name == group) {
            return Err(GroupError::TooMany {
                group,
                stream: key,
                existing: existing.len(),
                max: settings.max_groups,
            });
        }
    }
    if store
        .create_group(&key, &group, &start)
        .await
        .map_err(unavailable)?
    {
        tracing::info!(stream = key, group, start, "created consumer group");
    }
    let consumer = request.consumer.unwrap_or_else(generated_consumer);
    // The read must return before the connection's response timeout (the redis
    // crate fails the command otherwise), before a keep-alive is due, and before the
    // next claim sweep.
    let mut block = MAX_BLOCK;
    if !settings.connection_timeout.is_zero() {
        block = block.min(settings.connection_timeout / 2);
    }
    if let Some(max_wait) = request.max_wait.filter(|d| !d.is_zero()) {
        block = block.min(max_wait);
    }
    let sweep_every =
        (!settings.claim_min_idle.is_zero()).then(|| (settings.claim_min_idle / 2).max(MIN_SWEEP));
    if let Some(sweep) = sweep_every {
        block = block.min(sweep);
    }
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(5_000).max(1);
    counters.subscriptions.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(stream = key, group, consumer, "group subscription opened");
    Ok(GroupSubscription {
        store,
        key,
        group,
        consumer,
        filter,
        phase: Phase::Own(StreamId::ZERO),
        claim_min_idle: settings.claim_min_idle,
        sweep_every,
        next_sweep: Instant::now(),
        block_ms,
        attempt: 0,
        failing: false,
        unacked: Vec::new(),
        counters: Arc::clone(counters),
    })
}

/// Where a subscription is in its delivery order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Re-reading this consumer's own pending entries after the id.
    Own(StreamId),
    /// Sweeping other consumers' idle entries with XAUTOCLAIM from the cursor.
    Claim(StreamId),
    /// Reading new entries.
    New,
}

/// One entry as read: its id and its `data` field, or `None` when the entry was
/// deleted from the stream while it was pending.
type Read = (StreamId, Option<Option<Vec<u8>>>);

/// A connection's membership in a consumer group; see the module docs.
///
/// Dropping it stops everything it does; what it read but was not acknowledged
/// stays pending in Redis for this consumer name.
pub struct GroupSubscription {
    store: Store,
    key: String,
    group: String,
    consumer: String,
    filter: Filter,
    phase: Phase,
    claim_min_idle: Duration,
    sweep_every: Option<Duration>,
    next_sweep: Instant,
    block_ms: u64,
    attempt: u32,
    failing: bool,
    /// Ids to XACK (delivered and written, or skipped) that Redis has not taken yet.
    unacked: Vec<String>,
    counters: Arc<GroupCounters>,
}

impl std::fmt::Debug for GroupSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSubscription")
            .field("key", &self.key)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Drop for GroupSubscription {
    fn drop(&mut self) {
        self.counters.subscriptions.fetch_sub(1, Ordering::Relaxed);
    }
}

impl GroupSubscription {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// This connection's consumer name (given or generated); reconnecting with it
    /// gets back what this consumer left pending.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The next events to write, in delivery order (own pending, claimed, new).
    /// Empty when no new entry came within the read's block time, or after a Redis
    /// error (logged, counted, and followed by a back-off pause): the caller may
    /// send a keep-alive and call again.
    ///
    /// Acknowledgements that failed earlier are retried first.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave entries Redis already handed to this consumer
    /// unreported; they stay pending and are delivered again (to this consumer on
    /// reconnect, or to another one by a claim sweep).
    pub async fn next_batch(&mut self) -> Vec<Event> {
        if !self.unacked.is_empty() {
            self.flush_acks().await;
        }
        loop {
            let (reads, redelivered) = match self.read().await {
                Ok(Some(step)) => step,
                Ok(None) => return Vec::new(),
                Err(err) => {
                    self.failed(&err).await;
                    return Vec::new();
                }
            };
            if self.failing {
                tracing::info!(
                    stream = self.key,
                    group = self.group,
                    "group reader reconnected"
                );
                self.failing = false;
            }
            self.attempt = 0;
            let events = self.sort(reads, redelivered);
            if !self.unacked.is_empty() {
                self.flush_acks().await;
            }
            if !events.is_empty() {
                GroupCounters::add(&self.counters.delivered, events.len());
                return events;
            }
            // Everything read was skipped: read on (a non-blocking phase continues,
            // a blocking one returned entries, so it is worth asking again).
        }
    }

    /// Acknowledges entries that were written (XACK). A failure is logged and the
    /// ids are kept to be acknowledged with the next call (or the next
    /// [`GroupSubscription::next_batch`]); until then they stay pending.
    pub async fn ack(&mut self, ids: impl IntoIterator<Item = String>) {
        self.unacked.extend(ids);
        if !self.unacked.is_empty() {
            self.flush_acks().await;
        }
    }

    async fn flush_acks(&mut self) {
        match self.store.ack(&self.key, &self.group, &self.unacked).await {
            Ok(_) => {
                GroupCounters::add(&self.counters.acked, self.unacked.len());
                self.unacked.clear();
            }
            Err(err) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    stream = self.key,
                    group = self.group,
                    pending = self.unacked.len(),
                    "acknowledging delivered entries failed (retried with the next batch): {err}"
                );
            }
        }
    }

    /// One step of the delivery order: entries read and whether they are
    /// redeliveries; `None` when a blocking read timed out.
    async fn read(&mut self) -> Result<Option<(Vec<Read>, bool)>, store::Error> {
        loop {
            match self.phase {
                Phase::Own(after) => {
                    let reads = self.read_group(&after.to_string(), None).await?;
                    match reads.last() {
                        Some((last, _)) => {
                            self.phase = Phase::Own(*last);
                            return Ok(Some((reads, true)));
                        }
                        None => self.phase = self.after_own(),
                    }
                }
                Phase::Claim(cursor) => {
                    let Some(step) = self.claim(cursor).await? else {
                        // XAUTOCLAIM is unavailable (Redis < 6.2): no sweeps.
                        self.sweep_every = None;
                        self.phase = Phase::New;
                        continue;
                    };
                    self.phase = if step.next == StreamId::ZERO {
                        self.next_sweep = Instant::now() + self.sweep_every.unwrap_or_default();
                        Phase::New
                    } else {
                        Phase::Claim(step.next)
                    };
                    if !step.claimed.is_empty() {
                        GroupCounters::add(&self.counters.claimed, step.claimed.len());
                        let reads = step
                            .claimed
                            .into_iter()
                            .map(|entry| {
                                let data = entry
                                    .fields
                                    .into_iter()
                                    .find(|(name, _)| name == "data")
                                    .map(|(_, value)| value.into_bytes());
                                (entry.id, Some(data))
                            })
                            .collect();
                        return Ok(Some((reads, true)));
                    }
                }
                Phase::New => {
                    if self.sweep_every.is_some() && Instant::now() >= self.next_sweep {
                        self.phase = Phase::Claim(StreamId::ZERO);
                        continue;
                    }
                    let reads = self.read_group(">", Some(self.block_ms)).await?;
                    return Ok((!reads.is_empty()).then_some((reads, false)));
                }
            }
        }
    }

    fn after_own(&self) -> Phase {
        if self.sweep_every.is_some() {
            Phase::Claim(StreamId::ZERO)
        } else {
            Phase::New
        }
    }

    /// `XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS key id`; a group deleted
    /// meanwhile (NOGROUP) is created again at new entries.
    async fn read_group(
        &mut self,
        id: &str,
        block_ms: Option<u64>,
    ) -> Result<Vec<Read>, store::Error> {
        let cmd = xreadgroup_cmd(
            &self.key,
            &self.group,
            &self.consumer,
            id,
            READ_COUNT,
            block_ms,
        );
        match self.store.query::<Value>(&cmd).await {
            Ok(value) => Ok(read_data(&value)
                .into_iter()
                .map(|(id, data)| (id, data.map(|d| d.map(<[u8]>::to_vec))))
                .collect()),
            Err(err) if err.code() == Some("NOGROUP") => {
                tracing::warn!(
                    stream = self.key,
                    group = self.group,
                    "the consumer group (or its stream) was deleted; creating it again at new entries"
                );
                self.store.create_group(&self.key, &self.group, "$").await?;
                self.phase = Phase::New;
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// One XAUTOCLAIM step; `None` when the server does not know the command.
    async fn claim(&mut self, cursor: StreamId) -> Result<Option<store::AutoClaim>, store::Error> {
        match self
            .store
            .autoclaim(
                &self.key,
                &self.group,
                &self.consumer,
                self.claim_min_idle,
                cursor,
                READ_COUNT,
            )
            .await
        {
            Ok(step) => Ok(Some(step)),
            Err(err) if err.code() == Some("NOGROUP") => {
                self.store.create_group(&self.key, &self.group, "$").await?;
                Ok(Some(store::AutoClaim {
                    next: StreamId::ZERO,
                    claimed: Vec::new(),
                    deleted: Vec::new(),
                }))
            }
            Err(err @ store::Error::Command { .. }) => {
                tracing::warn!(
                    stream = self.key,
                    group = self.group,
                    "claiming idle entries of other consumers is off (XAUTOCLAIM needs Redis >= 6.2): {err}"
                );
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Decodes and filters what was read; what is not delivered is queued for XACK.
    fn sort(&mut self, reads: Vec<Read>, redelivered: bool) -> Vec<Event> {
        let mut events = Vec::with_capacity(reads.len());
        for (id, data) in reads {
            let Some(data) = data else {
                // Deleted from the stream (trimmed) while pending: nothing to send.
                self.unacked.push(id.to_string());
                continue;
            };
            let decoded = data
                .as_deref()
                .map(|d| std::str::from_utf8(d).map_err(|e| e.to_string()))
                .map(|text| {
                    text.and_then(|t| super::validate::read_envelope(t).map_err(|e| e.to_string()))
                });
            match decoded {
                Some(Ok(notification)) if self.filter.allows(notification.kind) => {
                    events.push(Event {
                        id: id.to_string(),
                        notification,
                    });
                }
                Some(Ok(_)) => {
                    self.counters.filtered.fetch_add(1, Ordering::Relaxed);
                    self.unacked.push(id.to_string());
                }
                other => {
                    self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    if self.counters.undecodable_logged.first(&self.key) {
                        let reason = match other {
                            Some(Err(reason)) => reason,
                            _ => "no `data` field".to_owned(),
                        };
                        tracing::warn!(
                            stream = self.key,
                            group = self.group,
                            entry = %id,
                            "acknowledging and skipping an entry that is not a notification \
                             (further ones in this stream are only counted): {reason}"
                        );
                    }
                    self.unacked.push(id.to_string());
                }
            }
        }
        if redelivered {
            GroupCounters::add(&self.counters.redelivered, events.len());
        }
        events
    }

    async fn failed(&mut self, err: &store::Error) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            tracing::warn!(
                stream = self.key,
                group = self.group,
                consumer = self.consumer,
                "group reader: {err}; retrying"
            );
            self.failing = true;
        }
        self.attempt = self.attempt.saturating_add(1);
        tokio::time::sleep(self.store.policy().pause(self.attempt)).await;
    }
}
