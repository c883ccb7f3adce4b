//! The [`Hub`]: the one interface the HTTP layer uses to publish and subscribe.
//! `publish` never blocks a request, `subscribe` gives a [`Subscription`] of
//! [`super::Event`]s with ids. The in-memory transport is the single-instance one;
//! the Redis transports (Streams, Pub/Sub) deliver into the same local [`Fanout`],
//! so broadcast, filter and slow-subscriber semantics are the same whatever carries
//! the notifications between instances.

use std::sync::Arc;

use super::fanout::{Fanout, FanoutStats, Subscription, SubscriptionError};
use super::groups::{self, GroupError, GroupRequest, GroupSubscription};
use super::pubsub::{PubSubHub, PubSubStats};
use super::streams::{StreamsHub, StreamsStats};
use super::{Filter, Notification};
use crate::store::{Backend, choose_backend};

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
    /// Redis Streams: XADD, one XREAD reader per SDK key, resumable.
    Streams(Arc<StreamsHub>),
    /// Redis Pub/Sub: PUBLISH, one PSUBSCRIBE connection per instance, no history.
    PubSub(Arc<PubSubHub>),
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
    /// `INFO server`). Redis being down does not stop start-up.
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
            "redis-streams" => Backend::Streams,
            "redis-pubsub" => Backend::PubSub,
            _ => {
                let store = crate::store::Connector::from_settings(redis)?.store();
                choose_backend(store.version().await)
            }
        };
        let fanout = Arc::new(Fanout::new(buffer));
        let transport = match backend {
            Backend::Streams => {
                Transport::Streams(StreamsHub::start(redis, Arc::clone(&fanout), cancel)?)
            }
            Backend::PubSub => {
                Transport::PubSub(PubSubHub::start(redis, Arc::clone(&fanout), cancel)?)
            }
        };
        Ok(Hub { fanout, transport })
    }

    /// Publishes one notification for `sdk_key`. Never blocks; false when it had to
    /// be dropped (buffer full).
    pub fn publish(&self, sdk_key: &str, notification: Notification) -> bool {
        match &self.transport {
            Transport::Memory => {
                self.fanout.publish_local(sdk_key, notification);
                true
            }
            Transport::Streams(streams) => streams.publish(sdk_key, notification),
            // Local subscribers get it back through the subscription, like everyone.
            Transport::PubSub(pubsub) => pubsub.publish(sdk_key, notification),
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
            Transport::Streams(streams) => streams.subscribe(sdk_key, filter, last_event_id).await,
            Transport::PubSub(_) => match last_event_id.map(str::trim) {
                None | Some("") => self.fanout.subscribe(sdk_key, filter, None),
                Some(_) => Err(SubscriptionError::NoHistory),
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
        let Transport::Streams(streams) = &self.transport else {
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
        HubStats {
            fanout: self.fanout.stats(),
            streams: match &self.transport {
                Transport::Streams(streams) => Some(streams.stats()),
                _ => None,
            },
            pubsub: match &self.transport {
                Transport::PubSub(pubsub) => Some(pubsub.stats()),
                _ => None,
            },
        }
    }

    /// Waits until the transport flushed and stopped (after the cancel token given
    /// at start fired).
    pub async fn finished(&self) {
        match &self.transport {
            Transport::Streams(streams) => streams.finished().await,
            Transport::PubSub(pubsub) => pubsub.finished().await,
            Transport::Memory => {}
        }
    }

    /// A short name for logs and `/info`: `memory`, `redis-streams`, `redis-pubsub`.
    pub fn name(&self) -> &'static str {
        match &self.transport {
            Transport::Memory => "memory",
            Transport::Streams(_) => "redis-streams",
            Transport::PubSub(_) => "redis-pubsub",
        }
    }
}

/// Why the hub could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The Redis settings cannot name a server.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}
