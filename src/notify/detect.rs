//! The Redis hub from start-up on (issue 11 item 1): which transport carries the
//! notifications, decided once Redis gives a definite answer, and whether Redis is
//! reachable now, for `/ready`.
//!
//! - **Deciding.** With `default: "redis"` the version is detected with `INFO
//!   server`. A version, or a definite refusal (`NOPERM`, an unparsable reply),
//!   decides: Streams for Redis >= 5, Pub/Sub otherwise (the seeds' rule). A
//!   connection error (Redis not up yet, reset, timeout, TLS) or an auth error
//!   decides nothing: detection is retried with the policy's back-off, forever, and
//!   auth errors are logged as errors at every attempt. A forced transport
//!   (`redis-streams`, `redis-pubsub`) is decided at once.
//! - **Buffering.** Until then, published notifications wait in a queue of
//!   `buffer_size` (past it they are dropped and counted) and go to the chosen
//!   transport, in order, the moment it is chosen. A subscriber waits for the
//!   decision up to `connection_timeout`, then gets a 503.
//! - **Probing.** Once decided, Redis is `PING`ed every second on a connection of
//!   its own. The hub is ready when it is decided and Redis has not been
//!   unreachable for longer than `connection_timeout`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Notification;
use super::fanout::Fanout;
use super::pubsub::PubSubHub;
use super::streams::StreamsHub;
use crate::config::RedisSettings;
use crate::store::{self, Backend, Connector, Detection, Store, choose_backend};
use crate::util::lock;

/// How often a decided hub checks that Redis answers.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often the Pub/Sub fallback is announced again while it lasts.
const FALLBACK_WARNING_EVERY: Duration = Duration::from_secs(60);
/// The readiness threshold and subscribe wait when `connection_timeout` is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The transport chosen.
pub(super) enum Chosen {
    /// Redis Streams.
    Streams(Arc<StreamsHub>),
    /// Redis Pub/Sub.
    PubSub(Arc<PubSubHub>),
}

impl Chosen {
    fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        match self {
            Chosen::Streams(streams) => streams.publish(sdk_key, notification),
            Chosen::PubSub(pubsub) => pubsub.publish(sdk_key, notification),
        }
    }
}

/// Whether the hub can do its job now, for `/ready` and `/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The hub's state: `undecided`, `redis-streams`, `redis-pubsub` or `memory`.
    pub state: &'static str,
    /// Why the hub is not ready; `None` when it is.
    pub not_ready: Option<String>,
}

/// Counters of the queue notifications wait in until the transport is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UndecidedStats {
    /// Notifications waiting now.
    pub buffered: u64,
    /// Notifications dropped: the queue was full, or the process stopped before
    /// the transport was chosen.
    pub dropped: u64,
}

/// Notifications published before the transport was chosen.
struct Waiting {
    queue: VecDeque<(String, Notification)>,
    /// Set on shutdown while undecided: nothing will ever send what is queued.
    closed: bool,
}

/// What the last contact with Redis said.
struct Reach {
    /// When Redis last answered (start-up when it never did).
    last_ok: Instant,
    /// The error of the last attempt, when it failed.
    failing: Option<String>,
}

/// The Redis hub of one instance: the chosen transport, or the queue and the
/// detection loop until it is chosen. See the module docs.
pub(super) struct RedisHub {
    settings: RedisSettings,
    fanout: Arc<Fanout>,
    cancel: CancellationToken,
    address: String,
    chosen: OnceLock<Chosen>,
    /// Becomes true once `chosen` is set.
    decided: watch::Sender<bool>,
    waiting: Mutex<Waiting>,
    dropped: AtomicU64,
    buffer_size: usize,
    reach: Mutex<Reach>,
    /// How long Redis may be unreachable before the hub is not ready.
    patience: Duration,
    tasks: TaskTracker,
}

impl RedisHub {
    /// Starts the hub: with `forced`, that transport now; without, one detection
    /// attempt now (so a healthy Redis is chosen before the listeners open), then
    /// the detection loop in the background if that did not decide. Either way the
    /// probe then runs until `cancel`.
    ///
    /// # Errors
    ///
    /// [`store::Error`] when the settings do not name a Redis at all.
    pub(super) async fn start(
        settings: &RedisSettings,
        forced: Option<Backend>,
        fanout: Arc<Fanout>,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>, store::Error> {
        let connector = Connector::from_settings(settings)?;
        let patience = Some(settings.connection_timeout)
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        let hub = Arc::new(RedisHub {
            settings: settings.clone(),
            fanout,
            cancel,
            address: connector.address().to_owned(),
            chosen: OnceLock::new(),
            decided: watch::Sender::new(false),
            waiting: Mutex::new(Waiting {
                queue: VecDeque::new(),
                closed: false,
            }),
            dropped: AtomicU64::new(0),
            buffer_size: settings.buffer_size.max(1),
            reach: Mutex::new(Reach {
                last_ok: Instant::now(),
                failing: None,
            }),
            patience,
            tasks: TaskTracker::new(),
        });
        let store = connector.store();
        match forced {
            Some(backend) => hub.choose(backend)?,
            None => {
                hub.detect(&store, &mut None).await;
            }
        }
        let runner = Arc::clone(&hub);
        hub.tasks.spawn(async move { runner.run(store).await });
        hub.tasks.close();
        Ok(hub)
    }

    /// Detects (unless decided), then probes, until cancel; on cancel while still
    /// undecided, counts what waits as dropped.
    async fn run(self: Arc<Self>, store: Store) {
        tokio::select! {
            () = self.detect_then_probe(&store) => {}
            () = self.cancel.cancelled() => {}
        }
        let mut waiting = lock(&self.waiting);
        waiting.closed = true;
        let left = waiting.queue.len() as u64;
        waiting.queue.clear();
        drop(waiting);
        if left > 0 {
            self.dropped.fetch_add(left, Ordering::Relaxed);
            tracing::warn!(
                addr = self.address,
                dropped = left,
                "shutting down before Redis answered: notifications waiting for it are dropped"
            );
        }
    }

    /// One detection attempt; true once the transport is chosen. `last_logged` is
    /// the last connection error logged (each different one is logged once).
    async fn detect(&self, store: &Store, last_logged: &mut Option<String>) -> bool {
        let backend = match store.detect_version().await {
            Ok(version) => choose_backend::<store::Error>(Ok(version)),
            Err(err) => match err.detection() {
                Detection::Refused => {
                    self.tasks
                        .spawn(warn_while_on_fallback(err.to_string(), self.cancel.clone()));
                    choose_backend(Err(err))
                }
                Detection::Auth => {
                    tracing::error!(
                        addr = self.address,
                        "Redis refuses the credentials (synchronization.pubsub.redis \
                         password settings); notifications wait until it accepts them: {err}"
                    );
                    self.failed(err.to_string());
                    return false;
                }
                Detection::Unreachable => {
                    let text = err.to_string();
                    if last_logged.as_deref() != Some(text.as_str()) {
                        tracing::warn!(
                            addr = self.address,
                            "cannot detect the Redis version yet, retrying (notifications \
                             wait, up to {}): {text}",
                            self.buffer_size
                        );
                        *last_logged = Some(text.clone());
                    }
                    self.failed(text);
                    return false;
                }
            },
        };
        self.answered();
        if let Err(err) = self.choose(backend) {
            // Cannot happen: the same settings were resolved at start.
            tracing::error!("starting the notification transport: {err}");
        }
        true
    }

    async fn detect_then_probe(&self, store: &Store) {
        let policy = store.policy();
        let mut attempt = 0u32;
        let mut last_logged: Option<String> = None;
        while self.chosen.get().is_none() {
            if self.detect(store, &mut last_logged).await {
                break;
            }
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(policy.pause(attempt)).await;
        }
        loop {
            match store.ping().await {
                Ok(()) => self.answered(),
                Err(err) => self.failed(err.to_string()),
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    fn answered(&self) {
        let mut reach = lock(&self.reach);
        if let Some(err) = reach.failing.take() {
            tracing::info!(
                addr = self.address,
                after = ?reach.last_ok.elapsed(),
                "Redis answers again (last error: {err})"
            );
        }
        reach.last_ok = Instant::now();
    }

    fn failed(&self, err: String) {
        lock(&self.reach).failing = Some(err);
    }

    /// Starts `backend`, hands it what waited (in order), and publishes the choice.
    fn choose(&self, backend: Backend) -> Result<(), store::Error> {
        let settings = &self.settings;
        let fanout = Arc::clone(&self.fanout);
        let cancel = self.cancel.clone();
        let chosen = match backend {
            Backend::Streams => Chosen::Streams(StreamsHub::start(settings, fanout, cancel)?),
            Backend::PubSub => Chosen::PubSub(PubSubHub::start(settings, fanout, cancel)?),
        };
        // Under the lock, so a concurrent publish either queued before the drain or
        // sees the transport: order is kept.
        let mut waiting = lock(&self.waiting);
        let queued = waiting.queue.len();
        for (sdk_key, notification) in waiting.queue.drain(..) {
            chosen.publish(&sdk_key, notification);
        }
        // Only the one detection loop or the start-up chooses, once.
        let _ = self.chosen.set(chosen);
        drop(waiting);
        self.decided.send_replace(true);
        tracing::info!(hub = self.readiness().state, "notification hub decided");
        if queued > 0 {
            tracing::info!(queued, "publishing the notifications that waited for Redis");
        }
        Ok(())
    }

    /// Publishes through the chosen transport, or queues until it is chosen. False
    /// (and counted) when the queue is full or the hub stopped undecided.
    pub(super) fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        if let Some(chosen) = self.chosen.get() {
            return chosen.publish(sdk_key, notification);
        }
        let mut waiting = lock(&self.waiting);
        if let Some(chosen) = self.chosen.get() {
            drop(waiting);
            return chosen.publish(sdk_key, notification);
        }
        if waiting.closed || waiting.queue.len() >= self.buffer_size {
            drop(waiting);
            let before = self.dropped.fetch_add(1, Ordering::Relaxed);
            if before == 0 || before.is_power_of_two() {
                tracing::warn!(
                    dropped = before + 1,
                    "notification buffer full ({} waiting for Redis to answer, \
                     synchronization.pubsub.redis.buffer_size): dropping",
                    self.buffer_size
                );
            }
            return false;
        }
        waiting.queue.push_back((sdk_key.to_owned(), notification));
        true
    }

    /// The chosen transport, if it is chosen now.
    pub(super) fn chosen(&self) -> Option<&Chosen> {
        self.chosen.get()
    }

    /// The chosen transport, waiting for the choice up to `connection_timeout`.
    ///
    /// # Errors
    ///
    /// The reason it is not chosen yet (for a 503).
    pub(super) async fn chosen_soon(&self) -> Result<&Chosen, String> {
        let mut decided = self.decided.subscribe();
        let wait = decided.wait_for(|decided| *decided);
        if tokio::time::timeout(self.patience, wait).await.is_err() {
            return Err(self.undecided_reason());
        }
        self.chosen.get().ok_or_else(|| self.undecided_reason())
    }

    fn undecided_reason(&self) -> String {
        let reach = lock(&self.reach);
        let mut reason = format!(
            "notification hub undecided: Redis at {} has not answered INFO yet",
            self.address
        );
        if let Some(err) = &reach.failing {
            reason.push_str(&format!(" ({err})"));
        }
        reason
    }

    /// Whether the hub is decided and Redis reachable (see the module docs).
    pub(super) fn readiness(&self) -> Readiness {
        let Some(chosen) = self.chosen.get() else {
            return Readiness {
                state: "undecided",
                not_ready: Some(self.undecided_reason()),
            };
        };
        let state = match chosen {
            Chosen::Streams(_) => "redis-streams",
            Chosen::PubSub(_) => "redis-pubsub",
        };
        let reach = lock(&self.reach);
        let down_for = reach.last_ok.elapsed();
        let not_ready = match &reach.failing {
            Some(err) if down_for > self.patience => Some(format!(
                "Redis at {} unreachable for {}s (more than connection_timeout {}s): {err}",
                self.address,
                down_for.as_secs(),
                self.patience.as_secs_f64()
            )),
            _ => None,
        };
        Readiness { state, not_ready }
    }

    /// The queue's counters.
    pub(super) fn undecided_stats(&self) -> UndecidedStats {
        UndecidedStats {
            buffered: lock(&self.waiting).queue.len() as u64,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Waits until the detection/probe task and the chosen transport stopped
    /// (after cancel).
    pub(super) async fn finished(&self) {
        self.tasks.wait().await;
        match self.chosen.get() {
            Some(Chosen::Streams(streams)) => streams.finished().await,
            Some(Chosen::PubSub(pubsub)) => pubsub.finished().await,
            None => {}
        }
    }
}

/// Warns now and every [`FALLBACK_WARNING_EVERY`] until `cancel` that the hub runs
/// on Pub/Sub only because Redis would not tell its version (INFO refused or
/// unreadable): a silent downgrade would lose resume and durable groups unnoticed.
/// Not called when Pub/Sub is forced or the server is a genuine Redis < 5.
async fn warn_while_on_fallback(reason: String, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(FALLBACK_WARNING_EVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => tracing::warn!(
                error = %reason,
                "notifications run on Redis Pub/Sub because the Redis version could not be \
                 detected: no resume (Last-Event-ID) and no durable groups; let INFO answer \
                 and restart serve, or set synchronization.notification.default to \
                 redis-streams or redis-pubsub"
            ),
        }
    }
}
