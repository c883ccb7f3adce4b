//! Impression and conversion event dispatch to `client.eventURL`.
//!
//! Request handlers hand each event to an [`EventQueue`]: a cheap, clonable handle
//! whose [`EventQueue::push`] never awaits and takes only a short lock. A single
//! dispatcher task (started by [`start`]) groups queued events into batches and POSTs
//! them as JSON, off the request path; a push wakes it only when there is a batch to
//! fill or a flush timer to start, not for every event. Nothing an API response says depends on delivery: a full
//! queue drops the new event, a failed batch is retried a few times and then
//! abandoned, and both are counted in [`EventStats`] so they show up as metrics.
//!
//! Batching rules:
//!
//! - Events whose [`QueuedEvent::header`]s are equal share a batch. When the
//!   dispatcher meets an event with a different header, the batch being filled is
//!   sealed and sent first, so batches are started in queue order. Headers change
//!   only with the SDK key or datafile revision, so this costs little in practice.
//! - A batch is sealed when it holds `batch_size` events (0 counts as 1) or when
//!   `flush_interval` has passed since its oldest event was pushed.
//! - Each batch's body is written once, visitor by visitor as events are taken,
//!   into a payload buffer whose spare capacity the next batches reuse: no
//!   allocation per event, about one per nine batches.
//! - At most [`MAX_IN_FLIGHT`] batches are being sent at once. While all slots are
//!   busy the dispatcher stops reading the queue. `queue_size` bounds every event
//!   accepted and not yet handed to a send (waiting in the queue or in a batch being
//!   built or sealed); past it new events are dropped and counted.
//! - On cancellation everything still queued is sent, within
//!   [`EventSettings::shutdown_timeout`] (`client.eventShutdownTimeout`, 1 s by
//!   default); what is still undelivered then counts as failed, and one log line
//!   says how many events never reached the endpoint.
//!
//! An empty `client.eventURL` disables dispatch: no task runs, and `push` only
//! counts the event as discarded.
//!
//! This module imports nothing from `server` and only settings from `config`. The
//! bounded queue is in `queue`, the batching loop in `dispatch`, the HTTP delivery
//! of a batch in `post`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config;
use dispatch::Dispatcher;
use post::{Poster, http_client};
use queue::{Queue, Refused};

mod dispatch;
mod post;
mod queue;

/// Timeout of one POST of a batch, connection included. Upstream has no setting for
/// it; 10 s matches the other request timeouts in `client.*` and keeps a dead
/// endpoint from holding a send slot for long.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts per batch (the first try included) before it is counted as failed.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Pause before the first retry of a batch; it doubles for each further retry.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// Batches being sent at the same time, each on its own pooled HTTP/1.1 connection
/// (or stream of one HTTP/2 connection).
///
/// By Little's law the events a server can dispatch per second are at most
/// `MAX_IN_FLIGHT × batch_size / POST round trip`. With upstream's default of 10
/// events per batch, 32 slots cap a round trip at 16 ms for 20,000 events a second:
/// a local endpoint on a loaded machine takes that long at times, and the queue
/// (1,000 events, 50 ms at that rate) then overflows; a remote endpoint 50 ms away
/// would cap the rate at 6,400 events a second. 128 slots allow 64 ms at 20,000/s
/// while still bounding the connections (and the 1,280 events) a slow endpoint can
/// hold; an idle slot costs nothing.
pub const MAX_IN_FLIGHT: usize = 128;

/// A failed batch is logged once per this many failures, so a dead endpoint does
/// not flood the log.
const FAILURE_LOG_EVERY: u64 = 100;

/// A dropped event (full queue) is logged once per this many drops.
const DROP_LOG_EVERY: u64 = 1000;

/// One event to send, already serialised.
///
/// `header` is the batch's top-level JSON object without `"visitors"` (`account_id`,
/// `anonymize_ip`, `client_name`, `client_version`, `enrich_decisions`,
/// `project_id`, `region`, `revision`); events whose headers are equal share a
/// batch. `visitor` is one element of the batch's `"visitors"` array. A batch's
/// body is the header with `"visitors":[…]` added as its last key, built by
/// concatenating the bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    /// Top-level fields of the batch this event belongs in, a JSON object.
    pub header: Bytes,
    /// The visitor object (`attributes`, `snapshots`, `visitor_id`) as JSON.
    pub visitor: Bytes,
}

/// How events are batched and where they go.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSettings {
    /// Where batches are POSTed; empty disables dispatch (`client.eventURL`).
    pub url: String,
    /// Events per batch; 0 is treated as 1 (`client.batchSize`).
    pub batch_size: usize,
    /// Events waiting to be sent before new ones are dropped; 0 is treated as 1
    /// (`client.queueSize`).
    pub queue_size: usize,
    /// Longest time an event waits for its batch to fill (`client.flushInterval`).
    pub flush_interval: Duration,
    /// Timeout of one POST ([`DEFAULT_REQUEST_TIMEOUT`] unless set otherwise).
    pub request_timeout: Duration,
    /// Attempts per batch, the first included; 0 is treated as 1
    /// ([`DEFAULT_MAX_ATTEMPTS`]).
    pub max_attempts: u32,
    /// Pause before the first retry, doubled for each further one
    /// ([`DEFAULT_RETRY_BACKOFF`]).
    pub retry_backoff: Duration,
    /// How long the final flush on cancellation may take
    /// (`client.eventShutdownTimeout`). Shutdown waits for it, so it is short;
    /// events not delivered by then count as failed.
    pub shutdown_timeout: Duration,
}

impl EventSettings {
    /// The settings configured in `client.*`, with this module's defaults for what
    /// upstream does not configure (timeout and retries).
    pub fn from_client(client: &config::ClientSettings) -> Self {
        EventSettings {
            url: client.event_url.clone(),
            batch_size: client.batch_size,
            queue_size: client.queue_size,
            flush_interval: client.flush_interval,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            shutdown_timeout: client.event_shutdown_timeout,
        }
    }
}

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// `client.eventURL` does not parse as a URL (`config::validate` refuses it
    /// first when settings come from the configuration).
    #[error("client.eventURL {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The configured value.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot build the HTTP client for events")]
    HttpClient(#[source] reqwest::Error),
}

/// Counters of the event pipeline, updated atomically and readable at any time.
///
/// Every event passed to [`EventQueue::push`] ends up in exactly one of `dropped`,
/// `discarded` or `queued`; every queued event is eventually counted once in `sent`
/// or `failed` (in flight until then).
#[derive(Debug, Default)]
pub struct EventStats {
    queued: AtomicU64,
    sent: AtomicU64,
    batches_sent: AtomicU64,
    failed: AtomicU64,
    batches_failed: AtomicU64,
    dropped: AtomicU64,
    discarded: AtomicU64,
}

impl EventStats {
    /// The current values as plain numbers.
    pub fn snapshot(&self) -> EventStatsSnapshot {
        EventStatsSnapshot {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            batches_sent: self.batches_sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            batches_failed: self.batches_failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }
}

/// A copy of [`EventStats`] at one moment, for metrics export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventStatsSnapshot {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events in batches the endpoint accepted (2xx).
    pub sent: u64,
    /// Batches the endpoint accepted.
    pub batches_sent: u64,
    /// Accepted events that were never delivered: their batch failed every attempt,
    /// or they were still undelivered when the final flush ran out of time.
    pub failed: u64,
    /// Batches that failed every attempt.
    pub batches_failed: u64,
    /// Events refused by `push` because the queue was full or the dispatcher had
    /// stopped.
    pub dropped: u64,
    /// Events thrown away on purpose because `client.eventURL` is empty.
    pub discarded: u64,
}

/// Cheap clonable handle used by request handlers to queue events.
#[derive(Debug, Clone)]
pub struct EventQueue {
    /// `None` when dispatch is disabled (empty URL).
    sender: Option<Arc<Sender>>,
    stats: Arc<EventStats>,
}

/// The sending side of the queue, shared by every clone of one [`EventQueue`]; when
/// the last clone goes, it tells the dispatcher to flush and end.
#[derive(Debug)]
struct Sender(Arc<Queue>);

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.senders_gone();
    }
}

impl EventQueue {
    /// Queues `event` for dispatch without waiting.
    ///
    /// # Returns
    ///
    /// `true` when the event was accepted: queued, or discarded because dispatch is
    /// disabled (an empty `client.eventURL` is a deliberate choice, and responses
    /// must not depend on it). `false` when the event was dropped because the queue
    /// is full or the dispatcher has stopped; the drop is counted.
    pub fn push(&self, event: QueuedEvent) -> bool {
        let Some(sender) = &self.sender else {
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        match sender.0.push(event) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(err) => {
                let before = self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if before.is_multiple_of(DROP_LOG_EVERY) {
                    let reason = match err {
                        Refused::Full => "the event queue is full",
                        Refused::Closed => "the event dispatcher has stopped",
                    };
                    tracing::warn!(
                        dropped = before + 1,
                        "event dropped: {reason} (logged once per {DROP_LOG_EVERY} drops)"
                    );
                }
                false
            }
        }
    }

    /// Counts an event the caller threw away without building it because dispatch
    /// is disabled (see [`EventQueue::is_enabled`]).
    pub fn discard(&self) {
        self.stats.discarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether events are sent anywhere (`client.eventURL` is not empty).
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
    }

    /// The pipeline's counters now.
    pub fn stats(&self) -> EventStatsSnapshot {
        self.stats.snapshot()
    }
}

/// Starts the dispatcher task.
///
/// It sends a batch when `batch_size` events with the same header are waiting or
/// `flush_interval` has passed since the oldest waiting event. When `cancel` fires,
/// or every [`EventQueue`] clone is dropped, it flushes everything still queued
/// (bounded by [`EventSettings::shutdown_timeout`]) and ends; await the returned handle to
/// wait for that final flush. With an empty URL no dispatcher runs and the handle
/// is already finished.
///
/// # Errors
///
/// [`EventError::InvalidUrl`] when the URL is not empty and does not parse;
/// [`EventError::HttpClient`] when the HTTP client cannot be built.
///
/// # Panics
///
/// When called outside a tokio runtime.
pub fn start(
    settings: EventSettings,
    cancel: CancellationToken,
) -> Result<(EventQueue, JoinHandle<()>), EventError> {
    let stats = Arc::new(EventStats::default());
    if settings.url.is_empty() {
        tracing::info!("client.eventURL is empty: impression and conversion events are discarded");
        let queue = EventQueue {
            sender: None,
            stats,
        };
        return Ok((queue, tokio::spawn(async {})));
    }
    let url = parse_url(&settings.url)?;
    let http = http_client(settings.request_timeout)?;
    let queue = Arc::new(Queue::new(settings.queue_size));
    let poster = Arc::new(Poster {
        http,
        url,
        max_attempts: settings.max_attempts.max(1),
        backoff: post::retry_backoff(settings.retry_backoff),
        stats: Arc::clone(&stats),
    });
    let dispatcher = Dispatcher::new(
        Arc::clone(&queue),
        poster,
        settings.batch_size,
        settings.flush_interval,
        settings.shutdown_timeout,
    );
    let handle = tokio::spawn(dispatcher.run(cancel));
    Ok((
        EventQueue {
            sender: Some(Arc::new(Sender(queue))),
            stats,
        },
        handle,
    ))
}

fn parse_url(raw: &str) -> Result<reqwest::Url, EventError> {
    reqwest::Url::parse(raw).map_err(|err| EventError::InvalidUrl {
        url: raw.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use std::sync::Mutex;

    use serde_json::{Map, Value};
    use tokio::time::Instant;

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use serde_json::json;

    /// A local HTTP endpoint that records every body POSTed to `/events` and answers
    /// with `status`.
    struct Sink {
        status: StatusCode,
        requests: Mutex<Vec<(Option<String>, Value)>>,
    }

    impl Sink {
        async fn start(status: StatusCode) -> (Arc<Sink>, String) {
            let sink = Arc::new(Sink {
                status,
                requests: Mutex::new(Vec::new()),
            });
            let app = Router::new()
                .route("/events", post(record))
                .with_state(Arc::clone(&sink));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/events", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            (sink, url)
        }

        fn bodies(&self) -> Vec<Value> {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .map(|(_, body)| body.clone())
                .collect()
        }

        fn request_count(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    async fn record(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = serde_json::from_slice(&body).unwrap();
        sink.requests.lock().unwrap().push((content_type, body));
        sink.status
    }

    fn header(revision: &str) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "account_id": "111",
            "project_id": "222",
            "revision": revision,
            "client_name": "go-sdk",
            "client_version": "2.3.0",
            "anonymize_ip": true,
            "enrich_decisions": true,
            "region": "US",
        }) else {
            unreachable!()
        };
        map
    }

    fn event(revision: &str, visitor: &str) -> QueuedEvent {
        QueuedEvent {
            header: serde_json::to_vec(&header(revision)).unwrap().into(),
            visitor: serde_json::to_vec(
                &json!({"visitor_id": visitor, "attributes": [], "snapshots": []}),
            )
            .unwrap()
            .into(),
        }
    }

    fn settings(url: &str, batch_size: usize, flush_interval: Duration) -> EventSettings {
        EventSettings {
            url: url.to_owned(),
            batch_size,
            queue_size: 100,
            flush_interval,
            request_timeout: Duration::from_secs(5),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(5),
            shutdown_timeout: Duration::from_millis(300),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Polls `probe` until it holds, failing the test after 5 s.
    async fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !probe() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn visitor_ids(body: &Value) -> Vec<&str> {
        body["visitors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["visitor_id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn full_batch_is_posted_as_one_request_with_header_fields() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 3, HOUR), cancel.clone()).unwrap();
        for user in ["u1", "u2", "u3"] {
            assert!(queue.push(event("7", user)));
        }
        wait_until("one batch is sent", || queue.stats().batches_sent == 1).await;

        let requests = sink.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let (content_type, body) = &requests[0];
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let mut expected = header("7");
        expected.insert("visitors".to_owned(), body["visitors"].clone());
        assert_eq!(body, &Value::Object(expected));
        assert_eq!(visitor_ids(body), ["u1", "u2", "u3"]);
        let stats = queue.stats();
        assert_eq!((stats.queued, stats.sent, stats.failed), (3, 3, 0));

        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn flush_interval_sends_a_partial_batch() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let interval = Duration::from_millis(50);
        let (queue, handle) = start(settings(&url, 100, interval), cancel.clone()).unwrap();
        let pushed = Instant::now();
        queue.push(event("7", "u1"));
        queue.push(event("7", "u2"));
        wait_until("the partial batch is sent", || sink.request_count() == 1).await;
        assert!(
            pushed.elapsed() >= interval,
            "sent before the flush interval"
        );
        assert_eq!(visitor_ids(&sink.bodies()[0]), ["u1", "u2"]);

        cancel.cancel();
        handle.await.unwrap();
        assert_eq!(sink.request_count(), 1, "nothing left to flush");
    }

    #[tokio::test]
    async fn batch_size_zero_is_treated_as_one() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 0, HOUR), cancel.clone()).unwrap();
        queue.push(event("7", "u1"));
        queue.push(event("7", "u2"));
        wait_until("two batches are sent", || queue.stats().batches_sent == 2).await;
        let mut ids: Vec<Vec<String>> = sink
            .bodies()
            .iter()
            .map(|b| visitor_ids(b).into_iter().map(str::to_owned).collect())
            .collect();
        ids.sort();
        assert_eq!(ids, [["u1"], ["u2"]]);
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn a_new_header_seals_the_pending_batch() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 10, HOUR), cancel.clone()).unwrap();
        queue.push(event("7", "u1"));
        queue.push(event("7", "u2"));
        queue.push(event("8", "u3"));
        cancel.cancel();
        handle.await.unwrap();

        let mut bodies = sink.bodies();
        bodies.sort_by_key(|b| b["revision"].as_str().unwrap().to_owned());
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0]["revision"], "7");
        assert_eq!(visitor_ids(&bodies[0]), ["u1", "u2"]);
        assert_eq!(bodies[1]["revision"], "8");
        assert_eq!(visitor_ids(&bodies[1]), ["u3"]);
    }

    #[tokio::test]
    async fn cancel_flushes_pending_events() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 100, HOUR), cancel.clone()).unwrap();
        for user in ["u1", "u2", "u3"] {
            queue.push(event("7", user));
        }
        assert_eq!(sink.request_count(), 0);
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .unwrap()
            .unwrap();

        let bodies = sink.bodies();
        assert_eq!(bodies.len(), 1);
        assert_eq!(visitor_ids(&bodies[0]), ["u1", "u2", "u3"]);
        assert_eq!(queue.stats().sent, 3);
        // The dispatcher has stopped: later events are refused and counted.
        assert!(!queue.push(event("7", "late")));
        assert_eq!(queue.stats().dropped, 1);
    }

    #[tokio::test]
    async fn dropping_every_queue_flushes_and_ends_the_dispatcher() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let (queue, handle) = start(settings(&url, 100, HOUR), CancellationToken::new()).unwrap();
        queue.push(event("7", "u1"));
        drop(queue);
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sink.request_count(), 1);
    }

    #[tokio::test]
    async fn full_queue_drops_new_events_without_blocking() {
        // No dispatcher reads this queue, so it fills up.
        let queue = EventQueue {
            sender: Some(Arc::new(Sender(Arc::new(Queue::new(2))))),
            stats: Arc::new(EventStats::default()),
        };
        assert!(queue.push(event("7", "u1")));
        assert!(queue.push(event("7", "u2")));
        let started = std::time::Instant::now();
        assert!(!queue.push(event("7", "u3")));
        assert!(!queue.push(event("7", "u4")));
        assert!(started.elapsed() < Duration::from_secs(1));
        let stats = queue.stats();
        assert_eq!((stats.queued, stats.dropped), (2, 2));
    }

    /// An endpoint that accepts connections but never answers; the connections stay
    /// open while the returned holder lives.
    async fn stuck_endpoint() -> (String, Arc<Mutex<Vec<tokio::net::TcpStream>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&held);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                keep.lock().unwrap().push(socket);
            }
        });
        (url, held)
    }

    #[tokio::test]
    async fn full_queue_behind_a_stuck_endpoint_drops_and_counts() {
        // An endpoint that accepts connections but never answers: every send slot
        // stays busy, the dispatcher stops reading, and the queue fills.
        let (url, _held) = stuck_endpoint().await;
        let mut config = settings(&url, 1, HOUR);
        config.queue_size = 5;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(config, cancel.clone()).unwrap();
        let (mut pushed, mut refused) = (0, 0);
        let mut push_until_refused = || {
            loop {
                pushed += 1;
                if !queue.push(event("7", &format!("u{pushed}"))) {
                    refused += 1;
                    break;
                }
            }
            queue.stats().queued
        };
        // Held exactly: MAX_IN_FLIGHT batches of one sending, and queue_size events
        // waiting (in the queue or sealed, it makes no difference).
        let bound = (MAX_IN_FLIGHT + 5) as u64;
        wait_until("the slots and the queue are full", || {
            push_until_refused() == bound
        })
        .await;
        for _ in 0..20 {
            tokio::task::yield_now().await;
            assert_eq!(push_until_refused(), bound);
        }
        let stats = queue.stats();
        assert_eq!(stats.dropped, refused);
        assert_eq!(stats.queued + stats.dropped, pushed);
        assert_eq!((stats.sent, stats.failed), (0, 0));
        drop(handle);
        cancel.cancel();
    }

    #[tokio::test]
    async fn final_flush_is_bounded_and_counts_what_it_could_not_send() {
        let (url, _held) = stuck_endpoint().await;
        let mut config = settings(&url, 1, HOUR);
        config.request_timeout = HOUR;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(config, cancel.clone()).unwrap();
        for i in 0..8 {
            assert!(queue.push(event("7", &format!("u{i}"))));
        }
        cancel.cancel();
        let started = Instant::now();
        let bound = Duration::from_millis(300);
        tokio::time::timeout(bound * 3, handle)
            .await
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= bound);
        let stats = queue.stats();
        assert_eq!((stats.queued, stats.failed, stats.sent), (8, 8, 0));
    }

    #[tokio::test]
    async fn a_batch_filled_over_several_pushes_is_sent_when_full() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 10, HOUR), cancel.clone()).unwrap();
        // The dispatcher takes the first events and waits for the batch's other 7.
        for user in ["u0", "u1", "u2"] {
            queue.push(event("7", user));
            tokio::task::yield_now().await;
        }
        for i in 3..10 {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            queue.push(event("7", &format!("u{i}")));
        }
        wait_until("the full batch is sent", || queue.stats().batches_sent == 1).await;
        let expected: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        assert_eq!(visitor_ids(&sink.bodies()[0]), expected);
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn an_event_behind_a_new_header_is_flushed_in_its_own_interval() {
        let (sink, url) = Sink::start(StatusCode::OK).await;
        let cancel = CancellationToken::new();
        let interval = Duration::from_millis(50);
        let (queue, handle) = start(settings(&url, 10, interval), cancel.clone()).unwrap();
        queue.push(event("7", "u1"));
        tokio::task::yield_now().await;
        queue.push(event("8", "u2"));
        wait_until("both partial batches are sent", || {
            sink.request_count() == 2
        })
        .await;
        let mut bodies = sink.bodies();
        bodies.sort_by_key(|b| b["revision"].as_str().unwrap().to_owned());
        assert_eq!(visitor_ids(&bodies[0]), ["u1"]);
        assert_eq!(visitor_ids(&bodies[1]), ["u2"]);
        cancel.cancel();
        handle.await.unwrap();
    }

    /// An endpoint that answers 200 after `delay` and records the visitor ids and
    /// the most requests it had open at once.
    #[derive(Default)]
    struct SlowSink {
        open: std::sync::atomic::AtomicUsize,
        most_open: std::sync::atomic::AtomicUsize,
        ids: Mutex<Vec<String>>,
    }

    async fn slow_sink(delay: Duration) -> (Arc<SlowSink>, String) {
        let sink = Arc::new(SlowSink::default());
        let state = Arc::clone(&sink);
        let app = Router::new().route(
            "/events",
            post(move |body: Bytes| {
                let sink = Arc::clone(&state);
                async move {
                    let open = sink.open.fetch_add(1, Ordering::SeqCst) + 1;
                    sink.most_open.fetch_max(open, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    let ids = visitor_ids(&body).into_iter().map(str::to_owned);
                    sink.ids.lock().unwrap().extend(ids);
                    sink.open.fetch_sub(1, Ordering::SeqCst);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, url)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_to_a_slow_endpoint_deliver_every_event_once() {
        // 200 ms per POST: at 32 batches in flight, 300 batches take 2 s; the
        // slots must be many more than 32 for the endpoint to see them at once.
        let (sink, url) = slow_sink(Duration::from_millis(200)).await;
        let mut config = settings(&url, 10, HOUR);
        config.queue_size = 3000;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(config, cancel.clone()).unwrap();
        for i in 0..3000 {
            assert!(queue.push(event("7", &format!("u{i}"))));
        }
        wait_until("every event is sent", || queue.stats().sent == 3000).await;
        let stats = queue.stats();
        assert_eq!(
            (stats.batches_sent, stats.dropped, stats.failed),
            (300, 0, 0)
        );
        let mut ids = sink.ids.lock().unwrap().clone();
        ids.sort();
        let mut expected: Vec<String> = (0..3000).map(|i| format!("u{i}")).collect();
        expected.sort();
        assert_eq!(ids, expected, "every event exactly once");
        let most_open = sink.most_open.load(Ordering::SeqCst);
        assert!(
            most_open > 32 && most_open <= MAX_IN_FLIGHT,
            "{most_open} batches were in flight at once"
        );
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_counted_as_failed() {
        let (sink, url) = Sink::start(StatusCode::INTERNAL_SERVER_ERROR).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 2, HOUR), cancel.clone()).unwrap();
        queue.push(event("7", "u1"));
        queue.push(event("7", "u2"));
        wait_until("the batch fails", || queue.stats().batches_failed == 1).await;
        let stats = queue.stats();
        assert_eq!((stats.failed, stats.sent, stats.batches_sent), (2, 0, 0));
        assert_eq!(sink.request_count(), 3, "one try and two retries");
        cancel.cancel();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (sink, url) = Sink::start(StatusCode::BAD_REQUEST).await;
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings(&url, 1, HOUR), cancel.clone()).unwrap();
        queue.push(event("7", "u1"));
        wait_until("the batch fails", || queue.stats().failed == 1).await;
        cancel.cancel();
        handle.await.unwrap();
        assert_eq!(sink.request_count(), 1);
    }

    #[tokio::test]
    async fn empty_url_discards_and_counts() {
        let cancel = CancellationToken::new();
        let (queue, handle) = start(settings("", 1, HOUR), cancel).unwrap();
        assert!(!queue.is_enabled());
        assert!(queue.push(event("7", "u1")));
        assert!(queue.push(event("7", "u2")));
        let stats = queue.stats();
        assert_eq!(stats.discarded, 2);
        assert_eq!((stats.queued, stats.dropped, stats.sent), (0, 0, 0));
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn invalid_url_is_refused_at_start() {
        for url in ["not a url", "http://[::1"] {
            let err = start(settings(url, 1, HOUR), CancellationToken::new()).unwrap_err();
            assert!(matches!(err, EventError::InvalidUrl { .. }), "{url}: {err}");
        }
    }

    #[test]
    fn from_client_takes_the_client_keys() {
        let client = config::ClientSettings::default();
        let settings = EventSettings::from_client(&client);
        assert_eq!(settings.url, client.event_url);
        assert_eq!(settings.batch_size, client.batch_size);
        assert_eq!(settings.queue_size, client.queue_size);
        assert_eq!(settings.flush_interval, client.flush_interval);
        assert_eq!(settings.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(1));
    }
}
