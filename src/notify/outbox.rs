//! The publisher both Redis hubs share (DESIGN §3.4, §6).
//!
//! [`Outbox::offer`] never waits: it queues the item, or drops and counts it when
//! `buffer_size` items are already waiting (queued, or in the batch being sent).
//! One task ([`Outbox::run`]) sends what is waiting as one pipeline, at most
//! `batch_size` items, as soon as the previous pipeline returned: an idle system
//! publishes at once, a busy one in large pipelines, and `flush_interval` is never
//! reached. After cancel the queue is flushed for at most the given limit; what is
//! left then is counted as dropped.
//!
//! **Each item is stored once** (issue 11 item 3). A pipeline is sent once per
//! attempt and every command's reply is read on its own: items Redis stored are
//! done, and only those it refused (e.g. `OOM` part-way through) are sent again,
//! with the policy's back-off, forever. When no reply came at all after the
//! pipeline may have reached Redis (a reply timeout, a dropped connection), any of
//! its items may have been stored: before resending, the [`Batch`] is asked which
//! landed ([`Batch::landed`]), and those are not sent again. An item it cannot
//! vouch for is resent and counted as a possible duplicate
//! ([`PublisherStats::unverified`]).
//!
//! The queue records when each item was offered, so the publish latency histogram
//! covers waiting in the queue (and an outage), not only the round trip.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::RedisSettings;
use crate::histogram::{Histogram, Snapshot};
use crate::store::{self, Store};
use crate::util::lock;

/// Whether an item of a batch whose pipeline got no reply was stored anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Landed {
    /// Found in Redis: not to be sent again.
    Yes,
    /// Certainly not stored: send it again.
    No,
    /// Cannot tell: sent again, and counted as a possible duplicate.
    Unknown,
}

/// How a hub's items go to Redis.
pub(super) trait Batch<T> {
    /// The pipeline sending `items`: exactly one command with a reply per item, in
    /// order, then [`Batch::closing_replies`] more (other commands marked `ignore`).
    fn pipeline(&self, items: &[T]) -> redis::Pipeline;

    /// Replies of the pipeline after the items' (a closing `WAIT`); none by default.
    fn closing_replies(&self) -> usize {
        0
    }

    /// Reads the closing replies of a pipeline of `items` that got its replies
    /// (whether each item was stored is decided by the items' own replies).
    fn check_closing(&self, _items: &[T], _replies: Vec<redis::RedisResult<redis::Value>>) {}

    /// After a pipeline of `items` got no reply, which of them Redis stored anyway;
    /// `since` is when the first attempt was sent.
    ///
    /// # Errors
    ///
    /// A Redis error when Redis cannot be asked (the outbox asks again later).
    async fn landed(
        &self,
        store: &Store,
        items: &[T],
        since: Instant,
    ) -> Result<Vec<Landed>, store::Error>;
}

/// What the publisher did, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublisherStats {
    /// Items Redis accepted.
    pub published: u64,
    /// Pipelines Redis accepted.
    pub batches: u64,
    /// Items given up: refused because the buffer was full (or the publisher had
    /// stopped), or still unsent when the shutdown flush ran out.
    pub dropped: u64,
    /// Items waiting now: queued, or in the batch being sent or retried.
    pub buffered: u64,
    /// Pipelines that failed in whole or in part (what failed was retried).
    pub errors: u64,
    /// Items found already stored after a pipeline got no reply, so not sent again
    /// (each would otherwise have been a duplicate).
    pub deduplicated: u64,
    /// Items sent again after a pipeline got no reply, without proof they had not
    /// been stored: possible duplicates.
    pub unverified: u64,
    /// Items per accepted pipeline.
    pub batch_sizes: Snapshot,
    /// Seconds from [`Outbox::offer`] to Redis accepting the item.
    pub latency: Snapshot,
}

struct Queue<T> {
    items: VecDeque<(Instant, T)>,
    /// Set when the publisher has ended: nothing would ever send a new item.
    closed: bool,
}

struct Inner<T> {
    queue: Mutex<Queue<T>>,
    /// Wakes the publisher; `notify_one` keeps a permit, so no wake-up is lost.
    wake: Notify,
    /// Queued plus in flight. Increased under the queue lock (so the bound is exact),
    /// decreased when Redis accepted a batch.
    waiting: AtomicU64,
    buffer_size: u64,
    batch_size: usize,
    published: AtomicU64,
    batches: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    deduplicated: AtomicU64,
    unverified: AtomicU64,
    batch_sizes: Histogram,
    latency: Histogram,
}

/// A bounded queue of items for Redis and the task that publishes them; cheap to
/// clone (the clones share everything).
pub(super) struct Outbox<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Outbox<T> {
    /// An empty outbox sized by `buffer_size` and `batch_size`.
    pub(super) fn new(settings: &RedisSettings) -> Self {
        Outbox {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue {
                    items: VecDeque::new(),
                    closed: false,
                }),
                wake: Notify::new(),
                waiting: AtomicU64::new(0),
                // A zero bound would drop everything; one slot is the least that works.
                buffer_size: u64::try_from(settings.buffer_size.max(1)).unwrap_or(u64::MAX),
                batch_size: settings.batch_size.max(1),
                published: AtomicU64::new(0),
                batches: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                deduplicated: AtomicU64::new(0),
                unverified: AtomicU64::new(0),
                batch_sizes: Histogram::batch_sizes(),
                latency: Histogram::latencies(),
            }),
        }
    }

    /// Queues `item` without waiting. False, and counted as dropped, when the buffer
    /// is full or the publisher has stopped.
    pub(super) fn offer(&self, item: T) -> bool {
        let inner = &self.inner;
        let mut queue = lock(&inner.queue);
        if queue.closed || inner.waiting.load(Ordering::Acquire) >= inner.buffer_size {
            let closed = queue.closed;
            drop(queue);
            let before = inner.dropped.fetch_add(1, Ordering::Relaxed);
            if !closed && (before == 0 || before.is_power_of_two()) {
                tracing::warn!(
                    dropped = before + 1,
                    "notification buffer full ({} waiting for Redis, \
                     synchronization.pubsub.redis.buffer_size): dropping",
                    inner.buffer_size
                );
            }
            return false;
        }
        queue.items.push_back((Instant::now(), item));
        inner.waiting.fetch_add(1, Ordering::AcqRel);
        drop(queue);
        inner.wake.notify_one();
        true
    }

    /// The counters now.
    pub(super) fn stats(&self) -> PublisherStats {
        let inner = &self.inner;
        PublisherStats {
            published: inner.published.load(Ordering::Relaxed),
            batches: inner.batches.load(Ordering::Relaxed),
            dropped: inner.dropped.load(Ordering::Relaxed),
            buffered: inner.waiting.load(Ordering::Relaxed),
            errors: inner.errors.load(Ordering::Relaxed),
            deduplicated: inner.deduplicated.load(Ordering::Relaxed),
            unverified: inner.unverified.load(Ordering::Relaxed),
            batch_sizes: inner.batch_sizes.snapshot(),
            latency: inner.latency.snapshot(),
        }
    }

    /// Publishes until `cancel`, then flushes for at most `flush_limit` and stops,
    /// counting what is left as dropped. `batch` says how items go to Redis.
    pub(super) async fn run(
        &self,
        store: &Store,
        cancel: &CancellationToken,
        flush_limit: Duration,
        batch: &impl Batch<T>,
    ) {
        let hard_stop = async {
            cancel.cancelled().await;
            tokio::time::sleep(flush_limit).await;
        };
        tokio::select! {
            () = self.drain(store, cancel, batch) => {}
            () = hard_stop => {}
        }
        // Refuse new items and give up on what is left (queued or in flight).
        let mut queue = lock(&self.inner.queue);
        queue.closed = true;
        queue.items.clear();
        let left = self.inner.waiting.swap(0, Ordering::AcqRel);
        drop(queue);
        if left > 0 {
            self.inner.dropped.fetch_add(left, Ordering::Relaxed);
            tracing::warn!(
                addr = store.address(),
                dropped = left,
                "shutting down with notifications Redis did not accept"
            );
        }
    }

    /// Sends batches until the queue is empty after cancel.
    async fn drain(&self, store: &Store, cancel: &CancellationToken, batch: &impl Batch<T>) {
        let inner = &self.inner;
        // Set while Redis fails: when the outage began and the dropped count then.
        let mut outage: Option<(Instant, u64)> = None;
        loop {
            let (offered, items): (Vec<Instant>, Vec<T>) = {
                let mut queue = lock(&inner.queue);
                let n = queue.items.len().min(inner.batch_size);
                queue.items.drain(..n).unzip()
            };
            if items.is_empty() {
                if cancel.is_cancelled() {
                    return;
                }
                tokio::select! {
                    () = inner.wake.notified() => {}
                    () = cancel.cancelled() => {}
                }
                continue;
            }
            self.send(store, batch, offered, items, &mut outage).await;
        }
    }

    /// Sends one batch until every item is stored once (see the module docs).
    async fn send(
        &self,
        store: &Store,
        batch: &impl Batch<T>,
        mut offered: Vec<Instant>,
        mut items: Vec<T>,
        outage: &mut Option<(Instant, u64)>,
    ) {
        let inner = &self.inner;
        let policy = store.policy();
        let since = Instant::now();
        let mut attempt = 0;
        // Set when the last pipeline got no reply but may have reached Redis.
        let mut ambiguous = false;
        loop {
            let outcome = if ambiguous {
                let landed = batch.landed(store, &items, since).await;
                landed.map_err(|err| err.to_string()).map(|landed| {
                    ambiguous = false;
                    let mut stored = Vec::with_capacity(landed.len());
                    for state in landed {
                        let counter = match state {
                            Landed::Yes => &inner.deduplicated,
                            Landed::Unknown => &inner.unverified,
                            Landed::No => {
                                stored.push(false);
                                continue;
                            }
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        stored.push(state == Landed::Yes);
                    }
                    (stored, None::<String>)
                })
            } else {
                match store.pipeline_replies(&batch.pipeline(&items)).await {
                    Ok(mut replies) if replies.len() == items.len() + batch.closing_replies() => {
                        batch.check_closing(&items, replies.split_off(items.len()));
                        let refused = replies
                            .iter()
                            .find_map(|r| r.as_ref().err().map(ToString::to_string));
                        Ok((replies.iter().map(Result::is_ok).collect(), refused))
                    }
                    Ok(_) => {
                        ambiguous = true;
                        Err("the pipeline's replies did not match its commands".to_owned())
                    }
                    Err(err) => {
                        // Refused connections never carried the pipeline.
                        ambiguous = !matches!(&err, store::Error::Connect { source, .. }
                            if source.is_connection_refusal());
                        Err(err.to_string())
                    }
                }
            };
            let failure = match outcome {
                Ok((stored, refused)) => {
                    let stored: Vec<bool> = stored;
                    self.accept(&stored, &mut offered, &mut items);
                    if items.is_empty() {
                        break;
                    }
                    refused
                }
                Err(err) => Some(err),
            };
            // After a look-up of what landed, what did not is resent at once.
            let Some(err) = failure else { continue };
            inner.errors.fetch_add(1, Ordering::Relaxed);
            if outage.is_none() {
                tracing::warn!(
                    addr = store.address(),
                    "publishing notifications failed, buffering (up to {}) until Redis \
                     answers: {err}",
                    inner.buffer_size
                );
                *outage = Some((Instant::now(), inner.dropped.load(Ordering::Relaxed)));
            }
            attempt += 1;
            tokio::time::sleep(policy.pause(attempt)).await;
        }
        if let Some((began, dropped_before)) = outage.take() {
            tracing::info!(
                addr = store.address(),
                after = ?began.elapsed(),
                buffered = inner.waiting.load(Ordering::Relaxed),
                dropped = inner.dropped.load(Ordering::Relaxed) - dropped_before,
                "Redis answers again: publishing buffered notifications"
            );
        }
    }

    /// Counts the items marked stored as published and keeps the others.
    fn accept(&self, stored: &[bool], offered: &mut Vec<Instant>, items: &mut Vec<T>) {
        let inner = &self.inner;
        let accepted = Instant::now();
        let mut n = 0u64;
        let mut index = 0;
        offered.retain(|at| {
            let keep = !stored.get(index).copied().unwrap_or(false);
            index += 1;
            if !keep {
                inner.latency.observe_duration(accepted.duration_since(*at));
                n += 1;
            }
            keep
        });
        let mut index = 0;
        items.retain(|_| {
            let keep = !stored.get(index).copied().unwrap_or(false);
            index += 1;
            keep
        });
        if n == 0 {
            return;
        }
        inner.batch_sizes.observe(n);
        inner.published.fetch_add(n, Ordering::Relaxed);
        inner.batches.fetch_add(1, Ordering::Relaxed);
        inner.waiting.fetch_sub(n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(port: u16, buffer_size: usize, batch_size: usize) -> RedisSettings {
        RedisSettings {
            host: format!("127.0.0.1:{port}"),
            buffer_size,
            batch_size,
            retry_delay: Duration::from_millis(10),
            max_retry_delay: Duration::from_millis(20),
            max_retries: 0,
            connection_timeout: Duration::from_millis(200),
            ..RedisSettings::default()
        }
    }

    fn unused_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// Publishes numbers on channel `c`; cannot tell what landed.
    struct Numbers;

    impl Batch<u32> for Numbers {
        fn pipeline(&self, items: &[u32]) -> redis::Pipeline {
            let payloads: Vec<String> = items.iter().map(u32::to_string).collect();
            crate::store::publish_pipeline(payloads.iter().map(|p| ("c", p.as_str())))
        }

        async fn landed(
            &self,
            _: &Store,
            items: &[u32],
            _: Instant,
        ) -> Result<Vec<Landed>, store::Error> {
            Ok(vec![Landed::Unknown; items.len()])
        }
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts_and_shutdown_gives_up_in_time() {
        let s = settings(unused_port(), 3, 2);
        let outbox = Outbox::new(&s);
        for i in 0..3 {
            assert!(outbox.offer(i), "{i}");
        }
        assert!(!outbox.offer(3));
        let stats = outbox.stats();
        assert_eq!((stats.buffered, stats.dropped), (3, 1));

        let store = crate::store::Connector::from_settings(&s).unwrap().store();
        let cancel = CancellationToken::new();
        let runner = outbox.clone();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            runner
                .run(&store, &stop, Duration::from_millis(100), &Numbers)
                .await;
        });
        // Nothing listens on the port: the batch is retried, nothing is lost yet.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let stats = outbox.stats();
        assert_eq!((stats.published, stats.buffered), (0, 3));
        assert!(stats.errors >= 1, "{stats:?}");

        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the flush limit ends the publisher")
            .unwrap();
        let stats = outbox.stats();
        assert_eq!((stats.buffered, stats.dropped, stats.published), (0, 4, 0));
        assert!(!outbox.offer(9), "a stopped outbox refuses");
        assert_eq!(outbox.stats().latency.count, 0);
    }
}
