//! The bounded queue between the request handlers and the dispatcher.
//!
//! A `std::sync::Mutex` around a `VecDeque`, held for a push or a swap and never
//! across an await. Two things set it apart from a channel:
//!
//! - **The bound covers every event not yet handed to a send**: the events waiting
//!   here and those the dispatcher holds in its pending and ready batches.
//!   `client.queueSize` is then exactly the number of events that can wait, wherever
//!   they wait, and the dispatcher can take everything at once without stretching it.
//! - **A push wakes the dispatcher only when it has something to do**: when the
//!   waiting events are enough to fill the batch being built (the "room" the
//!   dispatcher leaves), or for the first event when no batch is being built (to start
//!   its flush timer). A channel wakes its receiver for every message, which costs a
//!   task wake-up (and often a worker thread unpark) per event.
//!
//! Each event carries the time it was pushed, so a batch's flush deadline counts
//! from its oldest event's push even when the dispatcher takes it later.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use super::QueuedEvent;
use crate::util::lock;

/// Most events the queue's buffers are sized for up front; a larger
/// `client.queueSize` grows them on demand, so a huge bound does not reserve memory
/// it may never use.
const PRESIZED_EVENTS: usize = 4096;

/// An event waiting for the dispatcher.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) event: QueuedEvent,
    /// When [`Queue::push`] accepted it.
    pub(super) pushed: Instant,
}

/// Why [`Queue::push`] refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// `client.queueSize` events are waiting to be sent.
    Full,
    /// The dispatcher has stopped taking events.
    Closed,
}

/// What [`Queue::arm`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Armed {
    /// Nothing to do until a push wakes the dispatcher or its flush timer fires.
    Wait,
    /// Enough events arrived since the last take to fill the batch: take again.
    TakeAgain,
    /// Nothing is waiting and no handle can push any more.
    SendersGone,
}

#[derive(Debug)]
struct State {
    waiting: VecDeque<Waiting>,
    /// Events accepted and not yet handed to a send: `waiting` plus those in the
    /// dispatcher's pending and ready batches.
    held: usize,
    /// The number of waiting events at which a push wakes the dispatcher.
    room: usize,
    closed: bool,
    senders_gone: bool,
}

/// The queue, shared by every [`super::EventQueue`] clone and the dispatcher.
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    wake: Notify,
    capacity: usize,
}

impl Queue {
    /// A queue holding at most `capacity` unsent events (0 counts as 1).
    pub(super) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Queue {
            state: Mutex::new(State {
                waiting: VecDeque::with_capacity(presized(capacity)),
                held: 0,
                room: 1,
                closed: false,
                senders_gone: false,
            }),
            wake: Notify::new(),
            capacity,
        }
    }

    /// An empty buffer sized like the queue's own, for the dispatcher's side of the
    /// swap in [`Queue::take`].
    pub(super) fn buffer(&self) -> VecDeque<Waiting> {
        VecDeque::with_capacity(presized(self.capacity))
    }

    /// Adds `event`, waking the dispatcher if it now has a batch to fill or a timer
    /// to start. Never blocks beyond the short lock.
    pub(super) fn push(&self, event: QueuedEvent) -> Result<(), Refused> {
        let pushed = Instant::now();
        let wake = {
            let mut state = lock(&self.state);
            if state.closed {
                return Err(Refused::Closed);
            }
            if state.held >= self.capacity {
                return Err(Refused::Full);
            }
            state.held += 1;
            state.waiting.push_back(Waiting { event, pushed });
            state.waiting.len() == state.room
        };
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Moves every waiting event into `into`, which must be empty: the two buffers
    /// are swapped, so neither allocates once both have grown to the load.
    pub(super) fn take(&self, into: &mut VecDeque<Waiting>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut lock(&self.state).waiting, into);
    }

    /// Tells the queue how many more events the dispatcher's pending batch can take
    /// (`room`, at least 1), so that the push that fills it wakes the dispatcher.
    pub(super) fn arm(&self, room: usize) -> Armed {
        let mut state = lock(&self.state);
        if state.waiting.len() >= room {
            // Pushed since the take: no later push will find exactly `room` waiting.
            return Armed::TakeAgain;
        }
        if state.waiting.is_empty() && state.senders_gone {
            return Armed::SendersGone;
        }
        state.room = room;
        Armed::Wait
    }

    /// Resolves when a push asked for the dispatcher (or the last handle went away).
    /// A wake that came while nobody waited is kept, so none is lost between a
    /// [`Queue::arm`] and the wait.
    pub(super) fn notified(&self) -> Notified<'_> {
        self.wake.notified()
    }

    /// `events` were handed to a send: they no longer count against the bound.
    pub(super) fn sent(&self, events: usize) {
        let mut state = lock(&self.state);
        state.held = state.held.saturating_sub(events);
    }

    /// Refuses every later push ([`Refused::Closed`]).
    pub(super) fn close(&self) {
        lock(&self.state).closed = true;
    }

    /// The last handle is gone: wakes the dispatcher to flush and end.
    pub(super) fn senders_gone(&self) {
        lock(&self.state).senders_gone = true;
        self.wake.notify_one();
    }
}

fn presized(capacity: usize) -> usize {
    capacity.min(PRESIZED_EVENTS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(n: u8) -> QueuedEvent {
        QueuedEvent {
            header: bytes::Bytes::from_static(b"{}"),
            visitor: bytes::Bytes::from(vec![n]),
        }
    }

    /// Whether a wake is pending, without waiting for one.
    async fn woken(queue: &Queue) -> bool {
        tokio::time::timeout(Duration::from_millis(20), queue.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn pushes_wake_only_when_the_room_is_reached() {
        let queue = Queue::new(100);
        let mut taken = queue.buffer();
        // No batch being built: the first event wakes.
        queue.push(event(0)).unwrap();
        assert!(woken(&queue).await);
        queue.take(&mut taken);
        assert_eq!(taken.len(), 1);
        taken.clear();
        // A batch with room for 3 more: the third push wakes, not the first two.
        assert_eq!(queue.arm(3), Armed::Wait);
        queue.push(event(1)).unwrap();
        queue.push(event(2)).unwrap();
        assert!(!woken(&queue).await);
        queue.push(event(3)).unwrap();
        assert!(woken(&queue).await);
        // Events that arrived between the take and the arm are not missed.
        queue.take(&mut taken);
        taken.clear();
        queue.push(event(4)).unwrap();
        queue.push(event(5)).unwrap();
        assert_eq!(queue.arm(2), Armed::TakeAgain);
    }

    #[tokio::test]
    async fn the_bound_counts_events_until_they_are_sent() {
        let queue = Queue::new(3);
        let mut taken = queue.buffer();
        for n in 0..3 {
            queue.push(event(n)).unwrap();
        }
        assert_eq!(queue.push(event(3)), Err(Refused::Full));
        // Taken by the dispatcher but not sent: still held.
        queue.take(&mut taken);
        assert_eq!(queue.push(event(3)), Err(Refused::Full));
        queue.sent(2);
        queue.push(event(3)).unwrap();
        queue.push(event(4)).unwrap();
        assert_eq!(queue.push(event(5)), Err(Refused::Full));
        queue.close();
        queue.sent(3);
        assert_eq!(queue.push(event(5)), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn senders_gone_wakes_and_ends_once_drained() {
        let queue = Queue::new(10);
        let mut taken = queue.buffer();
        queue.push(event(0)).unwrap();
        queue.senders_gone();
        assert!(woken(&queue).await);
        assert_eq!(queue.arm(1), Armed::TakeAgain);
        queue.take(&mut taken);
        assert_eq!(queue.arm(1), Armed::SendersGone);
    }
}
