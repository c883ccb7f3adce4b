//! The Redis Pub/Sub hub (DESIGN §3.6): notifications travel between instances on
//! channel `optimizely-sync-{sdkKey}` as the JSON envelope, and datafile changes on
//! `optimizely-sync-datafile` as a bare SDK key — the names upstream Agents use.
//!
//! Pub/Sub is fire-and-forget: no ids, no resume, and a message published while an
//! instance is not subscribed never reaches it. What this hub does guarantee:
//!
//! * **Publishing never blocks a request.** [`PubSubHub::publish`] only queues; the
//!   shared [`Outbox`] sends what is waiting as pipelined `PUBLISH` batches through
//!   the multiplexed connection of a [`crate::store::Store`] (adaptive batching, DESIGN §3.4).
//! * **Redis being down loses nothing up to a bound** (DESIGN §6): the failed batch is
//!   kept and retried with the policy's capped back-off, forever, while new
//!   notifications wait in a queue of `buffer_size`; past it they are dropped and
//!   counted. Reachability changes are logged once each way, not per notification.
//! * **One subscription per instance**, on its own connection (a subscribed
//!   connection can run no other command, and it must not have a response timeout:
//!   it waits for messages indefinitely). It pattern-subscribes to
//!   `optimizely-sync-*` and delivers into the local [`Fanout`]. Local delivery
//!   happens *only* there, so this instance's subscribers see a notification once.
//!
//! This module uses [`crate::store`] for connections and [`super`] for the model; it
//! knows nothing about HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::outbox::{Batch, Landed, Outbox, PublisherStats};
use super::{Fanout, LogOnce, Notification};
use crate::config::RedisSettings;
use crate::store::{Connector, RetryPolicy, publish_pipeline};

/// Prefix of every channel this hub publishes to or listens on.
const CHANNEL_PREFIX: &str = "optimizely-sync-";
/// The channel carrying SDK keys whose datafile changed.
const DATAFILE_CHANNEL: &str = "optimizely-sync-datafile";
/// What the subscriber listens to: every notification channel plus the datafile one.
const PATTERN: &str = "optimizely-sync-*";
/// How long the publisher keeps flushing after cancel before it gives up (and counts
/// what is left as dropped): long enough for a healthy Redis to take a full queue,
/// short enough not to stall a shutdown when Redis is gone.
const FLUSH_ON_CANCEL: Duration = Duration::from_secs(5);
/// How often an idle subscription is PINGed, so a half-open connection (peer gone
/// without a FIN) is noticed instead of silently delivering nothing forever.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Timeout of connect, PSUBSCRIBE and keep-alive PING when `connection_timeout` is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Datafile announcements a slow receiver may fall behind before it sees `Lagged`.
const DATAFILE_CAPACITY: usize = 1024;

/// Counters for /metrics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PubSubStats {
    /// The publisher: messages (notifications and datafile announcements) Redis
    /// accepted, pipelines, drops, buffer, histograms.
    pub publisher: PublisherStats,
    /// Messages received on the subscription and decoded (notifications delivered to
    /// the local fan-out, plus datafile announcements).
    pub received: u64,
    /// Messages received that could not be decoded (skipped).
    pub decode_errors: u64,
    /// Times the subscription or the publishing connection was re-established
    /// after its connection was lost.
    pub reconnects: u64,
}

/// One message waiting to be published.
struct Outgoing {
    channel: String,
    payload: String,
}

/// How messages go to Redis: one `PUBLISH` each. A message cannot be looked up
/// afterwards, so after a pipeline got no reply every message of it is resent and
/// counted as a possible duplicate.
struct Publish;

impl Batch<Outgoing> for Publish {
    fn pipeline(&self, items: &[Outgoing]) -> redis::Pipeline {
        publish_pipeline(
            items
                .iter()
                .map(|m| (m.channel.as_str(), m.payload.as_str())),
        )
    }

    async fn landed(
        &self,
        _: &crate::store::Store,
        items: &[Outgoing],
        _: std::time::Instant,
    ) -> Result<Vec<Landed>, crate::store::Error> {
        Ok(vec![Landed::Unknown; items.len()])
    }
}

/// State shared by the handle and the subscriber task.
struct Shared {
    datafile: broadcast::Sender<String>,
    received: AtomicU64,
    decode_errors: AtomicU64,
    /// Opens the publisher's and the subscriber's connections; counts reconnects.
    connector: Connector,
}

/// The Redis Pub/Sub notification hub of one instance. See the module docs.
///
/// Dropping the last handle cancels its tasks (the publisher still flushes, bounded).
pub struct PubSubHub {
    shared: Arc<Shared>,
    outbox: Outbox<Outgoing>,
    tasks: TaskTracker,
    /// A child of the caller's token, so dropping the hub stops its tasks too.
    cancel: CancellationToken,
    address: String,
}

impl std::fmt::Debug for PubSubHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubHub")
            .field("address", &self.address)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PubSubHub {
    /// Starts the publisher task and the subscriber task; never fails because Redis
    /// is down (both keep retrying with the policy's back-off, capped, forever until
    /// `cancel`). Received notifications are delivered into `fanout`.
    ///
    /// # Errors
    ///
    /// [`crate::store::Error::InvalidAddress`] (or `Connect`) when the settings do
    /// not name a Redis at all.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime (the tasks are spawned on it).
    pub fn start(
        settings: &RedisSettings,
        fanout: Arc<Fanout>,
        cancel: CancellationToken,
    ) -> Result<Arc<PubSubHub>, crate::store::Error> {
        Self::start_with(settings, fanout, cancel, FLUSH_ON_CANCEL)
    }

    fn start_with(
        settings: &RedisSettings,
        fanout: Arc<Fanout>,
        cancel: CancellationToken,
        flush_on_cancel: Duration,
    ) -> Result<Arc<PubSubHub>, crate::store::Error> {
        let connector = Connector::from_settings(settings)?;
        // No history to catch up from: a subscriber that keeps reading must survive
        // the drain of everything queued during an outage (at most `buffer_size`).
        fanout.allow_lag(settings.buffer_size);
        let store = connector.store();
        let policy = store.policy();
        let timeout = Some(settings.connection_timeout)
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        let address = store.address().to_owned();
        let (datafile, _) = broadcast::channel(DATAFILE_CAPACITY);
        let shared = Arc::new(Shared {
            datafile,
            received: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            connector,
        });
        let cancel = cancel.child_token();
        let tasks = TaskTracker::new();
        let subscriber = Subscriber {
            shared: Arc::clone(&shared),
            fanout,
            policy,
            timeout,
            address: address.clone(),
            cancel: cancel.clone(),
            undecodable_logged: LogOnce::default(),
        };
        let outbox = Outbox::<Outgoing>::new(settings);
        let publisher = outbox.clone();
        let stop = cancel.clone();
        tasks.spawn(subscriber.run());
        tasks.spawn(async move {
            publisher
                .run(&store, &stop, flush_on_cancel, &Publish)
                .await;
        });
        tasks.close();
        Ok(Arc::new(PubSubHub {
            shared,
            outbox,
            tasks,
            cancel,
            address,
        }))
    }

    /// Non-blocking: queues the notification for `PUBLISH` on
    /// `optimizely-sync-<sdkKey>`. Returns false (and counts it as dropped) when
    /// `buffer_size` messages are already waiting, or the hub has stopped.
    ///
    /// This instance's own subscribers receive it through the subscription, like
    /// every other instance's, not directly.
    pub fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        self.outbox.offer(Outgoing {
            channel: format!("{CHANNEL_PREFIX}{sdk_key}"),
            payload: notification.envelope(),
        })
    }

    /// Publishes an SDK key on `optimizely-sync-datafile` (datafile sync between
    /// instances), through the same bounded queue as [`PubSubHub::publish`].
    pub fn publish_datafile_change(&self, sdk_key: &str) -> bool {
        self.outbox.offer(Outgoing {
            channel: DATAFILE_CHANNEL.to_owned(),
            payload: sdk_key.to_owned(),
        })
    }

    /// A receiver of SDK keys announced on `optimizely-sync-datafile` by any
    /// instance (including this one), from now on. A receiver more than 1024 keys
    /// behind gets [`broadcast::error::RecvError::Lagged`].
    pub fn datafile_changes(&self) -> broadcast::Receiver<String> {
        self.shared.datafile.subscribe()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PubSubStats {
        let s = &self.shared;
        PubSubStats {
            publisher: self.outbox.stats(),
            received: s.received.load(Ordering::Relaxed),
            decode_errors: s.decode_errors.load(Ordering::Relaxed),
            reconnects: s.connector.reconnects(),
        }
    }

    /// The Redis address in use, safe to print.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Waits until both tasks ended: after cancel, the publisher first flushes what
    /// was queued (for at most 5 s, then counts the rest as dropped) and the
    /// subscriber unsubscribes. Returns at once if they already ended; never returns
    /// before the token given to [`PubSubHub::start`] is cancelled.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops waiting.
    pub async fn finished(&self) {
        self.tasks.wait().await;
    }
}

impl Drop for PubSubHub {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The subscribing task: one dedicated Pub/Sub connection, re-made when it drops.
struct Subscriber {
    shared: Arc<Shared>,
    fanout: Arc<Fanout>,
    policy: RetryPolicy,
    timeout: Duration,
    address: String,
    cancel: CancellationToken,
    /// Channels whose undecodable messages were logged (each is logged once).
    undecodable_logged: LogOnce,
}

/// How one subscribed session ended.
enum SessionEnd {
    Cancelled,
    Lost(String),
}

impl Subscriber {
    async fn run(self) {
        let mut attempt = 0;
        let mut ever_subscribed = false;
        let mut down = false;
        loop {
            let connected = tokio::select! {
                () = self.cancel.cancelled() => return,
                result = self.connect() => result,
            };
            let end = match connected {
                Ok(pubsub) => {
                    attempt = 0;
                    if ever_subscribed {
                        self.shared.connector.count_reconnect();
                    }
                    if down {
                        tracing::warn!(addr = %self.address, "Redis Pub/Sub subscription restored");
                        down = false;
                    } else {
                        tracing::debug!(addr = %self.address, pattern = PATTERN, "subscribed");
                    }
                    ever_subscribed = true;
                    self.session(pubsub).await
                }
                Err(err) => SessionEnd::Lost(err),
            };
            let SessionEnd::Lost(reason) = end else {
                return;
            };
            if !down {
                tracing::warn!(
                    addr = %self.address,
                    error = %reason,
                    "Redis Pub/Sub subscription unavailable: notifications from other instances \
                     are missed until it is back; reconnecting"
                );
                down = true;
            }
            attempt += 1;
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(self.policy.pause(attempt)) => {}
            }
        }
    }

    /// Opens the dedicated connection and pattern-subscribes, both under a timeout
    /// (the connection itself has none on reads).
    async fn connect(&self) -> Result<redis::aio::PubSub, String> {
        let setup = self.shared.connector.psubscribe(PATTERN);
        match tokio::time::timeout(self.timeout, setup).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn session(&self, pubsub: redis::aio::PubSub) -> SessionEnd {
        let (mut sink, mut messages) = pubsub.split();
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.reset();
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => {
                    // Best effort: the connection closes right after anyway.
                    let _ = tokio::time::timeout(self.timeout, sink.punsubscribe(PATTERN)).await;
                    return SessionEnd::Cancelled;
                }
                message = messages.next() => match message {
                    Some(message) => {
                        self.handle(&message);
                        keepalive.reset();
                    }
                    None => return SessionEnd::Lost("connection closed".to_owned()),
                },
                _ = keepalive.tick() => {
                    match tokio::time::timeout(self.timeout, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => return SessionEnd::Lost(err.to_string()),
                        Err(_) => {
                            return SessionEnd::Lost(format!(
                                "keep-alive PING not answered within {:?}",
                                self.timeout
                            ));
                        }
                    }
                }
            }
        }
    }

    fn handle(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let Some(key) = channel
            .strip_prefix(CHANNEL_PREFIX)
            .filter(|k| !k.is_empty())
        else {
            return;
        };
        let payload = std::str::from_utf8(message.get_payload_bytes());
        // Counted before delivery, so whoever sees a message also sees it counted.
        let outcome = if channel == DATAFILE_CHANNEL {
            match payload.map(str::trim) {
                Ok(sdk_key) if !sdk_key.is_empty() => {
                    self.shared.received.fetch_add(1, Ordering::Relaxed);
                    // No receiver is fine: nobody on this instance cares right now.
                    let _ = self.shared.datafile.send(sdk_key.to_owned());
                    Ok(())
                }
                Ok(_) => Err("empty SDK key".to_owned()),
                Err(err) => Err(format!("not UTF-8: {err}")),
            }
        } else {
            payload
                .map_err(|err| format!("not UTF-8: {err}"))
                .and_then(|text| super::validate::read_envelope(text).map_err(|e| e.to_string()))
                .map(|notification| {
                    self.shared.received.fetch_add(1, Ordering::Relaxed);
                    self.fanout.publish_local(key, notification);
                })
        };
        match outcome {
            Ok(()) => {}
            Err(reason) => {
                self.shared.decode_errors.fetch_add(1, Ordering::Relaxed);
                if self.undecodable_logged.first(channel) {
                    tracing::warn!(
                        channel,
                        reason,
                        "skipping undecodable Pub/Sub message (further ones on this channel are \
                         only counted)"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Event, Filter, Kind, Subscription};
    use crate::store::testing::{RedisServer, free_port};
    use std::time::Instant;

    fn settings(port: u16) -> RedisSettings {
        RedisSettings {
            host: format!("127.0.0.1:{port}"),
            retry_delay: Duration::from_millis(20),
            max_retry_delay: Duration::from_millis(200),
            max_retries: 1,
            connection_timeout: Duration::from_secs(2),
            ..RedisSettings::default()
        }
    }

    const DEADLINE: Duration = Duration::from_secs(10);

    /// Polls `probe` until it holds, panicking with `what` after [`DEADLINE`].
    async fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !probe() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_subscribers(redis: &RedisServer, n: usize) {
        wait_until(&format!("{n} pattern subscribers"), || {
            redis.pattern_subscribers() == n
        })
        .await;
    }

    async fn next(sub: &mut Subscription) -> Arc<Event> {
        tokio::time::timeout(DEADLINE, sub.next())
            .await
            .expect("no event before the deadline")
            .unwrap()
    }

    fn note(kind: Kind, text: &str) -> Notification {
        Notification {
            kind,
            message: format!(r#"{{"n":"{text}"}}"#).into(),
        }
    }

    fn hub(port: u16, fanout: &Arc<Fanout>, cancel: &CancellationToken) -> Arc<PubSubHub> {
        PubSubHub::start(&settings(port), Arc::clone(fanout), cancel.clone()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_instances_each_deliver_once_and_only_to_the_key() {
        let redis = RedisServer::start();
        let cancel = CancellationToken::new();
        let (fa, fb) = (Arc::new(Fanout::new(64)), Arc::new(Fanout::new(64)));
        let (a, b) = (
            hub(redis.port(), &fa, &cancel),
            hub(redis.port(), &fb, &cancel),
        );
        let mut subs_k: Vec<_> = [&fa, &fa, &fb]
            .iter()
            .map(|f| f.subscribe("k", Filter::ALL, None).unwrap())
            .collect();
        let mut other_a = fa.subscribe("other", Filter::ALL, None).unwrap();
        let mut other_b = fb.subscribe("other", Filter::ALL, None).unwrap();
        wait_subscribers(&redis, 2).await;

        let first = note(Kind::Decision, "1");
        let marker = note(Kind::Track, "marker");
        assert!(a.publish("k", first.clone()));
        assert!(a.publish("k", marker.clone()));
        for sub in &mut subs_k {
            assert_eq!(next(sub).await.notification, first);
            // The very next event is the marker: no duplicate of `first` in between.
            assert_eq!(next(sub).await.notification, marker);
        }
        // Both subscriptions delivered the marker, so anything on "other" would be in.
        assert!(other_a.try_next().is_none());
        assert!(other_b.try_next().is_none());
        wait_until("each fan-out counted both messages", || {
            fa.stats().published == 2 && fb.stats().published == 2
        })
        .await;
        wait_until("publisher counted", || a.stats().publisher.published == 2).await;
        for sub in &mut subs_k {
            assert!(sub.try_next().is_none(), "nothing after the marker");
        }
        assert_eq!(a.stats().publisher.buffered, 0);
        assert_eq!((a.stats().received, b.stats().received), (2, 2));
        assert_eq!(b.stats().publisher.published, 0);

        cancel.cancel();
        tokio::time::timeout(DEADLINE, async { tokio::join!(a.finished(), b.finished()) })
            .await
            .unwrap();
        let dropped = a.stats().publisher.dropped;
        assert!(!a.publish("k", first), "a stopped hub refuses");
        assert_eq!(a.stats().publisher.dropped, dropped + 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hand_written_envelopes_and_garbage() {
        let redis = RedisServer::start();
        let cancel = CancellationToken::new();
        let fanout = Arc::new(Fanout::new(64));
        let h = hub(redis.port(), &fanout, &cancel);
        let mut sub = fanout.subscribe("k", Filter::ALL, None).unwrap();
        wait_subscribers(&redis, 1).await;

        let upstream = r#"{"type":"project_config_update","message":{"Type":"project_config_update","Revision":"3"}}"#;
        let n = redis.publish("optimizely-sync-k", upstream);
        assert_eq!(n, 1);
        let event = next(&mut sub).await;
        assert_eq!(event.notification.kind, Kind::DatafileUpdate);
        assert_eq!(
            &*event.notification.message,
            r#"{"Type":"project_config_update","Revision":"3"}"#
        );

        redis.publish("optimizely-sync-k", "garbage");
        redis.publish("optimizely-sync-k", r#"{"type":"nope","message":{}}"#);
        redis.publish(
            "optimizely-sync-k",
            r#"{"type":"decision","message":{"Type":"flag"}}"#,
        );
        let event = next(&mut sub).await;
        assert_eq!(event.notification.kind, Kind::Decision);
        assert_eq!(&*event.notification.message, r#"{"Type":"flag"}"#);
        let stats = h.stats();
        assert_eq!((stats.decode_errors, stats.received), (2, 2));
        cancel.cancel();
        tokio::time::timeout(DEADLINE, h.finished()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn redis_down_at_start_then_up_drains_buffer_and_delivers_live() {
        let port = free_port();
        let cancel = CancellationToken::new();
        let fanout = Arc::new(Fanout::new(64));
        let h = hub(port, &fanout, &cancel);
        let mut sub = fanout.subscribe("k", Filter::ALL, None).unwrap();
        let buffered: Vec<_> = (0..3)
            .map(|i| note(Kind::Track, &format!("b{i}")))
            .collect();
        for n in &buffered {
            assert!(h.publish("k", n.clone()));
        }
        // Retried for a while without losing anything.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(h.stats().publisher.buffered, 3);
        assert_eq!(h.stats().publisher.published, 0);

        let redis = RedisServer::start_on(port);
        wait_until("the buffered notifications were published", || {
            h.stats().publisher.published == 3
        })
        .await;
        assert_eq!(h.stats().publisher.buffered, 0);
        assert_eq!(h.stats().publisher.dropped, 0);
        wait_subscribers(&redis, 1).await;

        let live = note(Kind::Decision, "live");
        assert!(h.publish("k", live.clone()));
        // Buffered ones may or may not have been heard (Pub/Sub drops what nobody was
        // subscribed for); each at most once, in order, then the live one.
        let mut seen = Vec::new();
        loop {
            let event = next(&mut sub).await;
            if event.notification == live {
                break;
            }
            seen.push(event.notification.clone());
        }
        let expected: Vec<_> = buffered
            .iter()
            .filter(|n| seen.contains(n))
            .cloned()
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(h.stats().reconnects, 0);

        // Redis restarts: the subscription is re-made and counted.
        drop(redis);
        let redis = RedisServer::start_on(port);
        wait_subscribers(&redis, 1).await;
        wait_until("a reconnect is counted", || h.stats().reconnects == 1).await;
        let again = note(Kind::Decision, "again");
        assert!(h.publish("k", again.clone()));
        assert_eq!(next(&mut sub).await.notification, again);
        // The publisher's connection broke too, and was re-opened to send `again`.
        assert_eq!(h.stats().reconnects, 2);
        cancel.cancel();
        tokio::time::timeout(DEADLINE, h.finished()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn overflow_while_down_drops_and_counts_and_shutdown_is_bounded() {
        let port = free_port();
        let cancel = CancellationToken::new();
        let fanout = Arc::new(Fanout::new(8));
        let mut s = settings(port);
        s.buffer_size = 5;
        s.batch_size = 2;
        let h =
            PubSubHub::start_with(&s, fanout, cancel.clone(), Duration::from_millis(300)).unwrap();
        for i in 0..5 {
            assert!(h.publish("k", note(Kind::Track, &i.to_string())), "{i}");
        }
        assert!(!h.publish("k", note(Kind::Track, "6")));
        assert!(!h.publish_datafile_change("k"));
        let stats = h.stats();
        assert_eq!(
            (
                stats.publisher.buffered,
                stats.publisher.dropped,
                stats.publisher.published
            ),
            (5, 2, 0)
        );

        cancel.cancel();
        let started = Instant::now();
        tokio::time::timeout(DEADLINE, h.finished()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        let stats = h.stats();
        assert_eq!((stats.publisher.buffered, stats.publisher.dropped), (0, 7));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn shutdown_flushes_what_was_queued_in_bounded_batches() {
        let redis = RedisServer::start();
        let cancel = CancellationToken::new();
        let mut s = settings(redis.port());
        s.batch_size = 50;
        let h = PubSubHub::start(&s, Arc::new(Fanout::new(8)), cancel.clone()).unwrap();
        for i in 0..1000 {
            assert!(h.publish("k", note(Kind::Track, &i.to_string())));
        }
        cancel.cancel();
        tokio::time::timeout(DEADLINE, h.finished()).await.unwrap();
        let stats = h.stats();
        assert_eq!(
            (
                stats.publisher.published,
                stats.publisher.dropped,
                stats.publisher.buffered
            ),
            (1000, 0, 0)
        );
        assert!(
            stats.publisher.batches >= 20,
            "batches of at most 50: {}",
            stats.publisher.batches
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn datafile_changes_round_trip_between_instances() {
        let redis = RedisServer::start();
        let cancel = CancellationToken::new();
        let (fa, fb) = (Arc::new(Fanout::new(8)), Arc::new(Fanout::new(8)));
        let (a, b) = (
            hub(redis.port(), &fa, &cancel),
            hub(redis.port(), &fb, &cancel),
        );
        let (mut ra, mut rb) = (a.datafile_changes(), b.datafile_changes());
        let mut notes_a = fa.subscribe("datafile", Filter::ALL, None).unwrap();
        let mut notes_b = fb.subscribe("datafile", Filter::ALL, None).unwrap();
        wait_subscribers(&redis, 2).await;

        assert!(a.publish_datafile_change("sdk-1"));
        redis.publish(DATAFILE_CHANNEL, "sdk-2");
        for r in [&mut ra, &mut rb] {
            // Two publishers: Redis may order them either way.
            let mut got = Vec::new();
            for _ in 0..2 {
                got.push(
                    tokio::time::timeout(DEADLINE, r.recv())
                        .await
                        .unwrap()
                        .unwrap(),
                );
            }
            got.sort();
            assert_eq!(got, ["sdk-1", "sdk-2"]);
        }
        // Datafile announcements are not notifications of an SDK key "datafile".
        assert!(notes_a.try_next().is_none() && notes_b.try_next().is_none());
        assert_eq!((a.stats().received, b.stats().received), (2, 2));
        cancel.cancel();
        tokio::time::timeout(DEADLINE, async { tokio::join!(a.finished(), b.finished()) })
            .await
            .unwrap();
    }
}
