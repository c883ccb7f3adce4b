//! `GET /v1/notifications/event-stream`: the Server-Sent-Events notification stream.
//!
//! Each event is `id: <event id>` + `data: <message JSON>`; with `raw` the message
//! JSON alone on a line. `filter` (repeatable, comma lists) picks kinds, and an
//! unknown name is a 400 naming the allowed ones. `Last-Event-ID` (header, or the
//! `lastEventId` query parameter for clients that cannot set headers) resumes after
//! that id; without it, a stream on Redis Streams first sends an `id:`-only frame
//! holding its resume point (the newest entry id it has seen, `0-0` for an empty
//! stream), which sets the client's last event id without dispatching an event, so
//! a client reconnecting before its first event misses nothing (the in-memory and
//! Pub/Sub hubs have no history to resume from and send none). An idle stream gets a
//! keep-alive comment every `api.notificationKeepAlive`. The stream ends on shutdown.
//! A subscriber that falls `api.notificationBuffer` events behind the live feed
//! catches up from the Redis stream on the Streams hub (counted) and stays
//! connected; on the Pub/Sub hub (allowance `buffer_size`, at least
//! `api.notificationBuffer`) and the in-memory hub it is disconnected (logged,
//! counted).
//!
//! `group=NAME[&consumer=NAME][&from=0|$|<id>]` (Redis Streams hub only) makes the
//! connection a consumer of a durable consumer group instead (DESIGN §3.3, see
//! [`crate::notify::GroupSubscription`]): connections sharing a group split the
//! entries, and each entry is acknowledged only after it was written. The consumer
//! name (given or generated) is sent in the `X-Consumer-Name` header and a first
//! `: group … consumer …` comment. A group keeps its own position, so with `group`
//! the `Last-Event-ID` *header* is ignored (browsers send it on every automatic
//! reconnect; a named consumer gets its pending entries again anyway), while the
//! `lastEventId` query parameter, which someone wrote on purpose, is a 400.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::Shared;
use super::error::ApiError;
use super::projects::Project;
use crate::notify::{
    Event, Filter, GroupRequest, GroupSubscription, Subscription, SubscriptionError,
};
use crate::wire::{
    CONSUMER_NAME_HEADER, EVENT_STREAM_MIME, EVENT_STREAM_PATH, LAST_EVENT_ID_HEADER, query, sse,
};

/// The SSE route (no write timeout: the response lives as long as the client).
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(EVENT_STREAM_PATH, get(event_stream))
}

async fn event_stream(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    if !state.settings.api.enable_notifications {
        return Err(ApiError::Disabled("Notification stream not enabled"));
    }
    let sdk_key = project.sdk_key.clone();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let filter = Filter::parse(
        params
            .iter()
            .filter(|(k, _)| k == query::FILTER)
            .map(|(_, v)| v.as_str()),
    )?;
    let raw = params.iter().any(|(k, _)| k == query::RAW);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let keep_alive = state.settings.api.notification_keep_alive;
    if let Some(group) = param(query::GROUP) {
        if param(query::LAST_EVENT_ID).is_some_and(|id| !id.trim().is_empty()) {
            return Err(ApiError::bad_request(
                "group and lastEventId cannot be combined: a consumer group keeps its own \
                 position (pending entries are delivered again on reconnect)",
            ));
        }
        let mut request = GroupRequest::new(group)
            .consumer(param(query::CONSUMER))
            .from(param(query::FROM));
        if !keep_alive.is_zero() {
            request = request.max_wait(keep_alive);
        }
        let subscription = state.hub.subscribe_group(&sdk_key, filter, request).await?;
        let consumer = HeaderValue::from_str(subscription.consumer()).ok();
        let body = Body::from_stream(group_frames(
            subscription,
            raw,
            keep_alive,
            state.cancel.clone(),
        ));
        let mut response = sse_response(body);
        if let Some(consumer) = consumer {
            response
                .headers_mut()
                .insert(CONSUMER_NAME_HEADER, consumer);
        }
        return Ok(response);
    }
    if let Some(name) = [query::CONSUMER, query::FROM]
        .into_iter()
        .find(|name| param(name).is_some())
    {
        return Err(ApiError::bad_request(format!(
            "{name} is only meaningful with group (a durable consumer group subscription)"
        )));
    }
    let header_id = match headers.get(LAST_EVENT_ID_HEADER) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::bad_request(
                "invalid Last-Event-ID (not ASCII): expected an event id like 1700000000000-0",
            )
        })?),
    };
    let last_event_id = header_id
        .map(str::to_owned)
        .or_else(|| param(query::LAST_EVENT_ID));
    let subscription = state
        .hub
        .subscribe(&sdk_key, filter, last_event_id.as_deref())
        .await?;
    let reset = subscription.gap().then(|| {
        tracing::warn!(
            sdk_key,
            last_event_id,
            "notifications after the resume point are gone (trimmed, or lost in a Redis \
             fail-over); sending reset"
        );
        last_event_id.clone().unwrap_or_default()
    });
    let body = Body::from_stream(frames(
        subscription,
        raw,
        keep_alive,
        state.cancel.clone(),
        sdk_key,
        reset,
    ));
    Ok(sse_response(body))
}

/// A streaming body with the SSE headers.
fn sse_response(body: Body) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_MIME),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    // Tells nginx-style proxies not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `event`'s frame: the one every subscriber of the event shares.
fn frame(event: &Event, raw: bool) -> Bytes {
    if raw {
        event.raw_line()
    } else {
        event.sse_frame()
    }
}

/// Appends `event`'s frame to a chunk being gathered (for an event no other
/// subscriber shares: a group consumer's).
fn write_frame(out: &mut Vec<u8>, event: &Event, raw: bool) {
    let message = &event.notification.message;
    if raw {
        sse::write_raw(out, message);
    } else {
        sse::write_event(out, &event.id, message);
    }
}

/// Bytes gathered into one write at most (then the rest waits for the next poll).
const MAX_WRITE: usize = 64 * 1024;

struct StreamState {
    subscription: Subscription,
    raw: bool,
    /// Resolves on shutdown; one wait for the whole stream, not one per event.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// When idle: the keep-alive timer, or `None` when there are no keep-alives.
    idle: Option<Idle>,
    sdk_key: String,
    done: bool,
    /// A `reset` event to send first: the resume point whose successors are gone.
    reset: Option<String>,
}

/// The keep-alive timer of a stream: a comment goes out once nothing was written
/// for `every`. The one timer is moved on only when it fires, never per write, so
/// a busy stream costs no timer updates.
struct Idle {
    every: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// When the last chunk was handed to the connection.
    last_write: Instant,
}

impl Idle {
    fn new(every: Duration) -> Self {
        let now = Instant::now();
        Idle {
            every,
            timer: Box::pin(tokio::time::sleep_until(now + every)),
            last_write: now,
        }
    }

    /// Resolves once nothing was written for `every`, and counts the keep-alive
    /// about to be written as a write.
    async fn elapsed(&mut self) {
        loop {
            self.timer.as_mut().await;
            let due = self.last_write + self.every;
            let now = Instant::now();
            if due <= now {
                self.last_write = now;
                self.timer.as_mut().reset(now + self.every);
                return;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

/// The body: events as they come, keep-alives when idle, and an end on shutdown or
/// an overflow the subscription could not catch up from.
fn frames(
    subscription: Subscription,
    raw: bool,
    keep_alive: Duration,
    cancel: CancellationToken,
    sdk_key: String,
    reset: Option<String>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let state = StreamState {
        subscription,
        raw,
        cancelled: Box::pin(cancel.cancelled_owned()),
        idle: (!keep_alive.is_zero() && !raw).then(|| Idle::new(keep_alive)),
        sdk_key,
        done: false,
        reset,
    };
    stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        // Polled again: the connection took the previous chunk.
        if let Some(idle) = &mut s.idle {
            idle.last_write = Instant::now();
        }
        if let Some(after) = s.reset.take()
            && !s.raw
        {
            // Said before anything else: the client must know it missed events.
            return Some((Ok(reset_frame(&after)), s));
        }
        // A fresh subscription on a hub with history says where it starts: an
        // `id:`-only frame sets the client's last event id without an event.
        if let Some(id) = s.subscription.take_resume_point()
            && !s.raw
        {
            return Some((Ok(Bytes::from(sse::resume_point(&id))), s));
        }
        // A resume with nothing to replay is caught up at once.
        if let Some(id) = s.subscription.take_caught_up()
            && !s.raw
        {
            return Some((Ok(Bytes::from(sse::caught_up(&id))), s));
        }
        let timer = &mut s.idle;
        let idle = async move {
            match timer {
                Some(idle) => idle.elapsed().await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            () = s.cancelled.as_mut() => return None,
            next = s.subscription.next() => next,
            () = idle => return Some((Ok(Bytes::from_static(sse::KEEP_ALIVE)), s)),
        };
        // Whatever else is already waiting goes into the same write: one syscall and
        // one wake-up for a burst instead of one per event. A lone event is written
        // as its shared frame, without a copy.
        let mut buffer = Vec::new();
        let mut next = Some(first);
        while let Some(result) = next.take() {
            match result {
                Ok(event) => {
                    let frame = frame(&event, s.raw);
                    let caught_up = s.subscription.take_caught_up().filter(|_| !s.raw);
                    if buffer.is_empty() && caught_up.is_none() {
                        next = (frame.len() < MAX_WRITE)
                            .then(|| s.subscription.try_next())
                            .flatten();
                        if next.is_none() {
                            return Some((Ok(frame), s));
                        }
                    }
                    buffer.extend_from_slice(&frame);
                    if let Some(id) = caught_up {
                        buffer.extend_from_slice(sse::caught_up(&id).as_bytes());
                    }
                    if next.is_none() && buffer.len() < MAX_WRITE {
                        next = s.subscription.try_next();
                    }
                }
                // Events this subscriber may have had are gone from Redis (the
                // reader logged and counted it): it is told, and goes on.
                Err(SubscriptionError::Reset { after }) => {
                    if !s.raw {
                        buffer.extend_from_slice(&reset_frame(&after.to_string()));
                    }
                    if buffer.len() < MAX_WRITE {
                        next = s.subscription.try_next();
                    }
                }
                Err(SubscriptionError::Overflow { missed }) => {
                    tracing::warn!(
                        sdk_key = s.sdk_key,
                        missed,
                        "disconnecting a notification subscriber that fell behind"
                    );
                    s.done = true;
                    if !s.raw {
                        buffer.extend_from_slice(sse::disconnected(missed).as_bytes());
                    }
                }
                Err(err) => {
                    tracing::error!("{err}");
                    s.done = true;
                }
            }
        }
        if buffer.is_empty() {
            // A reset alone on a raw stream writes nothing, but the stream goes on.
            return (!s.done).then(|| (Ok(Bytes::new()), s));
        }
        let bytes = Bytes::from(buffer);
        Some((Ok(bytes), s))
    })
}

/// The `reset` event: notifications after `after` are not all in Redis any more.
fn reset_frame(after: &str) -> Bytes {
    let data = serde_json::json!({
        "lastEventId": after,
        "reason": "notifications after this id are not all in Redis any more \
                   (trimmed by retention, or lost in a Redis fail-over); resuming \
                   with the ones it holds",
    });
    Bytes::from(sse::named(sse::RESET_EVENT, &data.to_string()))
}

struct GroupStreamState {
    subscription: GroupSubscription,
    raw: bool,
    keep_alive: Duration,
    cancel: CancellationToken,
    /// The first chunk: a comment naming the group and consumer.
    hello: Option<Bytes>,
    /// Ids of the entries in the chunk last handed to hyper, not yet acknowledged.
    written: Vec<String>,
    last_write: tokio::time::Instant,
}

/// The body of a group subscription: batches of events, each acknowledged once
/// hyper has taken it, keep-alives when idle, and an end on shutdown.
///
/// **The acknowledgement point.** `Body::from_stream` hands each chunk to hyper,
/// which puts it in the connection's write buffer and polls the body again as soon
/// as the buffer has room (it writes the buffer to the socket while that poll is
/// pending). The entries of a chunk are XACKed at the start of that next poll,
/// before anything else is read: so an entry is never acknowledged before its bytes
/// were accepted by hyper, and a client that disconnects before hyper took a chunk
/// leaves its entries pending (delivered again). What this cannot see is a write
/// that fails after hyper accepted the bytes (or bytes lost in the network): such
/// entries are acknowledged and not redelivered. On shutdown the last chunk is
/// acknowledged when the stream is polled to find its end.
fn group_frames(
    subscription: GroupSubscription,
    raw: bool,
    keep_alive: Duration,
    cancel: CancellationToken,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let hello =
        (!raw).then(|| Bytes::from(sse::group(subscription.group(), subscription.consumer())));
    let state = GroupStreamState {
        subscription,
        raw,
        keep_alive,
        cancel,
        hello,
        written: Vec::new(),
        last_write: tokio::time::Instant::now(),
    };
    stream::unfold(state, |mut s| async move {
        if let Some(hello) = s.hello.take() {
            return Some((Ok(hello), s));
        }
        // Polled again: hyper took the previous chunk. Acknowledge it before
        // anything else (not raced with cancel: the bytes are out).
        if !s.written.is_empty() {
            let ids = std::mem::take(&mut s.written);
            s.subscription.ack(ids).await;
        }
        loop {
            let events = tokio::select! {
                biased;
                () = s.cancel.cancelled() => return None,
                events = s.subscription.next_batch() => events,
            };
            if events.is_empty() {
                // The read waits at most the keep-alive interval (see `max_wait`).
                if !s.raw && !s.keep_alive.is_zero() && s.last_write.elapsed() >= s.keep_alive {
                    s.last_write = tokio::time::Instant::now();
                    return Some((Ok(Bytes::from_static(sse::KEEP_ALIVE)), s));
                }
                continue;
            }
            // These events are this consumer's alone: formatted straight into the
            // chunk rather than into frames of their own.
            let mut buffer = Vec::new();
            for event in events {
                write_frame(&mut buffer, &event, s.raw);
                s.written.push(event.id);
            }
            s.last_write = tokio::time::Instant::now();
            return Some((Ok(Bytes::from(buffer)), s));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Kind, Notification};

    #[test]
    fn frames_are_sse_or_raw_lines() {
        let event = Event::new(
            "5-1".to_owned(),
            Notification {
                kind: Kind::Track,
                message: "{\"EventKey\":\"e\"}".into(),
            },
        );
        let mut out = Vec::new();
        write_frame(&mut out, &event, false);
        assert_eq!(out, b"id: 5-1\ndata: {\"EventKey\":\"e\"}\n\n");
        assert_eq!(frame(&event, false), out);
        write_frame(&mut out, &event, true);
        assert_eq!(
            out,
            b"id: 5-1\ndata: {\"EventKey\":\"e\"}\n\n{\"EventKey\":\"e\"}\n"
        );
        assert_eq!(frame(&event, true), &b"{\"EventKey\":\"e\"}\n"[..]);
    }

    #[tokio::test]
    async fn the_stream_ends_on_cancel() {
        use futures_util::StreamExt;
        let hub = crate::notify::Hub::memory(8);
        let subscription = hub.subscribe("k", Filter::ALL, None).await.unwrap();
        let cancel = CancellationToken::new();
        let mut body = Box::pin(frames(
            subscription,
            false,
            Duration::ZERO,
            cancel.clone(),
            "k".to_owned(),
            None,
        ));
        hub.publish(
            "k",
            Notification {
                kind: Kind::Decision,
                message: "{}".into(),
            },
        );
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"id: "), "{first:?}");
        cancel.cancel();
        assert!(body.next().await.is_none());
    }

    /// The keep-alive timer is moved on only when it fires, yet a keep-alive still
    /// comes exactly `keep_alive` after the last chunk, never while events flow.
    #[tokio::test(start_paused = true)]
    async fn keep_alives_only_after_a_quiet_interval() {
        use futures_util::StreamExt;
        use tokio::time::{Instant, sleep};
        let hub = crate::notify::Hub::memory(8);
        let subscription = hub.subscribe("k", Filter::ALL, None).await.unwrap();
        let every = Duration::from_secs(10);
        let mut body = Box::pin(frames(
            subscription,
            false,
            every,
            CancellationToken::new(),
            "k".to_owned(),
            None,
        ));
        let publisher = hub.clone();
        tokio::spawn(async move {
            // An event every 6 s for 30 s, then silence.
            for _ in 0..5 {
                sleep(Duration::from_secs(6)).await;
                publisher.publish(
                    "k",
                    Notification {
                        kind: Kind::Decision,
                        message: "{}".into(),
                    },
                );
            }
        });
        let start = Instant::now();
        let mut chunks = Vec::new();
        while chunks.len() < 7 {
            let chunk = body.next().await.unwrap().unwrap();
            let at = start.elapsed().as_secs();
            chunks.push((at, chunk.starts_with(b"id: ")));
        }
        assert_eq!(
            chunks,
            [
                (6, true),
                (12, true),
                (18, true),
                (24, true),
                (30, true),
                (40, false),
                (50, false)
            ]
        );
    }
}
