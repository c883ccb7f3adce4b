//! ODP event dispatch: `/v1/send-odp-event` hands each event to an
//! [`OdpEventQueue`] (never awaiting, never blocking), and one task sends them to
//! `<host>/v3/events` of the integration they were queued for, as upstream does:
//! a JSON array of at most [`BATCH_SIZE`] events, `x-api-key` set to the public
//! key, every `client.odp.eventsFlushInterval` or as soon as a destination has a
//! full batch (at once for every event when the interval is 0).
//!
//! A batch is tried up to [`MAX_ATTEMPTS`] times while failures are worth
//! retrying (no answer, 5xx); then its events are dropped and counted as
//! `failed`, so an unreachable endpoint costs memory only up to the queue bound.
//! Past [`QUEUE_SIZE`] waiting events, new ones are refused and counted as
//! `dropped`. On cancellation what is queued is sent within the shutdown timeout.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{API_KEY_HEADER, OdpError, USER_ID_KEY};
use crate::util::error_chain;

/// The events path below the integration's host.
pub const EVENTS_PATH: &str = "/v3/events";
/// Events per request (upstream's batch size).
pub const BATCH_SIZE: usize = 10;
/// Events waiting to be sent before new ones are refused (upstream's queue size).
pub const QUEUE_SIZE: usize = 10_000;
/// Attempts per batch, the first included (upstream's).
pub const MAX_ATTEMPTS: u32 = 3;
/// The event type when the request gives none.
pub const DEFAULT_TYPE: &str = "fullstack";
/// A failed batch is logged once per this many failures.
const FAILURE_LOG_EVERY: u64 = 100;

/// Where an event goes: the datafile's ODP integration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The ODP API base URL.
    pub host: String,
    /// The public key, sent as `x-api-key`.
    pub api_key: String,
}

/// One event as the request gave it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OdpEvent {
    /// `type`; empty means [`DEFAULT_TYPE`].
    pub kind: String,
    /// `action`.
    pub action: String,
    /// `identifiers` (`fs_user_id`, `email`, …).
    pub identifiers: BTreeMap<String, String>,
    /// `data`: primitive values only.
    pub data: Map<String, Value>,
}

/// How the dispatcher runs.
#[derive(Debug, Clone, PartialEq)]
pub struct OdpEventSettings {
    /// `client.odp.eventsFlushInterval`; 0 sends every event at once.
    pub flush_interval: Duration,
    /// `client.odp.eventsRequestTimeout`, per request.
    pub request_timeout: Duration,
    /// Longest time the final flush may take (`client.eventShutdownTimeout`).
    pub shutdown_timeout: Duration,
    /// `data_source` and `data_source_version` stamped on every event, the client
    /// upstream reports.
    pub data_source: (&'static str, &'static str),
}

/// Counters of the ODP event pipeline.
#[derive(Debug, Default)]
struct Stats {
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    batches_failed: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of the ODP event counters, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OdpEventStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events the endpoint accepted.
    pub sent: u64,
    /// Accepted events dropped undelivered: their batch failed every attempt, or
    /// the final flush ran out of time.
    pub failed: u64,
    /// Events refused because the queue was full.
    pub dropped: u64,
}

/// Why [`OdpEventQueue::push`] refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ODP EventQueue is full")]
pub struct QueueFull;

/// Cheap clonable handle for queueing events.
#[derive(Debug, Clone)]
pub struct OdpEventQueue {
    tx: mpsc::Sender<(Destination, Bytes)>,
    stats: Arc<Stats>,
    data_source: (&'static str, &'static str),
}

impl OdpEventQueue {
    /// Completes `event` (type, common data, identifier spelling) and queues it for
    /// `destination` without waiting.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] when [`QUEUE_SIZE`] events are waiting (or the dispatcher has
    /// stopped); the event is counted as dropped.
    pub fn push(&self, destination: Destination, event: OdpEvent) -> Result<(), QueueFull> {
        let body = prepare(event, self.data_source, &uuid::Uuid::new_v4().to_string());
        let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        match self.tx.try_send((destination, bytes)) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Err(QueueFull)
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> OdpEventStats {
        OdpEventStats {
            queued: self.stats.queued.load(Ordering::Relaxed),
            sent: self.stats.sent.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The event as sent.
#[derive(Serialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    action: String,
    identifiers: BTreeMap<String, String>,
    data: Map<String, Value>,
}

/// The event upstream sends for `event`: `type` defaults to [`DEFAULT_TYPE`]; `data`
/// starts from `idempotence_id`, `data_source_type`, `data_source` and
/// `data_source_version`, which the request's own values override; an identifier
/// spelled `fs-user-id` or in another case becomes `fs_user_id` unless that one is
/// set.
fn prepare(event: OdpEvent, data_source: (&str, &str), idempotence_id: &str) -> WireEvent {
    let mut data = Map::new();
    data.insert("idempotence_id".into(), idempotence_id.into());
    data.insert("data_source_type".into(), "sdk".into());
    data.insert("data_source".into(), data_source.0.into());
    data.insert("data_source_version".into(), data_source.1.into());
    data.extend(event.data);
    let mut identifiers = event.identifiers;
    if identifiers.get(USER_ID_KEY).is_none_or(String::is_empty) {
        let spelled = identifiers
            .keys()
            .find(|k| {
                let lower = k.to_ascii_lowercase();
                lower == USER_ID_KEY || lower == "fs-user-id"
            })
            .cloned();
        if let Some(key) = spelled
            && let Some(value) = identifiers.remove(&key)
        {
            identifiers.insert(USER_ID_KEY.to_owned(), value);
        }
    }
    WireEvent {
        kind: if event.kind.is_empty() {
            DEFAULT_TYPE.to_owned()
        } else {
            event.kind
        },
        action: event.action,
        identifiers,
        data,
    }
}

/// Starts the dispatcher; await the handle after cancelling `cancel` to wait for
/// the final flush.
///
/// # Errors
///
/// [`OdpError::HttpClient`] when the HTTP client cannot be built.
///
/// # Panics
///
/// When called outside a tokio runtime.
pub fn start(
    settings: OdpEventSettings,
    cancel: CancellationToken,
) -> Result<(OdpEventQueue, JoinHandle<()>), OdpError> {
    let http = super::http_client(settings.request_timeout)?;
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel(QUEUE_SIZE);
    let sender = Sender {
        http,
        stats: Arc::clone(&stats),
    };
    let handle = tokio::spawn(run(rx, sender, settings.clone(), cancel));
    Ok((
        OdpEventQueue {
            tx,
            stats,
            data_source: settings.data_source,
        },
        handle,
    ))
}

/// Waiting events per destination.
type Pending = HashMap<Destination, Vec<Bytes>>;

async fn run(
    mut rx: mpsc::Receiver<(Destination, Bytes)>,
    sender: Sender,
    settings: OdpEventSettings,
    cancel: CancellationToken,
) {
    // With no interval every event is its own batch, as upstream does.
    let batch_size = if settings.flush_interval.is_zero() {
        1
    } else {
        BATCH_SIZE
    };
    let mut pending = Pending::new();
    let timed = !settings.flush_interval.is_zero();
    // With no interval nothing ever waits for a tick (the period only has to be valid).
    let mut tick = tokio::time::interval(settings.flush_interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = tick.tick(), if timed => sender.flush_all(&mut pending, batch_size).await,
            received = rx.recv() => match received {
                Some((destination, event)) => {
                    let waiting = pending.entry(destination.clone()).or_default();
                    waiting.push(event);
                    if waiting.len() >= batch_size {
                        let batch = std::mem::take(waiting);
                        sender.send(&destination, batch).await;
                    }
                }
                None => break,
            },
        }
    }
    rx.close();
    while let Ok((destination, event)) = rx.try_recv() {
        pending.entry(destination).or_default().push(event);
    }
    let flush = sender.flush_all(&mut pending, batch_size);
    if tokio::time::timeout(settings.shutdown_timeout, flush)
        .await
        .is_err()
    {
        // The batch being sent when time ran out is lost with the rest.
        tracing::warn!(
            timeout = ?settings.shutdown_timeout,
            "final ODP event flush stopped after client.eventShutdownTimeout"
        );
    }
    let unsent = pending_len(&pending) as u64;
    sender.stats.failed.fetch_add(unsent, Ordering::Relaxed);
    let stats = sender.stats.failed.load(Ordering::Relaxed);
    if stats > 0 {
        tracing::warn!(
            failed = stats,
            "{stats} ODP events were not delivered to the ODP events endpoint"
        );
    }
}

fn pending_len(pending: &Pending) -> usize {
    pending.values().map(Vec::len).sum()
}

/// Sends batches and books their outcome.
struct Sender {
    http: reqwest::Client,
    stats: Arc<Stats>,
}

impl Sender {
    /// Sends everything waiting, in batches of `batch_size`. A batch is taken out of
    /// `pending` only once its send finished, so a final flush cut short by its
    /// timeout still knows what was not sent.
    async fn flush_all(&self, pending: &mut Pending, batch_size: usize) {
        let destinations: Vec<Destination> = pending.keys().cloned().collect();
        for destination in destinations {
            while let Some(waiting) = pending.get_mut(&destination) {
                if waiting.is_empty() {
                    pending.remove(&destination);
                    break;
                }
                let n = waiting.len().min(batch_size);
                let batch: Vec<Bytes> = waiting[..n].to_vec();
                self.send(&destination, batch).await;
                if let Some(waiting) = pending.get_mut(&destination) {
                    waiting.drain(..n);
                }
            }
        }
    }

    async fn send(&self, destination: &Destination, batch: Vec<Bytes>) {
        let events = batch.len() as u64;
        let body = array_body(&batch);
        let url = format!("{}{EVENTS_PATH}", destination.host.trim_end_matches('/'));
        let mut attempt = 1;
        loop {
            match self.post(&url, &destination.api_key, body.clone()).await {
                Ok(()) => {
                    self.stats.sent.fetch_add(events, Ordering::Relaxed);
                    return;
                }
                Err((true, _)) if attempt < MAX_ATTEMPTS => attempt += 1,
                Err((_, detail)) => {
                    self.stats.failed.fetch_add(events, Ordering::Relaxed);
                    let before = self.stats.batches_failed.fetch_add(1, Ordering::Relaxed);
                    if before.is_multiple_of(FAILURE_LOG_EVERY) {
                        tracing::warn!(
                            url,
                            events,
                            attempts = attempt,
                            "ODP events dropped: ODP event send failed ({detail}) (logged once \
                             per {FAILURE_LOG_EVERY} failed batches)"
                        );
                    }
                    return;
                }
            }
        }
    }

    /// One POST; the error says whether trying again may help, and why.
    async fn post(&self, url: &str, api_key: &str, body: Bytes) -> Result<(), (bool, String)> {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(API_KEY_HEADER, api_key)
            .body(body)
            .send()
            .await
            .map_err(|err| (!err.is_builder(), error_chain(&err)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // A 4xx means the request itself is wrong: sending it again won't help.
        Err((!status.is_client_error(), format!("HTTP {status}")))
    }
}

/// `[e1,e2,…]` from serialised events.
fn array_body(events: &[Bytes]) -> Bytes {
    let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.push(b']');
    Bytes::from(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use serde_json::json;

    fn prepared(event: OdpEvent) -> Value {
        serde_json::to_value(prepare(event, ("go-sdk", "2.3.0"), "id-1")).unwrap()
    }

    #[test]
    fn events_get_upstreams_defaults_and_common_data() {
        let event = OdpEvent {
            action: "identified".into(),
            identifiers: BTreeMap::from([("email".into(), "a@b.c".into())]),
            data: json!({"data_source": "mine", "n": 1})
                .as_object()
                .cloned()
                .unwrap(),
            ..OdpEvent::default()
        };
        assert_eq!(
            prepared(event),
            json!({"type": "fullstack", "action": "identified",
                   "identifiers": {"email": "a@b.c"},
                   "data": {"idempotence_id": "id-1", "data_source_type": "sdk",
                            "data_source": "mine", "data_source_version": "2.3.0", "n": 1}})
        );
    }

    #[test]
    fn the_user_id_identifier_is_respelled() {
        for key in ["FS-USER-ID", "fs-user-id", "FS_USER_ID"] {
            let event = OdpEvent {
                kind: "t".into(),
                action: "a".into(),
                identifiers: BTreeMap::from([(key.into(), "u1".into())]),
                ..OdpEvent::default()
            };
            let value = prepared(event);
            assert_eq!(value["identifiers"], json!({"fs_user_id": "u1"}), "{key}");
            assert_eq!(value["type"], "t");
        }
        let both = OdpEvent {
            action: "a".into(),
            identifiers: BTreeMap::from([
                ("FS-USER-ID".into(), "x".into()),
                ("fs_user_id".into(), "u1".into()),
            ]),
            ..OdpEvent::default()
        };
        assert_eq!(
            prepared(both)["identifiers"],
            json!({"FS-USER-ID": "x", "fs_user_id": "u1"})
        );
    }

    #[test]
    fn batches_are_json_arrays() {
        let events = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{}")];
        assert_eq!(array_body(&events), Bytes::from_static(b"[{\"a\":1},{}]"));
        assert_eq!(array_body(&[]), Bytes::from_static(b"[]"));
    }
}
