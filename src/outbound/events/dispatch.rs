//! The batching loop of the event dispatcher: reads the queue, groups events with
//! equal headers into batches, seals them by size or age and hands them to send
//! tasks, at most [`MAX_IN_FLIGHT`] at a time; on shutdown, the bounded final flush.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::post::Poster;
use super::{MAX_IN_FLIGHT, QueuedEvent};

#[derive(Debug)]
pub(super) struct Batch {
    /// The header object's JSON, shared by every event of a datafile revision.
    pub(super) header: Bytes,
    /// Each visitor's JSON.
    pub(super) visitors: Vec<Bytes>,
    /// When the first event was taken into this batch; the batch is sealed `flush_interval`
    /// later at the latest.
    pub(super) since: Instant,
}

impl Batch {
    /// The JSON body: the header object with `"visitors":[…]` as its last key,
    /// concatenated from the serialised parts.
    pub(super) fn into_body(self) -> Bytes {
        const KEY: &[u8] = b"\"visitors\":[";
        // The header is a JSON object: everything before its closing brace.
        let trimmed = self.header.trim_ascii_end();
        let open = trimmed.strip_suffix(b"}").unwrap_or(trimmed);
        let empty = open.trim_ascii_end().ends_with(b"{");
        let parts: usize = self.visitors.iter().map(|v| v.len() + 1).sum();
        let mut body = Vec::with_capacity(open.len() + KEY.len() + parts + 4);
        body.extend_from_slice(open);
        if !empty {
            body.push(b',');
        }
        body.extend_from_slice(KEY);
        for (i, visitor) in self.visitors.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(visitor);
        }
        body.extend_from_slice(b"]}");
        Bytes::from(body)
    }
}

/// The batching loop: owns the queue's receiving end and the send tasks.
pub(super) struct Dispatcher {
    pub(super) rx: mpsc::Receiver<QueuedEvent>,
    pub(super) poster: Arc<Poster>,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    /// Longest time the final flush may take.
    pub(super) shutdown_timeout: Duration,
    /// The batch being filled.
    pub(super) pending: Option<Batch>,
    /// Sealed batches waiting for a send slot. While it is not empty the queue is
    /// not read, so it holds at most a couple of batches.
    pub(super) ready: VecDeque<Batch>,
    pub(super) in_flight: JoinSet<()>,
    /// Events per in-flight task, to count them as failed if the task is aborted.
    pub(super) in_flight_sizes: HashMap<task::Id, usize>,
}

impl Dispatcher {
    /// Runs until `cancel` fires or every queue handle is gone, then flushes.
    pub(super) async fn run(mut self, cancel: CancellationToken) {
        loop {
            self.launch_ready();
            let deadline = self.pending.as_ref().map(|b| b.since + self.flush_interval);
            // A disabled branch still evaluates its expression, so give it some instant.
            let sleep_until = deadline.unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => {
                    self.reap(done);
                }
                () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                    self.seal_pending();
                }
                received = self.rx.recv(), if self.ready.is_empty() => match received {
                    Some(event) => self.accept(event),
                    // Every EventQueue is gone: nothing more can arrive.
                    None => break,
                },
            }
        }
        self.shutdown().await;
    }

    /// Adds `event` to the pending batch, sealing batches as the rules require.
    fn accept(&mut self, event: QueuedEvent) {
        match &mut self.pending {
            Some(batch) if batch.header == event.header => batch.visitors.push(event.visitor),
            _ => {
                self.seal_pending();
                self.pending = Some(Batch {
                    header: event.header,
                    visitors: vec![event.visitor],
                    since: Instant::now(),
                });
            }
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|b| b.visitors.len() >= self.batch_size)
        {
            self.seal_pending();
        }
    }

    fn seal_pending(&mut self) {
        if let Some(batch) = self.pending.take() {
            self.ready.push_back(batch);
        }
    }

    /// Starts sending ready batches while send slots are free.
    fn launch_ready(&mut self) {
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(batch) = self.ready.pop_front() else {
                break;
            };
            let size = batch.visitors.len();
            let task = self
                .in_flight
                .spawn(Arc::clone(&self.poster).deliver(batch));
            self.in_flight_sizes.insert(task.id(), size);
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
        self.rx.close();
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
        let mut left: usize = self.pending.take().map_or(0, |b| b.visitors.len());
        left += self
            .ready
            .drain(..)
            .map(|b| b.visitors.len())
            .sum::<usize>();
        while self.rx.try_recv().is_ok() {
            left += 1;
        }
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
        // After `close`, `recv` yields what is buffered and then `None`.
        while let Some(event) = self.rx.recv().await {
            self.accept(event);
        }
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
    use serde_json::{Value, json};

    fn bytes(value: &Value) -> Bytes {
        serde_json::to_vec(value).unwrap().into()
    }

    /// The concatenated body is byte for byte what serialising the header map with
    /// a `"visitors"` array added used to give.
    #[test]
    fn body_is_the_header_object_with_visitors_last() {
        let header =
            json!({"account_id": "1", "anonymize_ip": true, "region": "US", "revision": "7"});
        let visitors = [
            json!({"attributes": [], "snapshots": [{"events": []}], "visitor_id": "u1"}),
            json!({"attributes": [{"value": "x \"y\""}], "visitor_id": "ü"}),
        ];
        for n in 0..=visitors.len() {
            let batch = Batch {
                header: bytes(&header),
                visitors: visitors[..n].iter().map(bytes).collect(),
                since: Instant::now(),
            };
            let mut expected = header.clone();
            expected["visitors"] = Value::Array(visitors[..n].to_vec());
            assert_eq!(batch.into_body(), bytes(&expected));
        }
        let batch = Batch {
            header: bytes(&json!({})),
            visitors: vec![bytes(&visitors[0])],
            since: Instant::now(),
        };
        assert_eq!(
            batch.into_body(),
            bytes(&json!({"visitors": [visitors[0].clone()]}))
        );
    }
}
