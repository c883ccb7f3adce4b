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
//!
//! Files: `notification` (the model), `hub` (the [`Hub`]), `detect` (choosing the
//! Redis transport when Redis answers, buffering until then, readiness), `fanout` (local delivery), `streams`/`groups`/`pubsub` (the Redis
//! transports), `outbox` (their batching publisher), `validate` (the bounds every
//! envelope read from Redis must meet before it reaches a subscriber). Kind names, filters and the
//! envelope format are the wire's ([`crate::wire`]), re-exported here.

mod detect;
mod fanout;
mod groups;
mod hub;
mod notification;
mod outbox;
pub mod pubsub;
mod streams;
mod validate;

use std::collections::HashSet;
use std::sync::Mutex;

pub use detect::{Readiness, UndecidedStats};
pub use fanout::{
    Fanout, FanoutStats, History, Missed, ResumeError, Subscription, SubscriptionError, Window,
};
pub use groups::{GroupError, GroupRequest, GroupStats, GroupSubscription};
pub use hub::{HUB_STATES, Hub, HubError, HubStats};
pub use notification::{Event, Notification};
pub use outbox::PublisherStats;
pub use pubsub::{PubSubHub, PubSubStats};
pub use streams::{StreamsHub, StreamsStats};

use crate::util::lock;
pub use crate::wire::{EnvelopeError, Filter, Kind, UnknownKind};

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
