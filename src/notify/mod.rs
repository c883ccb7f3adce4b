//! Notifications and the hub that carries them to SSE subscribers.
//!
//! A [`Notification`] is what a decide/activate/track call or a datafile change
//! emits: a [`Kind`] and the JSON `message` object upstream's Agent streams. The
//! message is serialised once, when it is published, and shared by every subscriber.
//!
//! The [`Hub`] is the one interface the HTTP layer uses: `publish` never blocks a
//! request, `subscribe` gives a [`Subscription`] that yields [`Event`]s with ids. The
//! in-memory hub is the single-instance implementation; the Redis hubs deliver into
//! the same local [`Fanout`], so broadcast, filter and slow-subscriber semantics are
//! the same whatever carries the notifications between instances.

mod fanout;
mod groups;
mod outbox;
pub mod pubsub;
mod streams;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use fanout::{Fanout, FanoutStats, ResumeError, Subscription, SubscriptionError};
pub use groups::{GroupError, GroupRequest, GroupStats, GroupSubscription};
pub use outbox::PublisherStats;
pub use pubsub::{PubSubHub, PubSubStats};
pub use streams::{StreamsHub, StreamsStats};

use crate::store::{Backend, choose_backend};
use crate::util::lock;

/// Streams or channels remembered by [`LogOnce`]; bounds the memory someone writing
/// garbage under many keys could make us use (past it, nothing more is logged).
const MAX_LOGGED: usize = 10_000;

/// Remembers which streams or channels already had bad data logged, so each is
/// logged once and the rest only counted.
#[derive(Debug, Default)]
pub(crate) struct LogOnce(Mutex<HashSet<String>>);

impl LogOnce {
    /// True the first time `key` is seen (and while fewer than 10,000 keys were).
    pub(crate) fn first(&self, key: &str) -> bool {
        let mut seen = lock(&self.0);
        seen.len() < MAX_LOGGED && !seen.contains(key) && seen.insert(key.to_owned())
    }
}

/// The kind of a notification, as named on the wire (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A flag decision (decide, activate).
    Decision,
    /// A conversion event (track).
    Track,
    /// A datafile with a new revision replaced the old one.
    DatafileUpdate,
}

impl Kind {
    /// Every kind, in the order they are listed to users.
    pub const ALL: [Kind; 3] = [Kind::Decision, Kind::Track, Kind::DatafileUpdate];

    /// The wire name: `decision`, `track` or `datafile-update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Decision => "decision",
            Kind::Track => "track",
            Kind::DatafileUpdate => "datafile-update",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Kind::Decision => 1,
            Kind::Track => 2,
            Kind::DatafileUpdate => 4,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a notification type name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification type {0:?}: expected one of decision, track, datafile-update")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Accepts the wire names and upstream's `project_config_update` (an alias of
    /// `datafile-update`, which upstream Agents write).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "decision" => Ok(Kind::Decision),
            "track" => Ok(Kind::Track),
            "datafile-update" | "project_config_update" => Ok(Kind::DatafileUpdate),
            other => Err(UnknownKind(other.to_owned())),
        }
    }
}

/// A set of notification kinds a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter(u8);

impl Filter {
    /// Every kind (what no `filter` parameter means).
    pub const ALL: Filter = Filter(7);

    /// Builds a filter from `filter` query values, each of which may be a comma list.
    /// No names (or only empty ones) means every kind.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Filter, UnknownKind> {
        let mut bits = 0;
        for value in values {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                bits |= name.parse::<Kind>()?.bit();
            }
        }
        Ok(if bits == 0 { Filter::ALL } else { Filter(bits) })
    }

    /// Whether this filter lets `kind` through.
    pub fn allows(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// One notification, ready to be published: its kind and its serialised `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// What kind of notification this is.
    pub kind: Kind,
    /// The JSON `message` object, serialised once.
    pub message: Arc<str>,
}

impl Notification {
    /// Serialises `message` (anything `Serialize`, usually the engine's payload).
    pub fn new(kind: Kind, message: &impl Serialize) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_string(message)?;
        Ok(Notification {
            kind,
            message: text.into(),
        })
    }

    /// The datafile-update message the seeds specify:
    /// `{"Type":"datafile-update","Revision":…,"ProjectId":…}`.
    pub fn datafile_update(revision: &str, project_id: &str) -> Self {
        #[derive(Serialize)]
        struct Message<'a> {
            #[serde(rename = "Type")]
            kind: &'static str,
            #[serde(rename = "Revision")]
            revision: &'a str,
            #[serde(rename = "ProjectId")]
            project_id: &'a str,
        }
        let message = Message {
            kind: Kind::DatafileUpdate.as_str(),
            revision,
            project_id,
        };
        // Serialising a struct of strings cannot fail.
        let text = serde_json::to_string(&message).unwrap_or_default();
        Notification {
            kind: Kind::DatafileUpdate,
            message: text.into(),
        }
    }

    /// Reads an envelope written by any instance, upstream Agents included:
    /// `{"type":"<kind>","message":{…}}`, where upstream's `project_config_update`
    /// means `datafile-update`. The message is kept as the exact JSON text it was.
    pub fn from_envelope(text: &str) -> Result<Self, EnvelopeError> {
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            message: &'a serde_json::value::RawValue,
        }
        let envelope: Envelope<'_> =
            serde_json::from_str(text).map_err(|e| EnvelopeError(e.to_string()))?;
        let kind: Kind = envelope
            .kind
            .parse()
            .map_err(|e: UnknownKind| EnvelopeError(e.to_string()))?;
        Ok(Notification {
            kind,
            message: envelope.message.get().into(),
        })
    }

    /// The envelope stored in Redis and carried over Pub/Sub:
    /// `{"type":"<kind>","message":{…}}`.
    pub fn envelope(&self) -> String {
        format!(
            "{{\"type\":\"{}\",\"message\":{}}}",
            self.kind.as_str(),
            self.message
        )
    }
}

/// Why a stored or received envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a notification envelope: {0}")]
pub struct EnvelopeError(pub String);

/// A notification as delivered to a subscriber: with the id it is resumable from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event id (`<ms>-<seq>`, a Redis stream entry id or the in-memory hub's own).
    pub id: String,
    /// The notification.
    pub notification: Notification,
}

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
        let backend = match sync.default.to_ascii_lowercase().as_str() {
            "redis-streams" => Backend::Streams,
            "redis-pubsub" => Backend::PubSub,
            "redis" | "" => {
                let store = crate::store::Connector::from_settings(redis)?.store();
                choose_backend(store.version().await)
            }
            other => {
                return Err(HubError::Settings(format!(
                    "synchronization.notification.default {other:?}: expected \"redis\", \
                     \"redis-streams\" or \"redis-pubsub\""
                )));
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
    /// A setting has a value the hub cannot use.
    #[error("{0}")]
    Settings(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parses_lists_aliases_and_rejects_unknown_names() {
        let f = Filter::parse(["decision,track"]).unwrap();
        assert!(f.allows(Kind::Decision) && f.allows(Kind::Track));
        assert!(!f.allows(Kind::DatafileUpdate));
        let f = Filter::parse(["project_config_update"]).unwrap();
        assert!(f.allows(Kind::DatafileUpdate) && !f.allows(Kind::Decision));
        assert_eq!(Filter::parse([]).unwrap(), Filter::ALL);
        assert_eq!(Filter::parse([""]).unwrap(), Filter::ALL);
        let err = Filter::parse(["decision", "nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown notification type \"nope\": expected one of decision, track, datafile-update"
        );
    }

    #[test]
    fn envelopes_round_trip_and_upstream_names_are_read() {
        let n = Notification {
            kind: Kind::Track,
            message: r#"{"EventKey":"e"}"#.into(),
        };
        assert_eq!(Notification::from_envelope(&n.envelope()).unwrap(), n);
        let upstream = r#"{"type":"project_config_update","message":{"Type":"project_config_update","Revision":"7"}}"#;
        let read = Notification::from_envelope(upstream).unwrap();
        assert_eq!(read.kind, Kind::DatafileUpdate);
        assert_eq!(
            &*read.message,
            r#"{"Type":"project_config_update","Revision":"7"}"#
        );
        assert!(Notification::from_envelope("{\"type\":\"decision\"}").is_err());
        assert!(Notification::from_envelope("{\"type\":\"nope\",\"message\":{}}").is_err());
        assert!(Notification::from_envelope("garbage").is_err());
    }

    #[test]
    fn envelope_and_datafile_update_shapes() {
        let n = Notification::datafile_update("42", "123456789");
        assert_eq!(
            &*n.message,
            r#"{"Type":"datafile-update","Revision":"42","ProjectId":"123456789"}"#
        );
        assert_eq!(
            n.envelope(),
            r#"{"type":"datafile-update","message":{"Type":"datafile-update","Revision":"42","ProjectId":"123456789"}}"#
        );
    }
}
