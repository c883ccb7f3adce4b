//! What the two SSE clients (`subscribe`, `burst --verify`) share: reading the
//! notification stream into events with the server's control information kept,
//! and the reconnect policy (round robin over the given URLs, capped back-off,
//! resume with `Last-Event-ID`).
//!
//! The SSE framing is parsed by `eventsource-stream`, which drops what the HTML
//! rules say dispatches nothing: comments (the server says things in them:
//! `: caught-up <id>` after a replay, `: group … consumer …`, `: disconnected: …`)
//! and `id:`-only frames (the resume point a fresh stream starts with). So
//! [`events`] first rewrites each of those, where it stands alone between frames,
//! into a named event ([`COMMENT_EVENT`], [`RESUME_POINT_EVENT`]), which keeps them
//! in stream order with the events around them.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt, stream};

use crate::util::Backoff;

/// The name given to comment lines turned into events by [`events`].
pub(crate) const COMMENT_EVENT: &str = "agentctl-comment";
/// The name given to `id:`-only frames turned into events by [`events`]; the data
/// is the id.
pub(crate) const RESUME_POINT_EVENT: &str = "agentctl-resume-point";

/// Wait before reconnecting: 250 ms, doubled after each attempt that brought no
/// event, at most 10 s.
pub(crate) const BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(250), Duration::from_secs(10));

/// The SSE events of a response body, with comments and `id:`-only frames
/// surfaced as [`COMMENT_EVENT`] and [`RESUME_POINT_EVENT`] events.
pub(crate) fn events<S, E>(bytes: S) -> impl Stream<Item = Result<Event, EventStreamError<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    surface_control(bytes).eventsource()
}

/// Whether an error answer to a request with `Last-Event-ID` says the server
/// cannot resume at all (a Redis Pub/Sub hub keeps no history): the client should
/// go on without resuming rather than give up.
pub(crate) fn cannot_resume(status: u16, body: &str) -> bool {
    status == 400 && body.contains("Pub/Sub")
}

/// The URLs a client follows, and which one is next: a dropped connection moves
/// on to the next one (round robin), so a client given every instance of a fleet
/// resumes on another when one dies.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    urls: Vec<String>,
    at: usize,
}

impl Targets {
    /// `urls` (at least one; an empty list is given the one default by the
    /// caller), starting with the one at `first` (modulo their number).
    pub(crate) fn new(urls: Vec<String>, first: usize) -> Targets {
        let at = if urls.is_empty() {
            0
        } else {
            first % urls.len()
        };
        Targets { urls, at }
    }

    /// The base URL to connect to now.
    pub(crate) fn current(&self) -> &str {
        self.urls.get(self.at).map_or("", String::as_str)
    }

    /// How many URLs there are.
    pub(crate) fn len(&self) -> usize {
        self.urls.len()
    }

    /// Moves on to the next URL (round robin) and returns it.
    pub(crate) fn advance(&mut self) -> &str {
        if !self.urls.is_empty() {
            self.at = (self.at + 1) % self.urls.len();
        }
        self.current()
    }
}

/// Rewrites every comment line and every `id:`-only frame that stands alone (at a
/// frame boundary) into a named event whose data is the comment text or the id,
/// so the SSE parser hands them over in order with the events. A comment inside a
/// frame is left for the parser (which ignores it).
fn surface_control<S, E>(bytes: S) -> impl Stream<Item = Result<Bytes, E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    struct State<S> {
        inner: S,
        partial: Vec<u8>,
        at_boundary: bool,
        /// An `id:` line that opened a frame, held until the next line tells
        /// whether the frame ends there.
        held_id: Option<Vec<u8>>,
        done: bool,
    }
    let state = State {
        inner: bytes,
        partial: Vec::new(),
        at_boundary: true,
        held_id: None,
        done: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let chunk = match s.inner.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => {
                s.done = true;
                return Some((Err(err), s));
            }
            None => {
                s.done = true;
                // A partial last frame is handed on as is.
                let mut rest = s.held_id.take().unwrap_or_default();
                rest.append(&mut s.partial);
                return Some((Ok(Bytes::from(rest)), s));
            }
        };
        s.partial.extend_from_slice(&chunk);
        let mut out = Vec::with_capacity(s.partial.len() + 32);
        let mut start = 0;
        while let Some(at) = s.partial[start..].iter().position(|&b| b == b'\n') {
            let line = &s.partial[start..start + at + 1];
            start += at + 1;
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if let Some(held) = s.held_id.take() {
                if text.is_empty() {
                    let id = held.strip_suffix(b"\n").unwrap_or(&held);
                    let id = id.strip_suffix(b"\r").unwrap_or(id);
                    let id = id.strip_prefix(b"id:").unwrap_or(id);
                    let id = id.strip_prefix(b" ").unwrap_or(id);
                    out.extend_from_slice(
                        format!("event: {RESUME_POINT_EVENT}\ndata: ").as_bytes(),
                    );
                    out.extend_from_slice(id);
                    out.extend_from_slice(b"\n\n");
                    s.at_boundary = true;
                    continue;
                }
                out.extend_from_slice(&held);
            } else if s.at_boundary && text.first() == Some(&b':') {
                let comment = text[1..].strip_prefix(b" ").unwrap_or(&text[1..]);
                out.extend_from_slice(format!("event: {COMMENT_EVENT}\ndata: ").as_bytes());
                out.extend_from_slice(comment);
                out.extend_from_slice(b"\n\n");
                continue;
            } else if s.at_boundary && text.starts_with(b"id:") {
                s.held_id = Some(line.to_vec());
                s.at_boundary = false;
                continue;
            }
            s.at_boundary = text.is_empty();
            out.extend_from_slice(line);
        }
        s.partial.drain(..start);
        Some((Ok(Bytes::from(out)), s))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(chunks: &[&str]) -> Vec<(String, String, String)> {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from(c.to_string())))
            .collect();
        events(stream::iter(chunks))
            .map(|e| {
                let e = e.unwrap();
                (e.event, e.id, e.data)
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn comments_and_resume_points_come_out_in_order_with_events() {
        let got = parse(&[
            "id: 0-0\n",
            "\n: group g consumer c\n\nid: 1-1\nda",
            "ta: {\"a\":1}\n\n: caught-up 1-1\n",
            "\n:\n\nid: 2-0\ndata: x\n\nid: 3-0",
            "\n\n",
        ])
        .await;
        let named = |name: &str, text: &str| (name.to_owned(), text.to_owned());
        let names: Vec<(String, String)> =
            got.iter().map(|(e, _, d)| (e.clone(), d.clone())).collect();
        assert_eq!(
            names,
            vec![
                named(RESUME_POINT_EVENT, "0-0"),
                named(COMMENT_EVENT, "group g consumer c"),
                named("message", "{\"a\":1}"),
                named(COMMENT_EVENT, "caught-up 1-1"),
                named(COMMENT_EVENT, ""),
                named("message", "x"),
                named(RESUME_POINT_EVENT, "3-0"),
            ]
        );
        assert_eq!(got[2].1, "1-1");
        assert_eq!(got[5].1, "2-0");
    }

    #[test]
    fn targets_go_round() {
        let mut targets = Targets::new(vec!["a".to_owned(), "b".to_owned()], 3);
        assert_eq!(targets.current(), "b");
        assert_eq!(targets.advance(), "a");
        assert_eq!(targets.advance(), "b");
        assert_eq!(targets.len(), 2);
        let mut one = Targets::new(vec!["a".to_owned()], 0);
        assert_eq!(one.advance(), "a");
    }
}
