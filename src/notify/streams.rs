//! The Redis Streams hub: notifications of every instance reach every subscriber.
//!
//! - **Publisher** (DESIGN §3.4): the shared [`Outbox`] XADDs upstream-shaped entries
//!   (`data` = envelope, `timestamp` = unix seconds, plus `nid`, the notification's
//!   publisher id, which makes a resend after a lost reply idempotent) to
//!   `stream:optimizely-sync-<sdkKey>` in adaptive pipelined batches over one
//!   multiplexed connection, buffering (bounded) while Redis is down.
//!   Retention: `max_len` (XADD `MAXLEN ~`) and `max_age` (`MINID ~`).
//! - **Reader** (DESIGN §3.1): one task per SDK key that has local subscribers, on
//!   its own connection, blocking in XREAD; it starts with the first subscriber and
//!   stops after the last, and fans out in memory. Redis load does not grow with
//!   the number of subscribers.
//! - **Resume** (DESIGN §3.2): a subscriber with `Last-Event-ID` gets the entries
//!   after it up to the reader's position, then live ones. They come from the
//!   reader's in-memory window (its last `api.notificationBuffer` entries) when it
//!   reaches back that far; only older ones are read with XRANGE, and concurrent
//!   resumes needing the same range share one read, which then extends the window.
//!   A reconnect storm (thousands of subscribers of a dead instance resuming here)
//!   costs Redis a few reads per SDK key, not a few per subscriber.
//! - **Fail-over** (issue 15): Redis replicates asynchronously, so a fail-over
//!   can lose the last writes. A resume id newer than the stream gets a `reset`
//!   ([`StreamsHub::replay`]); a reader whose connection broke or was re-opened
//!   checks that the last entry it delivered survived before it delivers more,
//!   and resets its live subscribers when not ([`lost`]). With `wait_replicas`,
//!   each publish pipeline ends with `WAIT` ([`Append`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use redis::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::groups::{GroupCounters, GroupStats};
use super::outbox::{Batch, Landed, Outbox, PublisherStats};
use super::{
    Event, Fanout, Filter, History, LogOnce, Missed, Notification, Subscription, SubscriptionError,
    Window,
};
use crate::config::RedisSettings;
use crate::store::{
    self, Connector, NID_FIELD, NewEntry, Retention, Store, StreamId, StreamInfo, WaitFor,
    range_data, read_data, stream_key, wait_cmd, xadd_pipeline, xrange_cmd, xread_cmd,
    xrevrange_cmd,
};
use crate::util::{lock, now_ms};

/// Entries read per XREAD / XRANGE page.
const READ_COUNT: u64 = 500;

/// How long the final flush may take on shutdown.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Counters for `/metrics` (upstream's `redis_streams.*` names where they exist).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamsStats {
    /// The publisher: entries XADDed, pipelines, drops, buffer, histograms.
    pub publisher: PublisherStats,
    /// Entries read by the readers.
    pub read: u64,
    /// Entries that were not valid envelopes (skipped).
    pub decode_errors: u64,
    /// Failed reads (each retried).
    pub read_errors: u64,
    /// Connections of the publisher, readers and group subscriptions re-opened after
    /// breaking.
    pub reconnects: u64,
    /// Readers running now (one per SDK key with local subscribers).
    pub readers: u64,
    /// Entries replayed to resuming subscribers.
    pub replayed: u64,
    /// Resumes whose id was newer than the stream's last entry: writes Redis lost
    /// in a fail-over (each answered with a `reset` event).
    pub rollbacks: u64,
    /// Readers that found, after their connection broke or was re-opened, that
    /// entries they had delivered are no longer in the stream (writes lost in a
    /// fail-over): each sent its live subscribers a `reset` event.
    pub reader_rollbacks: u64,
    /// Publish pipelines that fewer replicas than `wait_replicas` acknowledged
    /// within `wait_timeout` (stored on the primary all the same; not retried).
    pub under_replicated: u64,
    /// Resumes served whole from a reader's in-memory window (no Redis read).
    pub resumes_from_memory: u64,
    /// Stream reads made for resumes (each its rollback/trim check and XRANGE
    /// pages); concurrent resumes needing the same range share one.
    pub resume_reads: u64,
    /// Durable group subscriptions (`?group=`).
    pub groups: GroupStats,
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    decode_errors: AtomicU64,
    read_errors: AtomicU64,
    readers: AtomicU64,
    replayed: AtomicU64,
    rollbacks: AtomicU64,
    reader_rollbacks: AtomicU64,
    under_replicated: AtomicU64,
    resumes_from_memory: AtomicU64,
    resume_reads: AtomicU64,
}

/// What one resume read of a stream found: what became of the entries after its
/// start, and the notifications after it up to its end.
struct RangeRead {
    gone: Gone,
    events: Vec<Arc<Event>>,
}

/// A resume read in flight, shared by every resume that needs its range.
type Flight = Shared<BoxFuture<'static, Result<Arc<RangeRead>, SubscriptionError>>>;

/// One running reader and how many local subscriptions hold it.
struct Reader {
    holders: usize,
    stop: CancellationToken,
    /// Resolves once the reader's start position is set in the fan-out (shared
    /// by every subscriber that arrives while it is looked up).
    started: Shared<BoxFuture<'static, ()>>,
}

/// The Streams hub of one instance.
pub struct StreamsHub {
    pub(super) settings: RedisSettings,
    /// Opens every connection of this hub and counts their reconnects.
    pub(super) connector: Connector,
    store: Arc<Store>,
    fanout: Arc<Fanout>,
    outbox: Outbox<Outgoing>,
    /// This instance's part of every `nid`.
    instance: String,
    /// The sequence part of the next `nid`.
    next_nid: AtomicU64,
    readers: Mutex<HashMap<String, Reader>>,
    /// Resume reads in flight, by SDK key and range (after, through].
    flights: Mutex<HashMap<(String, StreamId, StreamId), Flight>>,
    counters: Arc<Counters>,
    /// Streams whose undecodable entries were logged (each is logged once).
    undecodable_logged: LogOnce,
    /// Counters of the durable group subscriptions made on this hub.
    pub(super) groups: Arc<GroupCounters>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// One notification waiting for XADD, with its publisher id (`nid`): this
/// instance's id and a sequence number, unique across instances and restarts.
pub(super) struct Outgoing {
    key: String,
    notification: Notification,
    nid: String,
}

/// Stream entries scanned at most, per stream, to find what landed after a
/// pipeline got no reply.
const LANDED_SCAN: u64 = 100_000;
/// Slack below the first attempt's time when looking for what landed (clock
/// readings of this process and of Redis are a few ms apart).
const LANDED_SLACK: Duration = Duration::from_secs(2);

/// How notifications go to Redis: one XADD each, carrying its `nid`, and with
/// `wait_replicas` set a closing `WAIT`; after a pipeline got no reply, the streams
/// are read from just before the first attempt for those `nid`s.
struct Append {
    retention: Retention,
    wait: Option<WaitFor>,
    counters: Arc<Counters>,
    /// Streams whose under-replicated batches were logged (each is logged once).
    under_replicated_logged: LogOnce,
}

impl Batch<Outgoing> for Append {
    fn pipeline(&self, items: &[Outgoing]) -> redis::Pipeline {
        let entries = items.iter().map(|item| NewEntry {
            key: item.key.clone(),
            data: item.notification.envelope(),
            nid: Some(item.nid.clone()),
        });
        let mut pipe = xadd_pipeline(self.retention, now_ms(), entries);
        if let Some(wait) = self.wait {
            pipe.add_command(wait_cmd(wait));
        }
        pipe
    }

    fn closing_replies(&self) -> usize {
        usize::from(self.wait.is_some())
    }

    /// A batch fewer replicas acknowledged than asked is counted and logged, not
    /// sent again: its entries are on the primary, readers may have delivered
    /// them, and a resend would duplicate them.
    fn check_closing(&self, items: &[Outgoing], replies: Vec<redis::RedisResult<Value>>) {
        let Some(wait) = self.wait else { return };
        let acknowledged = match replies.into_iter().next() {
            Some(Ok(Value::Int(n))) => Ok(n),
            Some(Ok(other)) => Err(format!("unexpected WAIT reply {other:?}")),
            Some(Err(err)) => Err(err.to_string()),
            None => Err("no WAIT reply".to_owned()),
        };
        if acknowledged
            .as_ref()
            .is_ok_and(|n| *n >= i64::from(wait.replicas))
        {
            return;
        }
        self.counters
            .under_replicated
            .fetch_add(1, Ordering::Relaxed);
        let got = acknowledged.map_or_else(|err| err, |n| format!("{n} acknowledged"));
        let keys: BTreeSet<&str> = items.iter().map(|item| item.key.as_str()).collect();
        for key in keys {
            if self.under_replicated_logged.first(key) {
                tracing::warn!(
                    stream = key,
                    wanted = wait.replicas,
                    timeout = ?wait.timeout,
                    "a publish batch was not acknowledged by synchronization.pubsub.redis.\
                     wait_replicas replicas in time ({got}); its notifications are on the \
                     primary and are not resent, but a fail-over now could lose them \
                     (further ones on this stream are only counted)"
                );
            }
        }
    }

    async fn landed(
        &self,
        store: &Store,
        items: &[Outgoing],
        since: Instant,
    ) -> Result<Vec<Landed>, store::Error> {
        // Entry ids are Redis's clock: ask it what time the first attempt was.
        let now = store.server_time_ms().await?;
        let back = u64::try_from((since.elapsed() + LANDED_SLACK).as_millis()).unwrap_or(u64::MAX);
        let from = StreamId::new(now.saturating_sub(back), 0);
        let mut by_key: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for item in items {
            by_key
                .entry(&item.key)
                .or_default()
                .insert(item.nid.clone());
        }
        let mut found = BTreeMap::new();
        for (key, wanted) in by_key {
            let (present, complete) = store
                .find_field_values(key, from, NID_FIELD, &wanted, LANDED_SCAN)
                .await?;
            found.insert(key, (present, complete));
        }
        Ok(items
            .iter()
            .map(|item| match found.get(item.key.as_str()) {
                Some((present, _)) if present.contains(&item.nid) => Landed::Yes,
                Some((_, true)) => Landed::No,
                _ => Landed::Unknown,
            })
            .collect())
    }
}

/// What became of the entries after a resume point.
enum Gone {
    /// Nothing: every entry after it is still in the stream.
    Nothing,
    /// Retention trimmed some of them away.
    Trimmed,
    /// The point is newer than the stream's last generated id (given): Redis lost
    /// writes in a fail-over.
    RolledBack(StreamId),
}

/// A reader's failures in a row: logged once until it recovers, each followed by
/// the store's back-off pause.
struct ReaderRetry<'a> {
    store: &'a store::Store,
    key: &'a str,
    stop: &'a CancellationToken,
    attempt: u32,
    failing: bool,
}

impl ReaderRetry<'_> {
    /// A failed Redis call: counted in `errors`, logged when it is the first in a
    /// row, then the pause. `false` when the reader was stopped meanwhile.
    async fn failed(&mut self, errors: &AtomicU64, err: &store::Error) -> bool {
        errors.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            tracing::warn!(stream = self.key, "reader: {err}; retrying");
            self.failing = true;
        }
        self.attempt = self.attempt.saturating_add(1);
        let pause = self.store.policy().pause(self.attempt);
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(pause) => true,
        }
    }

    /// A read that succeeded: the next failure starts the back-off afresh.
    fn recovered(&mut self) {
        if self.failing {
            tracing::info!(stream = self.key, "reader reconnected");
            self.failing = false;
        }
        self.attempt = 0;
    }
}

/// The subscriber-facing reason for a failed read.
fn unavailable(err: store::Error) -> SubscriptionError {
    SubscriptionError::Unavailable(err.to_string())
}

/// A subscriber that fell behind the live feed reads what it missed from the
/// stream, the same XRANGE pages a `Last-Event-ID` resume reads.
impl History for StreamsHub {
    fn missed<'a>(
        &'a self,
        sdk_key: &'a str,
        after: StreamId,
        before: StreamId,
        first: bool,
    ) -> BoxFuture<'a, Result<Missed, SubscriptionError>> {
        Box::pin(async move {
            // A rollback during a catch-up is a gap like a trim: the subscriber is told.
            let trimmed = first && !matches!(self.gone_after(sdk_key, after).await?, Gone::Nothing);
            // `before` is the live event the subscriber rejoins at: read up to the
            // entry just before it.
            let Some(through) = before.predecessor().filter(|through| *through > after) else {
                return Ok(Missed {
                    trimmed,
                    ..Missed::default()
                });
            };
            let (events, last, more) = self.page(sdk_key, after, through).await?;
            Ok(Missed {
                events,
                read_through: last.filter(|_| more),
                trimmed,
            })
        })
    }
}

/// Decrements a key's reader count when a subscription ends.
struct ReaderGuard {
    hub: Arc<StreamsHub>,
    sdk_key: String,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        let mut readers = lock(&self.hub.readers);
        if let Some(reader) = readers.get_mut(&self.sdk_key) {
            reader.holders = reader.holders.saturating_sub(1);
            if reader.holders == 0 {
                reader.stop.cancel();
                readers.remove(&self.sdk_key);
            }
        }
    }
}

/// An id for this process's notifications: pid and start time, in hex.
fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}.{nanos:x}", std::process::id())
}

impl StreamsHub {
    /// Starts the publisher. Redis need not be up: everything connects lazily and
    /// retries.
    pub fn start(
        settings: &RedisSettings,
        fanout: Arc<Fanout>,
        cancel: CancellationToken,
    ) -> Result<Arc<StreamsHub>, store::Error> {
        let connector = Connector::from_settings(settings)?;
        let store = Arc::new(connector.store());
        let wait = WaitFor::from_settings(settings);
        // A WAIT holds up its connection: with it on, the publisher gets its own,
        // so resume reads do not queue behind it.
        let publisher = match wait {
            Some(_) => Arc::new(connector.store()),
            None => Arc::clone(&store),
        };
        let counters: Arc<Counters> = Arc::default();
        let outbox = Outbox::new(settings);
        let hub = Arc::new(StreamsHub {
            settings: settings.clone(),
            connector,
            store: Arc::clone(&store),
            fanout,
            outbox: outbox.clone(),
            instance: instance_id(),
            next_nid: AtomicU64::new(0),
            readers: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            counters: Arc::clone(&counters),
            undecodable_logged: LogOnce::default(),
            groups: Arc::default(),
            cancel: cancel.clone(),
            tasks: TaskTracker::new(),
        });
        let append = Append {
            retention: Retention::from_settings(settings),
            wait,
            counters,
            under_replicated_logged: LogOnce::default(),
        };
        hub.tasks.spawn(async move {
            outbox.run(&publisher, &cancel, FINAL_FLUSH, &append).await;
        });
        Ok(hub)
    }

    /// Queues a notification for XADD. Never waits; false (and counted) when the
    /// buffer is full.
    pub fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        let seq = self.next_nid.fetch_add(1, Ordering::Relaxed);
        self.outbox.offer(Outgoing {
            key: stream_key(sdk_key),
            notification,
            nid: format!("{}.{seq}", self.instance),
        })
    }

    /// Counters now.
    pub fn stats(&self) -> StreamsStats {
        let c = &self.counters;
        StreamsStats {
            publisher: self.outbox.stats(),
            read: c.read.load(Ordering::Relaxed),
            decode_errors: c.decode_errors.load(Ordering::Relaxed),
            read_errors: c.read_errors.load(Ordering::Relaxed),
            reconnects: self.connector.reconnects(),
            readers: c.readers.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            rollbacks: c.rollbacks.load(Ordering::Relaxed),
            reader_rollbacks: c.reader_rollbacks.load(Ordering::Relaxed),
            under_replicated: c.under_replicated.load(Ordering::Relaxed),
            resumes_from_memory: c.resumes_from_memory.load(Ordering::Relaxed),
            resume_reads: c.resume_reads.load(Ordering::Relaxed),
            groups: self.groups.stats(),
        }
    }

    /// Waits for the publisher's final flush and the readers to end (after cancel).
    pub async fn finished(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Subscribes to `sdk_key`, starting its reader if this is the first local
    /// subscriber; with `last_event_id`, replays retained entries after it first.
    pub async fn subscribe(
        self: &Arc<Self>,
        sdk_key: &str,
        filter: Filter,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscriptionError> {
        let after = super::fanout::parse_last_event_id(last_event_id)?;
        let guard = Box::new(self.ensure_reader(sdk_key).await);
        let (subscription, position) = self.fanout.subscribe_at(sdk_key, filter);
        let mut subscription = subscription.with_guard(guard);
        match after {
            Some(after) => {
                let (from, replay, gap) = self.replay(sdk_key, after, position).await?;
                self.counters
                    .replayed
                    .fetch_add(replay.len() as u64, Ordering::Relaxed);
                subscription = subscription.resume_with(from, replay, gap);
            }
            None => subscription = subscription.starting_after(position),
        }
        // A subscriber that falls behind the live feed catches up from the stream.
        let history: Arc<dyn History> = Arc::clone(self) as Arc<dyn History>;
        Ok(subscription.with_history(history, sdk_key, position))
    }

    /// Entries after `after` up to `through`, and whether entries after `after` are
    /// gone: trimmed away before they could be replayed, or lost by Redis.
    ///
    /// The reader's in-memory window serves the resume when it reaches back to
    /// `after`; what is older is read from the stream (shared with concurrent resumes
    /// of the same range, see [`StreamsHub::read_range`]) and, when it fits, added
    /// to the window for the resumes that follow.
    ///
    /// Redis replicates asynchronously, so a fail-over (Sentinel, Cluster) can lose
    /// the last writes the old primary acknowledged. A resume id newer than
    /// everything the stream ever held (its `last-generated-id`) is the trace of
    /// such a rollback: the client saw entries that no longer exist, and others
    /// may never see them. That is reported as a gap too (the `reset` event), and
    /// the replay starts after the stream's last id instead, so no entry written
    /// after the fail-over is skipped for having a smaller id than the lost ones.
    /// (A resume id inside the window was delivered by this instance's reader, so
    /// it is not checked again.) Returns the point the replay started after, the
    /// entries, and the gap.
    async fn replay(
        self: &Arc<Self>,
        sdk_key: &str,
        after: StreamId,
        through: StreamId,
    ) -> Result<(StreamId, Vec<Arc<Event>>, bool), SubscriptionError> {
        let mut out = Vec::new();
        let (mut start, mut from, mut gap) = (after, after, false);
        loop {
            let (to, window_start) = match self.fanout.window(sdk_key, from, through) {
                Window::Covered(events) => {
                    if from == after {
                        self.counters
                            .resumes_from_memory
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    out.extend(events);
                    return Ok((start, out, gap));
                }
                Window::StartsAfter(window_start) => (window_start, Some(window_start)),
                Window::Unknown => (through, None),
            };
            let read = self.read_range(sdk_key, from, to).await?;
            match read.gone {
                Gone::RolledBack(last) => {
                    self.counters.rollbacks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        stream = stream_key(sdk_key),
                        resume_id = %from,
                        last_id = %last,
                        "a resume id is newer than the stream's last entry: Redis lost writes \
                         (a fail-over to a replica that had not received them); sending reset"
                    );
                    (start, from, gap) = (last, last, true);
                    continue;
                }
                Gone::Trimmed => gap |= from != StreamId::ZERO,
                Gone::Nothing => {
                    if let Some(window_start) = window_start {
                        self.fanout
                            .backfill(sdk_key, from, window_start, &read.events);
                    }
                }
            }
            out.extend(read.events.iter().cloned());
            match window_start {
                Some(window_start) => from = window_start,
                None => return Ok((start, out, gap)),
            }
        }
    }

    /// Reads what became of the entries after `after` ([`StreamsHub::gone_after`])
    /// and the notifications after it up to `through`, in XRANGE pages. Concurrent
    /// calls for the same key and range share one read.
    async fn read_range(
        self: &Arc<Self>,
        sdk_key: &str,
        after: StreamId,
        through: StreamId,
    ) -> Result<Arc<RangeRead>, SubscriptionError> {
        let id = (sdk_key.to_owned(), after, through.max(after));
        let flight = {
            let mut flights = lock(&self.flights);
            match flights.get(&id) {
                Some(flight) => flight.clone(),
                None => {
                    let hub = Arc::clone(self);
                    let key = id.clone();
                    // A task of its own: the read completes (and leaves the map)
                    // even if every resume waiting for it gives up.
                    let read = self.tasks.spawn(async move {
                        hub.counters.resume_reads.fetch_add(1, Ordering::Relaxed);
                        let read = hub.read_range_now(&key.0, key.1, key.2).await;
                        lock(&hub.flights).remove(&key);
                        read.map(Arc::new)
                    });
                    let flight = async move {
                        read.await.unwrap_or_else(|err| {
                            Err(SubscriptionError::Unavailable(err.to_string()))
                        })
                    }
                    .boxed()
                    .shared();
                    flights.insert(id, flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    async fn read_range_now(
        &self,
        sdk_key: &str,
        after: StreamId,
        through: StreamId,
    ) -> Result<RangeRead, SubscriptionError> {
        let gone = self.gone_after(sdk_key, after).await?;
        let mut events = Vec::new();
        let mut from = after;
        while from < through && !matches!(gone, Gone::RolledBack(_)) {
            let (page, last, _) = self.page(sdk_key, from, through).await?;
            events.extend(page);
            match last {
                Some(last) => from = last,
                None => break,
            }
        }
        Ok(RangeRead { gone, events })
    }

    /// What became of the entries after `after`: trimmed when the oldest retained
    /// entry is newer than it and the stream ever lost entries (Redis 7 counts what
    /// was ever added; older servers only give the first-entry rule), rolled back
    /// when `after` is newer than the stream's last generated id.
    async fn gone_after(&self, sdk_key: &str, after: StreamId) -> Result<Gone, SubscriptionError> {
        let key = stream_key(sdk_key);
        let first: Value = self
            .store
            .query(&xrange_cmd(&key, "-", "+", 1))
            .await
            .map_err(unavailable)?;
        let oldest = range_data(&first).first().map(|(id, _)| *id);
        let info = self.store.stream_info(&key).await.ok();
        if let Some(last) = info
            .as_ref()
            .map(|info| info.last_generated_id)
            .filter(|last| after > *last)
        {
            return Ok(Gone::RolledBack(last));
        }
        let trimmed_ever = info
            .as_ref()
            .is_none_or(|info| info.entries_added.is_none_or(|added| added > info.length));
        Ok(
            if trimmed_ever && oldest.is_some_and(|oldest| oldest > after) {
                Gone::Trimmed
            } else {
                Gone::Nothing
            },
        )
    }

    /// One page (up to [`READ_COUNT`] entries) after `after` up to `through`: the
    /// notifications among them, the id of the last entry read (`None` when the
    /// range was empty), and whether the range may hold more.
    async fn page(
        &self,
        sdk_key: &str,
        after: StreamId,
        through: StreamId,
    ) -> Result<(Vec<Arc<Event>>, Option<StreamId>, bool), SubscriptionError> {
        let Some(start) = after.successor() else {
            return Ok((Vec::new(), None, false));
        };
        let key = stream_key(sdk_key);
        let range = xrange_cmd(&key, &start.to_string(), &through.to_string(), READ_COUNT);
        let page: Value = self.store.query(&range).await.map_err(unavailable)?;
        let page = range_data(&page);
        let more = page.len() as u64 >= READ_COUNT;
        let last = page.last().map(|(id, _)| *id);
        let events = page
            .into_iter()
            .filter_map(|(id, data)| {
                let notification = self.decode(sdk_key, id, data.flatten())?;
                Some(Arc::new(Event::new(id.to_text(), notification)))
            })
            .collect();
        Ok((events, last, more))
    }

    /// The notification of entry `id` of `sdk_key`'s stream; `None` (counted, and
    /// logged once per stream) when its `data` is not a notification envelope.
    fn decode(&self, sdk_key: &str, id: StreamId, data: Option<&[u8]>) -> Option<Notification> {
        let text = data.and_then(|d| std::str::from_utf8(d).ok());
        match text.map(super::validate::read_envelope) {
            Some(Ok(notification)) => Some(notification),
            other => {
                self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                if self.undecodable_logged.first(sdk_key) {
                    let reason = match other {
                        Some(Err(err)) => err.to_string(),
                        _ => "no `data` field".to_owned(),
                    };
                    tracing::warn!(
                        stream = stream_key(sdk_key),
                        entry = %id,
                        "skipping an entry that is not a notification (further ones in this \
                         stream are only counted): {reason}"
                    );
                }
                None
            }
        }
    }

    /// Starts the reader of `sdk_key` unless it runs, counts one more holder, and
    /// returns once the reader's position is set. The position is looked up once
    /// however many subscribers arrive meanwhile; the guard counts the holder from
    /// the start, so a subscriber that gives up while waiting is not counted.
    async fn ensure_reader(self: &Arc<Self>, sdk_key: &str) -> ReaderGuard {
        let started = {
            let mut readers = lock(&self.readers);
            match readers.get_mut(sdk_key) {
                Some(reader) => {
                    reader.holders += 1;
                    reader.started.clone()
                }
                None => {
                    let stop = self.cancel.child_token();
                    let hub = Arc::clone(self);
                    let (key, reader_stop) = (sdk_key.to_owned(), stop.clone());
                    // A task of its own: the reader starts even if the subscriber
                    // that asked first gives up.
                    let start = self
                        .tasks
                        .spawn(async move { hub.start_reader(key, reader_stop).await });
                    let started = async move {
                        // A start that panicked leaves the reader unstarted; the
                        // subscribers then see no live events, as with Redis down.
                        let _ = start.await;
                    }
                    .boxed()
                    .shared();
                    readers.insert(
                        sdk_key.to_owned(),
                        Reader {
                            holders: 1,
                            stop,
                            started: started.clone(),
                        },
                    );
                    started
                }
            }
        };
        let guard = ReaderGuard {
            hub: Arc::clone(self),
            sdk_key: sdk_key.to_owned(),
        };
        started.await;
        guard
    }

    /// Looks up where the reader of `sdk_key` starts (after the stream's current
    /// last entry: what came before is history, served to whoever asks to resume),
    /// sets it in the fan-out and runs the reader, unless every holder left meanwhile.
    async fn start_reader(self: Arc<Self>, sdk_key: String, stop: CancellationToken) {
        let key = stream_key(&sdk_key);
        let last: Result<Value, _> = self.store.query(&xrevrange_cmd(&key, "+", "-", 1)).await;
        let start = match &last {
            Ok(value) => range_data(value)
                .first()
                .map_or(StreamId::ZERO, |(id, _)| *id),
            Err(err) => {
                tracing::warn!("reading the position of {key}: {err}; starting from new entries");
                StreamId::new(now_ms(), 0)
            }
        };
        {
            // Under the readers' lock: a holder leaving now stops this reader.
            let _readers = lock(&self.readers);
            if stop.is_cancelled() {
                return;
            }
            self.fanout.set_position(&sdk_key, start);
        }
        let hub = Arc::clone(&self);
        self.tasks
            .spawn(async move { hub.read_loop(sdk_key, start, stop).await });
    }

    async fn read_loop(
        self: Arc<Self>,
        sdk_key: String,
        mut last: StreamId,
        stop: CancellationToken,
    ) {
        self.counters.readers.fetch_add(1, Ordering::Relaxed);
        let key = stream_key(&sdk_key);
        // A blocking read must not share the publisher's connection (every XADD
        // would queue behind it), and must return before the response timeout.
        let store = self.connector.store();
        let block_ms = match self.settings.connection_timeout {
            t if t.is_zero() => 5_000,
            t => u64::try_from((t / 2).as_millis())
                .unwrap_or(5_000)
                .clamp(1, 5_000),
        };
        let mut retry = ReaderRetry {
            store: &store,
            key: &key,
            stop: &stop,
            attempt: 0,
            failing: false,
        };
        // Set after a failed read or a reconnect (the server may have changed: a
        // fail-over): what was delivered is checked before anything more is.
        let mut check = false;
        let mut reconnects = store.reconnects();
        loop {
            if std::mem::take(&mut check) && last != StreamId::ZERO {
                let kept = tokio::select! {
                    () = stop.cancelled() => break,
                    kept = store.kept_through(&key, last) => kept,
                };
                match kept {
                    Ok((newest, info)) => {
                        if let Some(kept) = lost(last, newest, info.as_ref()) {
                            self.rolled_back(&sdk_key, last, kept);
                            last = kept;
                        }
                    }
                    Err(err) => {
                        check = true;
                        if !retry.failed(&self.counters.read_errors, &err).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let read = xread_cmd(&key, last, READ_COUNT, block_ms);
            let reply = tokio::select! {
                () = stop.cancelled() => break,
                reply = store.query::<Value>(&read) => reply,
            };
            if store.reconnects() != reconnects {
                // Read over a re-opened connection: put aside until checked.
                reconnects = store.reconnects();
                check = true;
                if reply.is_ok() {
                    continue;
                }
            }
            match reply {
                Ok(value) => {
                    retry.recovered();
                    for (id, data) in read_data(&value) {
                        last = last.max(id);
                        self.counters.read.fetch_add(1, Ordering::Relaxed);
                        if let Some(notification) = self.decode(&sdk_key, id, data.flatten()) {
                            self.fanout.deliver(&sdk_key, id, notification);
                        }
                    }
                }
                Err(err) => {
                    check = true;
                    if !retry.failed(&self.counters.read_errors, &err).await {
                        break;
                    }
                }
            }
        }
        self.counters.readers.fetch_sub(1, Ordering::Relaxed);
    }

    /// The reader of `sdk_key` found that the entries it delivered after `kept`,
    /// up to `delivered`, are gone: counted, logged, and the key's live
    /// subscribers get a `reset` before what follows.
    fn rolled_back(&self, sdk_key: &str, delivered: StreamId, kept: StreamId) {
        self.counters
            .reader_rollbacks
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            stream = stream_key(sdk_key),
            delivered = %delivered,
            kept = %kept,
            "entries this reader delivered are no longer in the stream: Redis lost writes \
             (a fail-over to a replica that had not received them); sending reset to the \
             subscribers and reading on after the last entry kept"
        );
        self.fanout.rolled_back(sdk_key, kept);
    }
}

/// Whether the last entry a reader delivered, `delivered`, is gone for another
/// reason than retention or deletion, i.e. lost in a fail-over; then the id to
/// read on after (the newest entry kept before it, `0-0` for none). `newest` is
/// the newest entry at or before `delivered` now, `info` the stream's XINFO
/// (`None`: the stream is gone).
///
/// - it is still there, or nothing at or before it is left (retention trimmed
///   the stream's front past it): not lost;
/// - the stream is gone, or its last generated id is older than `delivered`
///   (ids never go back otherwise): lost;
/// - newer entries exist and an older one is left: deleted (XDEL) when Redis 7
///   says so (`max-deleted-entry-id`), else lost and followed by new writes.
fn lost(
    delivered: StreamId,
    newest: Option<StreamId>,
    info: Option<&StreamInfo>,
) -> Option<StreamId> {
    if newest == Some(delivered) {
        return None;
    }
    let kept = newest.unwrap_or(StreamId::ZERO);
    let Some(info) = info else {
        return Some(kept);
    };
    if info.last_generated_id < delivered {
        return Some(kept);
    }
    let deleted = info
        .max_deleted_entry_id
        .is_some_and(|deleted| deleted >= delivered);
    (newest.is_some() && !deleted).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(last: u64, max_deleted: Option<u64>) -> StreamInfo {
        StreamInfo {
            length: 1,
            radix_tree_keys: 1,
            radix_tree_nodes: 1,
            last_generated_id: StreamId::new(last, 0),
            max_deleted_entry_id: max_deleted.map(|ms| StreamId::new(ms, 0)),
            entries_added: None,
            recorded_first_entry_id: None,
            groups: 0,
            first_entry: None,
            last_entry: None,
        }
    }

    #[test]
    fn a_delivered_entry_is_lost_only_when_retention_and_deletion_cannot_explain_it() {
        let id = |ms| StreamId::new(ms, 0);
        // Still there.
        assert_eq!(lost(id(5), Some(id(5)), Some(&info(9, Some(0)))), None);
        // The stream went back to 3: lost, read on after 3.
        assert_eq!(
            lost(id(5), Some(id(3)), Some(&info(3, Some(0)))),
            Some(id(3))
        );
        assert_eq!(lost(id(5), Some(id(3)), Some(&info(3, None))), Some(id(3)));
        // Lost, then new writes after the fail-over (Redis 7: nothing deleted).
        assert_eq!(
            lost(id(5), Some(id(3)), Some(&info(8, Some(0)))),
            Some(id(3))
        );
        // Deleted with XDEL (Redis 7 says so): not a fail-over.
        assert_eq!(lost(id(5), Some(id(3)), Some(&info(8, Some(5)))), None);
        // Redis 6 cannot tell a deletion from a loss: reported.
        assert_eq!(lost(id(5), Some(id(3)), Some(&info(8, None))), Some(id(3)));
        // Trimmed from the front past it: retention, not a loss.
        assert_eq!(lost(id(5), None, Some(&info(8, Some(0)))), None);
        // The stream itself is gone.
        assert_eq!(lost(id(5), None, None), Some(StreamId::ZERO));
    }
}
