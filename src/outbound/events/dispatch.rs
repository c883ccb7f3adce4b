//! The batching loop of the event dispatcher: reads the queue, groups events with
//! equal headers into batches, seals them by size or age and hands them to send
//! tasks, at most [`MAX_IN_FLIGHT`] at a time; on shutdown, the bounded final flush.

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::post::Poster;
use super::queue::{Armed, Queue, Waiting};
use super::{MAX_IN_FLIGHT, QueuedEvent};

/// Bytes the payload buffer is allocated with. Batch bodies are written one after
/// the other into its spare capacity and split off when sealed, so one allocation
/// serves several batches (about nine of upstream's default ten impressions); when
/// it is used up, the next one of this size is allocated (or the old one reused once
/// every body written into it has been sent).
const PAYLOAD_CHUNK: usize = 64 * 1024;

/// The key the visitors array is written under, last in the body.
const VISITORS_KEY: &[u8] = b"\"visitors\":[";

/// The batch being filled. Its body so far is the dispatcher's payload buffer.
#[derive(Debug)]
struct Pending {
    /// The header object's JSON, shared by every event of a datafile revision.
    header: Bytes,
    events: usize,
    /// When its oldest event was pushed; the batch is sealed `flush_interval` later
    /// at the latest.
    since: Instant,
}

/// A batch whose body is complete, waiting for a send slot.
#[derive(Debug)]
pub(super) struct Sealed {
    /// The JSON body: the header object with `"visitors":[…]` as its last key.
    pub(super) body: Bytes,
    /// Events (visitors) in it.
    pub(super) events: usize,
}

/// Whether two headers are the same bytes; events of one datafile revision share
/// one buffer, so comparing where they point usually decides it.
fn same_header(a: &Bytes, b: &Bytes) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Writes the start of a body with `header` into `out`: the header object without
/// its closing brace, then `"visitors":[`.
fn write_body_start(out: &mut BytesMut, header: &[u8]) {
    let trimmed = header.trim_ascii_end();
    let open = trimmed.strip_suffix(b"}").unwrap_or(trimmed);
    out.extend_from_slice(open);
    if !open.trim_ascii_end().ends_with(b"{") {
        out.put_u8(b',');
    }
    out.extend_from_slice(VISITORS_KEY);
}

/// The batching loop: owns the dispatcher's side of the queue and the send tasks.
pub(super) struct Dispatcher {
    queue: Arc<Queue>,
    poster: Arc<Poster>,
    batch_size: usize,
    flush_interval: Duration,
    /// Longest time the final flush may take.
    shutdown_timeout: Duration,
    /// Events just taken from the queue; swapped with the queue's buffer.
    taken: VecDeque<Waiting>,
    /// The pending batch's body so far, in front of spare capacity for the next.
    payload: BytesMut,
    pending: Option<Pending>,
    /// Sealed batches waiting for a send slot. While it is not empty the queue is
    /// not read, so it holds at most the batches of one take.
    ready: VecDeque<Sealed>,
    in_flight: JoinSet<()>,
    /// Events per in-flight task, to count them as failed if the task is aborted.
    in_flight_sizes: HashMap<task::Id, usize>,
}

impl Dispatcher {
    /// A dispatcher reading `queue` and sending through `poster`.
    pub(super) fn new(
        queue: Arc<Queue>,
        poster: Arc<Poster>,
        batch_size: usize,
        flush_interval: Duration,
        shutdown_timeout: Duration,
    ) -> Self {
        Dispatcher {
            taken: queue.buffer(),
            queue,
            poster,
            batch_size: batch_size.max(1),
            flush_interval,
            shutdown_timeout,
            payload: BytesMut::with_capacity(PAYLOAD_CHUNK),
            pending: None,
            ready: VecDeque::new(),
            in_flight: JoinSet::new(),
            in_flight_sizes: HashMap::new(),
        }
    }

    /// Runs until `cancel` fires or every queue handle is gone, then flushes.
    pub(super) async fn run(mut self, cancel: CancellationToken) {
        let queue = Arc::clone(&self.queue);
        // Created once: a cancellation future and a timer made anew on every turn
        // register and deregister themselves each time.
        let mut cancelled = pin!(cancel.cancelled());
        let mut flush = pin!(tokio::time::sleep_until(Instant::now()));
        let mut flush_at = None;
        loop {
            // A turn that finds more to take goes round again without awaiting
            // anything else; the budget check makes it yield to the handlers now and
            // then when events never stop coming.
            tokio::task::coop::consume_budget().await;
            self.launch_ready();
            // Read the queue only while nothing sealed waits for a slot: when every
            // slot is busy, the queue is where events wait (and past its bound,
            // are dropped).
            if self.ready.is_empty() {
                self.take_waiting();
                if !self.ready.is_empty() {
                    continue;
                }
                match queue.arm(self.room()) {
                    Armed::Wait => {}
                    Armed::TakeAgain => continue,
                    Armed::SendersGone => break,
                }
            }
            let deadline = self.pending.as_ref().map(|b| b.since + self.flush_interval);
            if let Some(at) = deadline
                && flush_at != Some(at)
            {
                flush.as_mut().reset(at);
                flush_at = Some(at);
            }
            tokio::select! {
                biased;
                () = &mut cancelled => break,
                Some(done) = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => {
                    self.reap(done);
                }
                () = &mut flush, if deadline.is_some() => self.seal_pending(),
                () = queue.notified(), if self.ready.is_empty() => {}
            }
        }
        self.shutdown().await;
    }

    /// Events the pending batch can still take; 1 with no pending batch, so the
    /// first event wakes the dispatcher to start its flush timer.
    fn room(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(1, |b| self.batch_size.saturating_sub(b.events).max(1))
    }

    /// Takes everything waiting in the queue into batches.
    fn take_waiting(&mut self) {
        let mut taken = std::mem::take(&mut self.taken);
        self.queue.take(&mut taken);
        for waiting in taken.drain(..) {
            self.accept(waiting);
        }
        // Handed back with its capacity for the next swap.
        self.taken = taken;
    }

    /// Adds an event to the pending batch, sealing batches as the rules require.
    fn accept(&mut self, waiting: Waiting) {
        let Waiting {
            event: QueuedEvent { header, visitor },
            pushed,
        } = waiting;
        let same = self
            .pending
            .as_ref()
            .is_some_and(|b| same_header(&b.header, &header));
        if same {
            self.payload.put_u8(b',');
        } else {
            self.seal_pending();
            // Room for a full batch of visitors the size of this one, so the body
            // is normally written without growing.
            let estimate =
                header.len() + VISITORS_KEY.len() + self.batch_size * (visitor.len() + 1) + 2;
            self.payload.reserve(estimate);
            write_body_start(&mut self.payload, &header);
            self.pending = Some(Pending {
                header,
                events: 0,
                since: pushed,
            });
        }
        self.payload.extend_from_slice(&visitor);
        let full = self.pending.as_mut().is_some_and(|b| {
            b.events += 1;
            b.events >= self.batch_size
        });
        if full {
            self.seal_pending();
        }
    }

    /// Closes the pending batch's body and moves it to the ready batches.
    fn seal_pending(&mut self) {
        if let Some(batch) = self.pending.take() {
            self.payload.extend_from_slice(b"]}");
            self.ready.push_back(Sealed {
                body: self.payload.split().freeze(),
                events: batch.events,
            });
        }
    }

    /// Starts sending ready batches while send slots are free.
    fn launch_ready(&mut self) {
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(batch) = self.ready.pop_front() else {
                break;
            };
            let events = batch.events;
            self.queue.sent(events);
            let task = self
                .in_flight
                .spawn(Arc::clone(&self.poster).deliver(batch));
            self.in_flight_sizes.insert(task.id(), events);
        }
    }

    /// Books a finished send task. The task itself counted success or failure; only
    /// a task that panicked or was aborted is counted here.
    fn reap(&mut self, done: Result<(task::Id, ()), JoinError>) {
        match done {
            Ok((id, ())) => {
                self.in_flight_sizes.remove(&id);
            }
            Err(err) => {
                let size = self.in_flight_sizes.remove(&err.id()).unwrap_or(0);
                self.poster
                    .stats
                    .failed
                    .fetch_add(size as u64, Ordering::Relaxed);
                self.poster
                    .stats
                    .batches_failed
                    .fetch_add(1, Ordering::Relaxed);
                if err.is_panic() {
                    tracing::error!(events = size, "event send task panicked");
                }
            }
        }
    }

    /// Refuses new events, sends everything queued within the shutdown timeout,
    /// then says how many events never reached the endpoint, if any.
    async fn shutdown(mut self) {
        self.queue.close();
        let flushed = tokio::time::timeout(self.shutdown_timeout, self.drain()).await;
        if flushed.is_err() {
            self.abandon().await;
        }
        let stats = self.poster.stats.snapshot();
        let lost = stats.failed + stats.dropped;
        if lost > 0 {
            tracing::warn!(
                url = %self.poster.url,
                sent = stats.sent,
                failed = stats.failed,
                dropped = stats.dropped,
                "{lost} events were not delivered to the event endpoint ({} failed, {} \
                 dropped from a full queue)",
                stats.failed,
                stats.dropped
            );
        }
    }

    /// After the shutdown timeout: stops every send and counts what is left as
    /// failed.
    async fn abandon(&mut self) {
        self.in_flight.abort_all();
        while let Some(done) = self.in_flight.join_next_with_id().await {
            self.reap(done);
        }
        let mut left: usize = self.pending.take().map_or(0, |b| b.events);
        left += self.ready.drain(..).map(|b| b.events).sum::<usize>();
        let mut taken = std::mem::take(&mut self.taken);
        self.queue.take(&mut taken);
        left += taken.len();
        self.poster
            .stats
            .failed
            .fetch_add(left as u64, Ordering::Relaxed);
        tracing::warn!(
            timeout = ?self.shutdown_timeout,
            "final event flush stopped after client.eventShutdownTimeout; {left} queued events \
             were not sent"
        );
    }

    async fn drain(&mut self) {
        // The queue is closed: one take gets everything that will ever be in it.
        self.take_waiting();
        self.seal_pending();
        loop {
            self.launch_ready();
            match self.in_flight.join_next_with_id().await {
                Some(done) => self.reap(done),
                // Nothing in flight, so `launch_ready` found nothing ready either.
                None => break,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::outbound::events::EventStats;
    use crate::outbound::events::post::{http_client, retry_backoff};
    use serde_json::{Value, json};

    fn bytes(value: &Value) -> Bytes {
        serde_json::to_vec(value).unwrap().into()
    }

    fn dispatcher(batch_size: usize) -> Dispatcher {
        let poster = Poster {
            http: http_client(Duration::from_secs(1)).unwrap(),
            url: reqwest::Url::parse("http://127.0.0.1:9/").unwrap(),
            max_attempts: 1,
            backoff: retry_backoff(Duration::from_millis(1)),
            stats: Arc::new(EventStats::default()),
        };
        let queue = Arc::new(Queue::new(100));
        Dispatcher::new(
            queue,
            Arc::new(poster),
            batch_size,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
    }

    fn waiting(header: &Bytes, visitor: &Value) -> Waiting {
        Waiting {
            event: QueuedEvent {
                header: header.clone(),
                visitor: bytes(visitor),
            },
            pushed: Instant::now(),
        }
    }

    /// The body written into the payload buffer is byte for byte what serialising
    /// the header map with a `"visitors"` array added used to give, batch after
    /// batch in the same buffer.
    #[test]
    fn body_is_the_header_object_with_visitors_last() {
        let header = bytes(
            &json!({"account_id": "1", "anonymize_ip": true, "region": "US", "revision": "7"}),
        );
        let visitors = [
            json!({"attributes": [], "snapshots": [{"events": []}], "visitor_id": "u1"}),
            json!({"attributes": [{"value": "x \"y\""}], "visitor_id": "ü"}),
            json!({"visitor_id": "u3"}),
        ];
        let mut dispatcher = dispatcher(2);
        for visitor in &visitors {
            dispatcher.accept(waiting(&header, visitor));
        }
        dispatcher.seal_pending();
        let bodies: Vec<(Bytes, usize)> = dispatcher
            .ready
            .drain(..)
            .map(|b| (b.body, b.events))
            .collect();
        let expected = |visitors: &[Value]| {
            let mut body: Value = serde_json::from_slice(&header).unwrap();
            body["visitors"] = Value::Array(visitors.to_vec());
            bytes(&body)
        };
        assert_eq!(
            bodies,
            [(expected(&visitors[..2]), 2), (expected(&visitors[2..]), 1)]
        );

        let empty = bytes(&json!({}));
        dispatcher.accept(waiting(&empty, &visitors[0]));
        dispatcher.seal_pending();
        assert_eq!(
            dispatcher.ready.pop_front().unwrap().body,
            bytes(&json!({"visitors": [visitors[0].clone()]}))
        );
    }

    #[test]
    fn a_new_header_seals_the_batch_and_counts_from_its_own_push() {
        let mut dispatcher = dispatcher(10);
        let first = Instant::now();
        let (a, b) = (
            bytes(&json!({"revision": "7"})),
            bytes(&json!({"revision": "8"})),
        );
        dispatcher.accept(waiting(&a, &json!({"visitor_id": "u1"})));
        let mut later = waiting(&b, &json!({"visitor_id": "u2"}));
        later.pushed = first + Duration::from_secs(5);
        dispatcher.accept(later);
        assert_eq!(dispatcher.ready.len(), 1);
        assert_eq!(dispatcher.ready[0].events, 1);
        let pending = dispatcher.pending.as_ref().unwrap();
        assert_eq!(pending.since, first + Duration::from_secs(5));
        assert_eq!(dispatcher.room(), 9);
    }
}
