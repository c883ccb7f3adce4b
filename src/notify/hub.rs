//! The [`Hub`]: the one interface the HTTP layer uses to publish and subscribe.
//! `publish` never blocks a request, `subscribe` gives a [`Subscription`] of
//! [`super::Event`]s with ids. The in-memory transport is the single-instance one;
//! the Redis transports (Streams, Pub/Sub) deliver into the same local [`Fanout`],
//! so broadcast, filter and slow-subscriber semantics are the same whatever carries
//! the notifications between instances. Which Redis transport that is, and whether
//! it is ready, is [`RedisHub`]'s business (`detect`).

use std::sync::Arc;

use super::detect::{Chosen, Readiness, RedisHub, UndecidedStats};
use super::fanout::{Fanout, FanoutStats, Subscription, SubscriptionError};
use super::groups::{self, GroupError, GroupRequest, GroupSubscription};
use super::pubsub::PubSubStats;
use super::streams::StreamsStats;
use super::{Filter, Notification};
use crate::store::Backend;

/// Every state [`Hub::name`] can report, for the `hub.state` gauge.
pub const HUB_STATES: [&str; 4] = ["undecided", "redis-streams", "redis-pubsub", "memory"];

/// The hub: how notifications get from the instance that made them to every SSE
/// subscriber of the same SDK key, on this instance and (through Redis) on others.
#[derive(Clone)]
pub struct Hub {
    fanout: Arc<Fanout>,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    /// Single instance, no Redis: publish goes straight into the local fan-out.
    Memory,
    /// Redis: Streams (XADD, one XREAD reader per SDK key, resumable) or Pub/Sub
    /// (PUBLISH, one PSUBSCRIBE connection per instance, no history), once chosen.
    Redis(Arc<RedisHub>),
}

/// Counters of the hub, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HubStats {
    /// The local fan-out.
    pub fanout: FanoutStats,
    /// The Streams transport, when it is the one in use.
    pub streams: Option<StreamsStats>,
    /// The Pub/Sub transport, when it is the one in use.
    pub pubsub: Option<PubSubStats>,
    /// The queue notifications wait in until the Redis transport is chosen.
    pub undecided: UndecidedStats,
}

impl Hub {
    /// An in-memory hub where each subscriber may fall `buffer` notifications behind.
    pub fn memory(buffer: usize) -> Self {
        Hub {
            fanout: Arc::new(Fanout::new(buffer)),
            transport: Transport::Memory,
        }
    }

    /// The hub the settings ask for: in memory unless
    /// `synchronization.notification.enable`; then Redis Streams or Pub/Sub per
    /// `synchronization.notification.default` (`redis` detects the version with
    /// `INFO server`, in the background until Redis answers: see [`RedisHub`]).
    /// Redis being down does not stop start-up.
    pub async fn from_settings(
        settings: &crate::config::Settings,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<Self, HubError> {
        let buffer = settings.api.notification_buffer;
        let sync = &settings.synchronization.notification;
        if !sync.enable {
            return Ok(Self::memory(buffer));
        }
        let redis = &settings.synchronization.pubsub.redis;
        // `config::validate` admits only `redis`, `redis-streams` and `redis-pubsub`.
        let backend = match sync.default.as_str() {
            "redis-streams" => Some(Backend::Streams),
            "redis-pubsub" => Some(Backend::PubSub),
            // Detected in the background: Redis may not be up yet.
            _ => None,
        };
        let fanout = Arc::new(Fanout::new(buffer));
        let redis = RedisHub::start(redis, backend, Arc::clone(&fanout), cancel).await?;
        Ok(Hub {
            fanout,
            transport: Transport::Redis(redis),
        })
    }

    /// Publishes one notification for `sdk_key`. Never blocks; false when it had to
    /// be dropped (buffer full).
    pub fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        match &self.transport {
            Transport::Memory => {
                self.fanout.publish_local(sdk_key, notification);
                true
            }
            // With Pub/Sub, local subscribers get it back through the subscription,
            // like everyone.
            Transport::Redis(redis) => redis.publish(sdk_key, notification),
        }
    }

    /// Subscribes to `sdk_key`'s notifications that pass `filter`. With `last_event_id`,
    /// first replays what was published after that id.
    pub async fn subscribe(
        &self,
        sdk_key: &str,
        filter: Filter,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscriptionError> {
        match &self.transport {
            Transport::Memory => self.fanout.subscribe(sdk_key, filter, last_event_id),
            Transport::Redis(redis) => match redis
                .chosen_soon()
                .await
                .map_err(SubscriptionError::Unavailable)?
            {
                Chosen::Streams(streams) => streams.subscribe(sdk_key, filter, last_event_id).await,
                Chosen::PubSub(_) => match last_event_id.map(str::trim) {
                    None | Some("") => self.fanout.subscribe(sdk_key, filter, None),
                    Some(_) => Err(SubscriptionError::NoHistory),
                },
            },
        }
    }

    /// Makes the caller a consumer of the durable consumer group `request.group` on
    /// `sdk_key`'s stream (DESIGN §3.3): the group is created if missing, and the
    /// subscription reads (own pending, then claimed, then new entries) on its own
    /// Redis connection; see [`GroupSubscription`].
    ///
    /// # Errors
    ///
    /// [`GroupError::NeedsStreams`] on any hub but Redis Streams, a bad-request
    /// [`GroupError`] for invalid names or `from`, [`GroupError::Unavailable`] when
    /// Redis cannot create the group.
    pub async fn subscribe_group(
        &self,
        sdk_key: &str,
        filter: Filter,
        request: GroupRequest,
    ) -> Result<GroupSubscription, GroupError> {
        let Transport::Redis(redis) = &self.transport else {
            return Err(GroupError::NeedsStreams);
        };
        let chosen = redis
            .chosen_soon()
            .await
            .map_err(|reason| GroupError::Unavailable {
                group: request.group.clone(),
                reason,
            })?;
        let Chosen::Streams(streams) = chosen else {
            return Err(GroupError::NeedsStreams);
        };
        groups::subscribe(
            &streams.settings,
            &streams.groups,
            &streams.connector,
            sdk_key,
            filter,
            request,
        )
        .await
    }

    /// Counters of the hub.
    pub fn stats(&self) -> HubStats {
        let mut stats = HubStats {
            fanout: self.fanout.stats(),
            ..HubStats::default()
        };
        if let Transport::Redis(redis) = &self.transport {
            stats.undecided = redis.undecided_stats();
            match redis.chosen() {
                Some(Chosen::Streams(streams)) => stats.streams = Some(streams.stats()),
                Some(Chosen::PubSub(pubsub)) => stats.pubsub = Some(pubsub.stats()),
                None => {}
            }
        }
        stats
    }

    /// Whether the hub can carry notifications now: always for the in-memory hub;
    /// for Redis once the transport is chosen and while Redis has not been
    /// unreachable for longer than `connection_timeout` (for `/ready`).
    pub fn readiness(&self) -> Readiness {
        match &self.transport {
            Transport::Memory => Readiness {
                state: "memory",
                not_ready: None,
            },
            Transport::Redis(redis) => redis.readiness(),
        }
    }

    /// Waits until the transport flushed and stopped (after the cancel token given
    /// at start fired).
    pub async fn finished(&self) {
        match &self.transport {
            Transport::Redis(redis) => redis.finished().await,
            Transport::Memory => {}
        }
    }

    /// A short name for logs and `/info`: `memory`, `redis-streams`, `redis-pubsub`,
    /// or `undecided` while the Redis transport is not chosen yet.
    pub fn name(&self) -> &'static str {
        self.readiness().state
    }
}

/// Why the hub could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The Redis settings cannot name a server.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}
