//! The local fan-out: every subscriber of an SDK key on this instance receives every
//! notification for that key that passes its filter.
//!
//! One `tokio::sync::broadcast` channel per SDK key: publishing never waits for a
//! subscriber. A subscriber may fall up to the *lag allowance* behind (`buffer`,
//! raised by [`Fanout::allow_lag`] for a transport that drains a backlog at once).
//! Past it, a subscription with a [`History`] (the Streams hub: every event is a
//! stream entry) reads what it missed from there and then rejoins the live feed
//! exactly where the channel still holds events, so nothing is lost or repeated;
//! one without is told so ([`SubscriptionError::Overflow`]) instead of slowing the
//! others, and the SSE handler disconnects it. Each channel also keeps the last
//! `buffer` events so a client reconnecting with `Last-Event-ID` resumes without a
//! gap or a duplicate: history and live channel are updated under one lock, so the
//! replay and the live feed meet exactly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

use super::{Event, Filter, Notification};
use crate::store::StreamId;
use crate::util::{FastMap, lock, now_ms, read, write};

/// Counters of one fan-out, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanoutStats {
    /// Notifications published into the fan-out.
    pub published: u64,
    /// Events handed to subscribers (after filtering).
    pub delivered: u64,
    /// Subscribers disconnected because they fell too far behind.
    pub overflowed: u64,
    /// Times a subscriber fell behind the live feed and caught up from the
    /// [`History`] instead of being disconnected.
    pub catch_ups: u64,
    /// Events read back from the [`History`] by catching-up subscribers.
    pub caught_up: u64,
    /// Subscribers connected now.
    pub subscribers: u64,
}

/// Why a subscription could not be made or cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// `Last-Event-ID` is not an event id.
    #[error(transparent)]
    BadLastEventId(#[from] ResumeError),
    /// Resuming was asked of a transport that keeps no history (Pub/Sub).
    #[error(
        "Last-Event-ID cannot be honoured: notifications travel over Redis Pub/Sub, which keeps \
         no history (resuming needs the Redis Streams hub, Redis >= 5)"
    )]
    NoHistory,
    /// The hub's store could not be read to replay what the client missed.
    #[error("notifications to resume from are unavailable: {0}")]
    Unavailable(String),
    /// The subscriber fell more than the buffer behind; `missed` events were lost to it.
    #[error("subscriber fell behind by more than the buffer ({missed} notifications missed)")]
    Overflow {
        /// How many events the subscriber missed.
        missed: u64,
    },
    /// Events after `after` that the subscriber may have been given are no longer
    /// in Redis (a fail-over lost them, see [`Fanout::rolled_back`]). Not an end:
    /// the subscription goes on with the events that follow.
    #[error("notifications after {after} were lost by Redis in a fail-over")]
    Reset {
        /// The newest id still in Redis at or before the last event delivered.
        after: StreamId,
    },
}

/// A `Last-Event-ID` that cannot be resumed from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Last-Event-ID {id:?}: expected an event id like 1700000000000-0")]
pub struct ResumeError {
    /// The id as the client sent it.
    pub id: String,
}

/// Reads a `Last-Event-ID`: absent or blank means "no resume".
pub(crate) fn parse_last_event_id(text: Option<&str>) -> Result<Option<StreamId>, ResumeError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse::<StreamId>().map(Some).map_err(|_| ResumeError {
            id: text.to_owned(),
        }),
    }
}

/// What a subscriber that fell behind the live feed missed, read from where every
/// event is kept (the Streams hub's stream).
pub trait History: Send + Sync {
    /// Events of `sdk_key` after `after` and before `before`, oldest first, one page
    /// at a time. `first` is the first page of a catch-up: the history then also
    /// says whether events after `after` are gone.
    ///
    /// # Errors
    ///
    /// [`SubscriptionError::Unavailable`] when the history cannot be read.
    fn missed<'a>(
        &'a self,
        sdk_key: &'a str,
        after: StreamId,
        before: StreamId,
        first: bool,
    ) -> BoxFuture<'a, Result<Missed, SubscriptionError>>;
}

/// One page of a [`History`].
#[derive(Default)]
pub struct Missed {
    /// The events of the page that are notifications (others are skipped).
    pub events: Vec<Arc<Event>>,
    /// The id of the last entry read; `None` when nothing is left before `before`.
    pub read_through: Option<StreamId>,
    /// Events after `after` were trimmed away (asked on the first page only).
    pub trimmed: bool,
}

/// The per-SDK-key fan-out of one instance.
pub struct Fanout {
    buffer: usize,
    /// Capacity of channels created from now on: how far a subscriber may fall behind.
    lag: AtomicUsize,
    /// Read-mostly: a key's channel is created once, then only looked up.
    channels: RwLock<FastMap<String, Arc<Channel>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    overflowed: AtomicU64,
    catch_ups: AtomicU64,
    caught_up: AtomicU64,
    subscribers: AtomicU64,
}

struct Channel {
    state: Mutex<ChannelState>,
}

/// What a key's live channel carries.
#[derive(Clone)]
enum Live {
    /// A notification, with its id.
    Event(StreamId, Arc<Event>),
    /// The events delivered after this id are gone from Redis
    /// ([`Fanout::rolled_back`]).
    Reset(StreamId),
}

struct ChannelState {
    /// Each event with its id, parsed once here rather than by every subscriber
    /// (and resets).
    live: broadcast::Sender<Live>,
    history: VecDeque<(StreamId, Arc<Event>)>,
    /// Id of the newest event dropped from `history` (`0-0` when none was).
    evicted_through: StreamId,
    /// Id of the newest event published here (for assigning the next one).
    last_id: StreamId,
    /// For a channel fed by a hub's reader: `history` holds every event after this
    /// id up to `last_id` (the resume window). `None`: no such promise.
    complete_after: Option<StreamId>,
}

/// What the in-memory window of an SDK key holds after a resume point.
#[derive(Debug)]
pub enum Window {
    /// Every event after the point up to the position asked for, oldest first.
    Covered(Vec<Arc<Event>>),
    /// The window starts after this id, which is newer than the point: the events
    /// up to it must be read elsewhere (the stream) first.
    StartsAfter(StreamId),
    /// The window cannot tell (no reader feeds it, or the point is newer than
    /// everything delivered).
    Unknown,
}

impl Fanout {
    /// A fan-out where a subscriber may fall `buffer` events behind (at least 1), and
    /// which keeps the last `buffer` events of each SDK key for resuming.
    pub fn new(buffer: usize) -> Self {
        Fanout {
            buffer: buffer.max(1),
            lag: AtomicUsize::new(buffer.max(1)),
            channels: RwLock::new(FastMap::default()),
            counters: Arc::default(),
        }
    }

    /// Lets subscribers fall up to `lag` events behind (never less than the
    /// `buffer` given at creation) on channels created from now on: a transport
    /// without history calls it before delivering anything, sized from the most it
    /// can drain at once after an outage. The kept `Last-Event-ID` history stays
    /// `buffer` long.
    pub fn allow_lag(&self, lag: usize) {
        self.lag.store(lag.max(self.buffer), Ordering::Relaxed);
    }

    fn channel(&self, sdk_key: &str) -> Arc<Channel> {
        if let Some(channel) = read(&self.channels).get(sdk_key) {
            return Arc::clone(channel);
        }
        let mut channels = write(&self.channels);
        if let Some(channel) = channels.get(sdk_key) {
            return Arc::clone(channel);
        }
        let (live, _) = broadcast::channel(self.lag.load(Ordering::Relaxed));
        let channel = Arc::new(Channel {
            state: Mutex::new(ChannelState {
                live,
                history: VecDeque::new(),
                evicted_through: StreamId::ZERO,
                last_id: StreamId::ZERO,
                complete_after: None,
            }),
        });
        channels.insert(sdk_key.to_owned(), Arc::clone(&channel));
        channel
    }

    /// Publishes a notification made on this instance, giving it the next id
    /// (`<unix ms>-<seq>`, increasing even if the clock steps back). Returns the id.
    pub fn publish_local(&self, sdk_key: &str, notification: Notification) -> StreamId {
        let channel = self.channel(sdk_key);
        let mut state = lock(&channel.state);
        let now = now_ms();
        let id = if now > state.last_id.ms {
            StreamId::new(now, 0)
        } else {
            state.last_id.successor().unwrap_or(state.last_id)
        };
        self.push(&mut state, id, notification);
        id
    }

    /// Delivers an event that already has an id (read from Redis) to local
    /// subscribers. On a channel fed by a hub's reader, an id not newer than the
    /// last one delivered (a stopped reader's last read racing its successor) is
    /// dropped: it was delivered already or precedes the reader's start.
    pub fn deliver(&self, sdk_key: &str, id: StreamId, notification: Notification) {
        let channel = self.channel(sdk_key);
        let mut state = lock(&channel.state);
        if state.complete_after.is_some() && id <= state.last_id {
            return;
        }
        self.push(&mut state, id, notification);
    }

    fn push(&self, state: &mut ChannelState, id: StreamId, notification: Notification) {
        let event = Arc::new(Event::new(id.to_text(), notification));
        state.last_id = state.last_id.max(id);
        if state.history.len() >= self.buffer
            && let Some((old, _)) = state.history.pop_front()
        {
            state.evicted_through = old;
            state.complete_after = state.complete_after.map(|after| after.max(old));
        }
        state.history.push_back((id, Arc::clone(&event)));
        // An error only means nobody is subscribed right now.
        let _ = state.live.send(Live::Event(id, event));
        self.counters.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Subscribes to `sdk_key`. With `last_event_id`, the subscription first yields
    /// the retained events after that id. An id older than everything retained starts
    /// from the oldest retained event ([`Subscription::gap`] is then true); an id newer
    /// than everything published starts with live events.
    pub fn subscribe(
        &self,
        sdk_key: &str,
        filter: Filter,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, SubscriptionError> {
        let after = parse_last_event_id(last_event_id)?;
        let channel = self.channel(sdk_key);
        let state = lock(&channel.state);
        let live = state.live.subscribe();
        let (replay, gap) = match after {
            None => (VecDeque::new(), false),
            Some(after) => (
                state
                    .history
                    .iter()
                    .filter(|(id, _)| *id > after)
                    .map(|(_, event)| Arc::clone(event))
                    .collect(),
                after < state.evicted_through,
            ),
        };
        drop(state);
        self.counters.subscribers.fetch_add(1, Ordering::Relaxed);
        let caught_up = after.map(|after| {
            replay
                .back()
                .map_or_else(|| after.to_string(), |e: &Arc<Event>| e.id.clone())
        });
        Ok(Subscription {
            live,
            replay,
            filter,
            gap,
            counters: Arc::clone(&self.counters),
            skip_through: None,
            caught_up,
            resume_point: None,
            catch_up: None,
            _guard: None,
        })
    }

    /// Subscribes to live events of `sdk_key` and returns, atomically with it, the
    /// id of the newest event delivered so far: every live event the subscription
    /// yields is newer. A hub replays from its own store up to that id
    /// ([`Subscription::resume_with`]).
    pub fn subscribe_at(&self, sdk_key: &str, filter: Filter) -> (Subscription, StreamId) {
        let channel = self.channel(sdk_key);
        let state = lock(&channel.state);
        let live = state.live.subscribe();
        let position = state.last_id;
        drop(state);
        self.counters.subscribers.fetch_add(1, Ordering::Relaxed);
        let subscription = Subscription {
            live,
            replay: VecDeque::new(),
            filter,
            gap: false,
            counters: Arc::clone(&self.counters),
            skip_through: None,
            caught_up: None,
            resume_point: None,
            catch_up: None,
            _guard: None,
        };
        (subscription, position)
    }

    /// Sets where a key's delivered ids start (a hub's reader starting after the
    /// stream's current last entry), unless events were delivered already. The
    /// resume window then holds every event delivered after `id`; it keeps what it
    /// held only when the reader restarts exactly where the last one stopped.
    pub fn set_position(&self, sdk_key: &str, id: StreamId) {
        let channel = self.channel(sdk_key);
        let mut state = lock(&channel.state);
        state.complete_after = match state.complete_after {
            Some(after) if id == state.last_id => Some(after),
            _ if id >= state.last_id => Some(id),
            // Events newer than the reader's start were delivered (a stopping
            // reader's last read): what the window holds is not one run.
            _ => None,
        };
        state.last_id = state.last_id.max(id);
    }

    /// A hub's reader found that the events it delivered after `kept` are no
    /// longer in Redis (a fail-over to a replica that had not received them): they
    /// leave the resume window, ids after `kept` are delivered again, and every
    /// live subscriber gets [`SubscriptionError::Reset`] before what follows.
    pub fn rolled_back(&self, sdk_key: &str, kept: StreamId) {
        let channel = self.channel(sdk_key);
        let mut state = lock(&channel.state);
        state.history.retain(|(id, _)| *id <= kept);
        state.last_id = state.last_id.min(kept);
        state.evicted_through = state.evicted_through.min(kept);
        state.complete_after = state.complete_after.map(|after| after.min(kept));
        // An error only means nobody is subscribed right now.
        let _ = state.live.send(Live::Reset(kept));
    }

    /// The events of `sdk_key` after `after` up to `through` from the resume window
    /// (the last `buffer` events a hub's reader delivered), when it holds them all.
    pub fn window(&self, sdk_key: &str, after: StreamId, through: StreamId) -> Window {
        let channel = self.channel(sdk_key);
        let state = lock(&channel.state);
        match state.complete_after {
            Some(start) if after < start => Window::StartsAfter(start),
            Some(_) if after <= state.last_id => Window::Covered(
                state
                    .history
                    .iter()
                    .filter(|(id, _)| *id > after && *id <= through)
                    .map(|(_, event)| Arc::clone(event))
                    .collect(),
            ),
            _ => Window::Unknown,
        }
    }

    /// Extends the resume window back to `after` with `events` (every event after
    /// `after` up to where the window starts, read from the stream), if the window
    /// still starts at `start` and has room for them. True when it did.
    pub fn backfill(
        &self,
        sdk_key: &str,
        after: StreamId,
        start: StreamId,
        events: &[Arc<Event>],
    ) -> bool {
        let channel = self.channel(sdk_key);
        let mut state = lock(&channel.state);
        if state.complete_after != Some(start) || state.history.len() + events.len() > self.buffer {
            return false;
        }
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            match event.id.parse::<StreamId>() {
                Ok(id) if id > after && id <= start => ids.push(id),
                _ => return false,
            }
        }
        for (id, event) in ids.into_iter().zip(events).rev() {
            state.history.push_front((id, Arc::clone(event)));
        }
        state.complete_after = Some(after);
        true
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FanoutStats {
        let c = &self.counters;
        FanoutStats {
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            overflowed: c.overflowed.load(Ordering::Relaxed),
            catch_ups: c.catch_ups.load(Ordering::Relaxed),
            caught_up: c.caught_up.load(Ordering::Relaxed),
            subscribers: c.subscribers.load(Ordering::Relaxed),
        }
    }
}

/// One subscriber's view of an SDK key's notifications.
pub struct Subscription {
    live: broadcast::Receiver<Live>,
    replay: VecDeque<Arc<Event>>,
    filter: Filter,
    gap: bool,
    counters: Arc<Counters>,
    /// Live events up to this id were already replayed (or seen by the client).
    skip_through: Option<StreamId>,
    /// Set when a replay was asked for: the id of the last replayed event (or the
    /// resume point), reported once the replay is exhausted.
    caught_up: Option<String>,
    /// Set on a fresh subscription to a hub with history: the id every event it
    /// yields follows, for a client to resume from before it saw an event.
    resume_point: Option<String>,
    /// Where to catch up from after falling behind the live feed (Streams hub).
    catch_up: Option<CatchUp>,
    /// Kept alive as long as the subscription (a hub's per-key reader guard).
    _guard: Option<Box<dyn Send + Sync>>,
}

/// A subscription's way back after falling behind the live feed.
struct CatchUp {
    history: Arc<dyn History>,
    sdk_key: String,
    /// The id of the newest event taken from the replay or the live feed, whether
    /// the filter let it through or not: what the subscriber has seen.
    seen: StreamId,
    lag: Lag,
}

/// Where a catch-up stands.
enum Lag {
    /// Following the live feed.
    Live,
    /// The live feed overflowed by `missed`; the next live event (the oldest the
    /// channel still holds) is where the subscriber rejoins it.
    Lagged { missed: u64 },
    /// Reading the events after `through` and before `rejoin` from the history.
    Reading {
        rejoin: Arc<Event>,
        rejoin_id: StreamId,
        through: StreamId,
        first: bool,
        missed: u64,
    },
}

impl Subscription {
    /// Turns a live subscription into a resumed one: `replay` (events after
    /// `after`, oldest first) comes first; live events not newer than the client's
    /// resume point or the last replayed event are skipped; `gap` says events
    /// between `after` and the first replayed one are gone.
    pub fn resume_with(mut self, after: StreamId, replay: Vec<Arc<Event>>, gap: bool) -> Self {
        let last = replay
            .last()
            .and_then(|e| e.id.parse::<StreamId>().ok())
            .map_or(after, |last| last.max(after));
        self.caught_up = Some(last.to_string());
        self.skip_through = Some(last);
        self.replay = replay.into();
        self.gap = gap;
        self
    }

    /// Marks a fresh (not resumed) subscription as starting after `position`: every
    /// event it yields is newer, so a client that reconnects with `position` as its
    /// `Last-Event-ID` misses nothing even if it saw no event yet.
    pub fn starting_after(mut self, position: StreamId) -> Self {
        self.resume_point = Some(position.to_string());
        self
    }

    /// Once: the position set by [`Subscription::starting_after`].
    pub fn take_resume_point(&mut self) -> Option<String> {
        self.resume_point.take()
    }

    /// Keeps `guard` alive as long as this subscription (e.g. to stop a hub's reader
    /// after the last subscriber of a key leaves).
    pub fn with_guard(mut self, guard: Box<dyn Send + Sync>) -> Self {
        self._guard = Some(guard);
        self
    }

    /// Lets this subscription catch up from `history` when it falls behind the live
    /// feed, instead of failing with [`SubscriptionError::Overflow`]. `position` is
    /// where its live feed starts (from [`Fanout::subscribe_at`]). Call it after
    /// [`Subscription::resume_with`].
    pub fn with_history(
        mut self,
        history: Arc<dyn History>,
        sdk_key: &str,
        position: StreamId,
    ) -> Self {
        let seen = self
            .skip_through
            .map_or(position, |skip| skip.max(position));
        self.catch_up = Some(CatchUp {
            history,
            sdk_key: sdk_key.to_owned(),
            seen,
            lag: Lag::Live,
        });
        self
    }

    /// Once, after a requested replay has been fully yielded: the id of the last
    /// event replayed (or the resume point when there was nothing to replay).
    pub fn take_caught_up(&mut self) -> Option<String> {
        if self.replay.is_empty() {
            self.caught_up.take()
        } else {
            None
        }
    }

    fn fresh(&self, id: StreamId) -> bool {
        self.skip_through.is_none_or(|through| id > through)
    }

    /// True when the requested resume point was older than everything retained, so
    /// events between it and the oldest retained one are not replayed.
    pub fn gap(&self) -> bool {
        self.gap
    }

    /// Remembers that the subscriber has seen event `id` (for a later catch-up).
    fn saw(&mut self, id: StreamId) {
        if let Some(catch_up) = &mut self.catch_up {
            catch_up.seen = catch_up.seen.max(id);
        }
    }

    /// The next replayed (or caught-up) event that passes the filter.
    fn next_replayed(&mut self) -> Option<Arc<Event>> {
        while let Some(event) = self.replay.pop_front() {
            if let Ok(id) = event.id.parse() {
                self.saw(id);
            }
            if self.filter.allows(event.notification.kind) {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                return Some(event);
            }
        }
        None
    }

    /// A live event, if it passes the filter and was not replayed already; a reset
    /// as [`SubscriptionError::Reset`], after which ids after its point count as
    /// new again.
    fn take_live(&mut self, live: Live) -> Option<Result<Arc<Event>, SubscriptionError>> {
        let (id, event) = match live {
            Live::Event(id, event) => (id, event),
            Live::Reset(after) => {
                self.skip_through = self.skip_through.map(|skip| skip.min(after));
                if let Some(catch_up) = &mut self.catch_up {
                    catch_up.seen = catch_up.seen.min(after);
                }
                return Some(Err(SubscriptionError::Reset { after }));
            }
        };
        self.saw(id);
        if self.filter.allows(event.notification.kind) && self.fresh(id) {
            self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            Some(Ok(event))
        } else {
            None
        }
    }

    fn catching_up(&self) -> bool {
        self.catch_up
            .as_ref()
            .is_some_and(|catch_up| !matches!(catch_up.lag, Lag::Live))
    }

    /// The live feed overflowed by `missed`: catch up from the history, or fail
    /// when there is none.
    fn lagged(&mut self, missed: u64) -> Result<(), SubscriptionError> {
        match &mut self.catch_up {
            Some(catch_up) => {
                catch_up.lag = Lag::Lagged { missed };
                self.counters.catch_ups.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => {
                self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
                Err(SubscriptionError::Overflow { missed })
            }
        }
    }

    /// One step of a catch-up: find where to rejoin the live feed, or read one
    /// page of what was missed before it into the replay queue (and, after the last
    /// page, the event that rejoins the live feed). Cancel-safe: the state changes
    /// only once an await has completed.
    async fn catch_up_step(&mut self) -> Result<(), SubscriptionError> {
        let Some(catch_up) = &mut self.catch_up else {
            return Ok(());
        };
        match &catch_up.lag {
            Lag::Live => {}
            Lag::Lagged { missed } => {
                let missed = *missed;
                match self.live.recv().await {
                    // Lost events while behind: what was missed up to then is not
                    // read back; the subscriber is told and goes on from the reset.
                    Ok(Live::Reset(after)) => {
                        let after = after.min(catch_up.seen);
                        catch_up.lag = Lag::Live;
                        catch_up.seen = after;
                        self.skip_through = self.skip_through.map(|skip| skip.min(after));
                        return Err(SubscriptionError::Reset { after });
                    }
                    Ok(Live::Event(rejoin_id, rejoin)) => {
                        catch_up.lag = Lag::Reading {
                            rejoin,
                            rejoin_id,
                            through: catch_up.seen,
                            first: true,
                            missed,
                        };
                    }
                    Err(broadcast::error::RecvError::Lagged(more)) => {
                        catch_up.lag = Lag::Lagged {
                            missed: missed.saturating_add(more),
                        };
                    }
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
            Lag::Reading {
                rejoin,
                rejoin_id,
                through,
                first,
                missed,
            } => {
                let page = catch_up
                    .history
                    .missed(&catch_up.sdk_key, *through, *rejoin_id, *first)
                    .await?;
                if page.trimmed {
                    let missed = *missed;
                    catch_up.lag = Lag::Live;
                    self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
                    return Err(SubscriptionError::Overflow { missed });
                }
                self.counters
                    .caught_up
                    .fetch_add(page.events.len() as u64, Ordering::Relaxed);
                self.replay.extend(page.events);
                match page.read_through {
                    Some(read) if read < *rejoin_id => {
                        let (rejoin, rejoin_id, missed) = (Arc::clone(rejoin), *rejoin_id, *missed);
                        catch_up.lag = Lag::Reading {
                            rejoin,
                            rejoin_id,
                            through: read,
                            first: false,
                            missed,
                        };
                    }
                    _ => {
                        let rejoin = Arc::clone(rejoin);
                        catch_up.lag = Lag::Live;
                        // Back on the live feed: the event it was found at comes
                        // next, like any live one.
                        if self.skip_through.is_none_or(|skip| {
                            rejoin.id.parse::<StreamId>().is_ok_and(|id| id > skip)
                        }) {
                            self.replay.push_back(rejoin);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The next event that passes the filter: replayed ones first, then live ones
    /// (and, after falling behind, the missed ones from the [`History`]).
    /// Cancel-safe. Fails with [`SubscriptionError::Overflow`] when the subscriber fell
    /// too far behind and cannot catch up; the subscription should then be dropped.
    /// [`SubscriptionError::Reset`] is not an end: the subscriber is to be told, and
    /// the subscription goes on.
    pub async fn next(&mut self) -> Result<Arc<Event>, SubscriptionError> {
        loop {
            if let Some(event) = self.next_replayed() {
                return Ok(event);
            }
            if self.catching_up() {
                self.catch_up_step().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(live) => {
                    if let Some(next) = self.take_live(live) {
                        return next;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => self.lagged(missed)?,
                // The sender lives as long as the fan-out; if it is gone, so is the
                // server, and the stream ends like on shutdown.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// The next event that passes the filter if one is ready now, without waiting;
    /// lets a writer batch what arrived together into one socket write. `None`
    /// while a catch-up needs to read (left to [`Subscription::next`]).
    pub fn try_next(&mut self) -> Option<Result<Arc<Event>, SubscriptionError>> {
        loop {
            if let Some(event) = self.next_replayed() {
                return Some(Ok(event));
            }
            if self.catching_up() {
                return None;
            }
            match self.live.try_recv() {
                Ok(live) => {
                    if let Some(next) = self.take_live(live) {
                        return Some(next);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    if let Err(err) = self.lagged(missed) {
                        return Some(Err(err));
                    }
                }
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.counters.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Kind;

    fn note(kind: Kind, n: u32) -> Notification {
        Notification {
            kind,
            message: format!("{{\"n\":{n}}}").into(),
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_matching_notification() {
        let fanout = Fanout::new(16);
        let mut all = fanout.subscribe("k", Filter::ALL, None).unwrap();
        let mut tracks = fanout
            .subscribe("k", Filter::parse(["track"]).unwrap(), None)
            .unwrap();
        let mut other_key = fanout.subscribe("other", Filter::ALL, None).unwrap();
        fanout.publish_local("k", note(Kind::Decision, 1));
        fanout.publish_local("k", note(Kind::Track, 2));
        assert_eq!(
            &*all.next().await.unwrap().notification.message,
            "{\"n\":1}"
        );
        assert_eq!(
            &*all.next().await.unwrap().notification.message,
            "{\"n\":2}"
        );
        assert_eq!(
            &*tracks.next().await.unwrap().notification.message,
            "{\"n\":2}"
        );
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(20), other_key.next()).await;
        assert!(nothing.is_err(), "another SDK key must see nothing");
        assert_eq!(fanout.stats().subscribers, 3);
        drop(tracks);
        assert_eq!(fanout.stats().subscribers, 2);
        assert_eq!(fanout.stats().published, 2);
        assert_eq!(fanout.stats().delivered, 3);
    }

    #[tokio::test]
    async fn ids_increase_and_resume_replays_exactly_what_followed() {
        let fanout = Fanout::new(16);
        let ids: Vec<StreamId> = (0..5)
            .map(|n| fanout.publish_local("k", note(Kind::Decision, n)))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let mut sub = fanout
            .subscribe("k", Filter::ALL, Some(&ids[2].to_string()))
            .unwrap();
        assert!(!sub.gap());
        fanout.publish_local("k", note(Kind::Decision, 5));
        let got: Vec<String> = [
            sub.next().await.unwrap(),
            sub.next().await.unwrap(),
            sub.next().await.unwrap(),
        ]
        .iter()
        .map(|e| e.notification.message.to_string())
        .collect();
        assert_eq!(got, ["{\"n\":3}", "{\"n\":4}", "{\"n\":5}"]);
    }

    #[tokio::test]
    async fn resume_from_an_evicted_id_reports_a_gap_and_bad_ids_fail() {
        let fanout = Fanout::new(2);
        let first = fanout.publish_local("k", note(Kind::Decision, 0));
        for n in 1..4 {
            fanout.publish_local("k", note(Kind::Decision, n));
        }
        let mut sub = fanout
            .subscribe("k", Filter::ALL, Some(&first.to_string()))
            .unwrap();
        assert!(sub.gap());
        assert_eq!(
            &*sub.next().await.unwrap().notification.message,
            "{\"n\":2}"
        );
        let err = fanout
            .subscribe("k", Filter::ALL, Some("yesterday"))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "invalid Last-Event-ID \"yesterday\": expected an event id like 1700000000000-0"
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_overflows_without_slowing_the_others() {
        let fanout = Fanout::new(4);
        let mut slow = fanout.subscribe("k", Filter::ALL, None).unwrap();
        let mut fast = fanout.subscribe("k", Filter::ALL, None).unwrap();
        for n in 0..10 {
            fanout.publish_local("k", note(Kind::Decision, n));
            assert_eq!(
                fast.next().await.unwrap().notification.message.to_string(),
                format!("{{\"n\":{n}}}")
            );
        }
        assert!(matches!(
            slow.next().await,
            Err(SubscriptionError::Overflow { missed: 6 })
        ));
        assert_eq!(fanout.stats().overflowed, 1);
    }

    /// A history holding every event published through a fan-out (as the Redis
    /// stream holds every entry), handing them out in pages of 3.
    struct Everything {
        events: Mutex<Vec<Arc<Event>>>,
        trimmed_before: StreamId,
    }

    impl History for Everything {
        fn missed<'a>(
            &'a self,
            _sdk_key: &'a str,
            after: StreamId,
            before: StreamId,
            first: bool,
        ) -> BoxFuture<'a, Result<Missed, SubscriptionError>> {
            let page: Vec<Arc<Event>> = lock(&self.events)
                .iter()
                .filter(|e| {
                    let id: StreamId = e.id.parse().unwrap();
                    id > after && id < before
                })
                .take(3)
                .cloned()
                .collect();
            let read_through = (page.len() == 3).then(|| page[2].id.parse().unwrap());
            let trimmed = first && after < self.trimmed_before;
            Box::pin(async move {
                Ok(Missed {
                    events: page,
                    read_through,
                    trimmed,
                })
            })
        }
    }

    #[tokio::test]
    async fn a_subscriber_with_history_catches_up_without_gap_or_duplicate() {
        let fanout = Fanout::new(4);
        let history = Arc::new(Everything {
            events: Mutex::new(Vec::new()),
            trimmed_before: StreamId::ZERO,
        });
        let (sub, position) = fanout.subscribe_at("k", Filter::ALL);
        let mut sub = sub.with_history(Arc::clone(&history) as Arc<dyn History>, "k", position);
        let mut fast = fanout.subscribe("k", Filter::ALL, None).unwrap();
        for n in 0..20 {
            let id = fanout.publish_local("k", note(Kind::Decision, n));
            let event = fast.next().await.unwrap();
            assert_eq!(event.id, id.to_string());
            lock(&history.events).push(event);
        }
        let mut got = Vec::new();
        while got.len() < 20 {
            got.push(sub.next().await.unwrap().notification.message.to_string());
        }
        let want: Vec<String> = (0..20).map(|n| format!("{{\"n\":{n}}}")).collect();
        assert_eq!(got, want);
        // Back on the live feed.
        fanout.publish_local("k", note(Kind::Decision, 20));
        assert_eq!(
            sub.next().await.unwrap().notification.message.to_string(),
            "{\"n\":20}"
        );
        let stats = fanout.stats();
        assert_eq!((stats.catch_ups, stats.overflowed), (1, 0));
        assert_eq!(stats.caught_up, 16, "the 4 the channel held came live");
    }

    #[tokio::test]
    async fn a_subscriber_whose_missed_events_were_trimmed_overflows() {
        let fanout = Fanout::new(2);
        let history = Arc::new(Everything {
            events: Mutex::new(Vec::new()),
            trimmed_before: StreamId::new(u64::MAX, 0),
        });
        let (sub, position) = fanout.subscribe_at("k", Filter::ALL);
        let mut sub = sub.with_history(history as Arc<dyn History>, "k", position);
        for n in 0..5 {
            fanout.publish_local("k", note(Kind::Decision, n));
        }
        assert!(matches!(
            sub.next().await,
            Err(SubscriptionError::Overflow { missed: 3 })
        ));
        assert_eq!(fanout.stats().overflowed, 1);
    }

    #[test]
    fn the_resume_window_covers_what_a_reader_delivered_and_grows_back_by_backfill() {
        let fanout = Fanout::new(5);
        let id = |ms| StreamId::new(ms, 0);
        assert!(matches!(fanout.window("k", id(1), id(9)), Window::Unknown));
        fanout.set_position("k", id(10));
        for ms in 11..=13 {
            fanout.deliver("k", id(ms), note(Kind::Decision, 0));
        }
        // A stopped reader's late read is not delivered twice.
        fanout.deliver("k", id(12), note(Kind::Decision, 0));
        let ids = |window| match window {
            Window::Covered(events) => events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            other => panic!("not covered: {other:?}"),
        };
        assert_eq!(ids(fanout.window("k", id(11), id(13))), ["12-0", "13-0"]);
        assert_eq!(ids(fanout.window("k", id(10), id(12))), ["11-0", "12-0"]);
        assert!(matches!(
            fanout.window("k", id(14), id(14)),
            Window::Unknown
        ));
        assert!(matches!(fanout.window("k", id(8), id(13)), Window::StartsAfter(s) if s == id(10)));
        let older: Vec<Arc<Event>> = (9..=10)
            .map(|ms| Arc::new(Event::new(id(ms).to_string(), note(Kind::Decision, 0))))
            .collect();
        assert!(
            !fanout.backfill("k", id(8), id(9), &older),
            "the window starts elsewhere"
        );
        assert!(fanout.backfill("k", id(8), id(10), &older));
        assert_eq!(
            ids(fanout.window("k", id(8), id(13))),
            ["9-0", "10-0", "11-0", "12-0", "13-0"]
        );
        assert!(
            !fanout.backfill("k", id(1), id(8), &older[..1]),
            "past the buffer"
        );
        // Evicting the oldest moves where the window starts.
        fanout.deliver("k", id(14), note(Kind::Decision, 0));
        assert!(matches!(fanout.window("k", id(8), id(14)), Window::StartsAfter(s) if s == id(9)));
        // A reader restarting after a hole starts a new window.
        fanout.set_position("k", id(20));
        assert!(
            matches!(fanout.window("k", id(14), id(20)), Window::StartsAfter(s) if s == id(20))
        );
    }

    #[tokio::test]
    async fn a_rollback_resets_live_subscribers_and_takes_the_ids_after_it_again() {
        let fanout = Fanout::new(16);
        let id = |ms| StreamId::new(ms, 0);
        fanout.set_position("k", id(10));
        let (sub, _) = fanout.subscribe_at("k", Filter::ALL);
        // A resumed subscriber that had seen up to 13 elsewhere.
        let mut sub = sub.resume_with(id(13), Vec::new(), false);
        for ms in [11, 12, 13] {
            fanout.deliver("k", id(ms), note(Kind::Decision, 0));
        }
        fanout.rolled_back("k", id(11));
        assert_eq!(
            sub.next().await.unwrap_err(),
            SubscriptionError::Reset { after: id(11) }
        );
        // Written after the fail-over with an id below the lost ones: delivered.
        fanout.deliver("k", StreamId::new(12, 5), note(Kind::Decision, 7));
        let next = sub.next().await.unwrap();
        assert_eq!(
            (next.id.as_str(), &*next.notification.message),
            ("12-5", "{\"n\":7}")
        );
        match fanout.window("k", id(10), id(20)) {
            Window::Covered(events) => {
                let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
                assert_eq!(ids, ["11-0", "12-5"], "the lost ones left the window");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn allow_lag_raises_the_allowance_but_not_the_resume_history() {
        let fanout = Fanout::new(4);
        fanout.allow_lag(16);
        let mut sub = fanout.subscribe("k", Filter::ALL, None).unwrap();
        let first = fanout.publish_local("k", note(Kind::Decision, 0));
        for n in 1..16 {
            fanout.publish_local("k", note(Kind::Decision, n));
        }
        for n in 0..16 {
            assert_eq!(
                sub.next().await.unwrap().notification.message.to_string(),
                format!("{{\"n\":{n}}}")
            );
        }
        let resumed = fanout
            .subscribe("k", Filter::ALL, Some(&first.to_string()))
            .unwrap();
        assert!(resumed.gap(), "only the last 4 are kept for resuming");
        fanout.allow_lag(1);
        assert_eq!(fanout.lag.load(Ordering::Relaxed), 4, "never below buffer");
    }
}
