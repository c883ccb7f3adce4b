//! The wire vocabulary the `serve` side and the clients (`subscribe`, `burst`, the
//! integration tests) share, so the two sides cannot drift: notification kind names
//! and the `filter` parameter, the stream envelope `{"type":…,"message":…}` stored in
//! Redis and carried over Pub/Sub, the SSE framing of the notification stream, and
//! the path, header and query names it is reached with.
//!
//! Pure data and text: it imports nothing from the rest of the crate (only serde,
//! serde_json and thiserror), so every layer may depend on it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// The notification stream's path.
pub const EVENT_STREAM_PATH: &str = "/v1/notifications/event-stream";
/// The SSE media type (`Content-Type` of the stream, `Accept` of clients).
pub const EVENT_STREAM_MIME: &str = "text/event-stream";
/// The header naming the SDK key (the project) a request is about.
pub const SDK_KEY_HEADER: &str = "x-optimizely-sdk-key";
/// The SSE resume header: the id of the last event the client saw.
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";
/// The response header naming a group subscription's consumer.
pub const CONSUMER_NAME_HEADER: &str = "x-consumer-name";

/// Query parameter names of the notification stream.
pub mod query {
    /// Notification kinds to receive (repeatable, comma lists); see [`super::Filter`].
    pub const FILTER: &str = "filter";
    /// Present: each message JSON alone on a line instead of SSE frames.
    pub const RAW: &str = "raw";
    /// The resume id, for clients that cannot set the `Last-Event-ID` header.
    pub const LAST_EVENT_ID: &str = "lastEventId";
    /// The durable consumer group to read as.
    pub const GROUP: &str = "group";
    /// The consumer name within the group.
    pub const CONSUMER: &str = "consumer";
    /// Where a new group starts reading (`0`, `$` or an id).
    pub const FROM: &str = "from";
}

/// Upstream Agents' name of a datafile update, read as [`Kind::DatafileUpdate`].
pub const UPSTREAM_DATAFILE_UPDATE: &str = "project_config_update";

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

    /// The kind a notification `message` object is of, read from its fields (the
    /// SSE data carries the message only): decision types by `Type`, datafile
    /// updates by `Type` (upstream's name too), track by `EventKey`.
    pub fn of_message(message: &Value) -> Option<Kind> {
        match message.get("Type").and_then(Value::as_str) {
            Some("flag" | "ab-test" | "feature-test" | "all-feature-variables") => {
                Some(Kind::Decision)
            }
            Some("datafile-update" | UPSTREAM_DATAFILE_UPDATE) => Some(Kind::DatafileUpdate),
            _ if message.get("EventKey").is_some() => Some(Kind::Track),
            _ => None,
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
            "datafile-update" | UPSTREAM_DATAFILE_UPDATE => Ok(Kind::DatafileUpdate),
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
    ///
    /// # Errors
    ///
    /// [`UnknownKind`] for the first name that is not a kind.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Filter, UnknownKind> {
        let mut bits = 0;
        for value in values {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                bits |= name.parse::<Kind>()?.bit();
            }
        }
        Ok(if bits == 0 { Filter::ALL } else { Filter(bits) })
    }

    /// The `filter` query value that selects `kinds` (a comma list of wire names).
    pub fn query_value(kinds: impl IntoIterator<Item = Kind>) -> String {
        let names: Vec<&str> = kinds.into_iter().map(Kind::as_str).collect();
        names.join(",")
    }

    /// Whether this filter lets `kind` through.
    pub fn allows(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// A stream envelope as read: the kind and the `message` JSON text, borrowed from
/// the envelope exactly as it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The notification kind (`type`).
    pub kind: Kind,
    /// The `message` object's JSON text.
    pub message: &'a str,
}

impl<'a> Envelope<'a> {
    /// The envelope stored in Redis and carried over Pub/Sub:
    /// `{"type":"<kind>","message":{…}}` (`message` must be JSON text).
    pub fn encode(kind: Kind, message: &str) -> String {
        format!("{{\"type\":\"{}\",\"message\":{message}}}", kind.as_str())
    }

    /// Reads an envelope written by any instance, upstream Agents included, where
    /// upstream's `project_config_update` means `datafile-update`.
    ///
    /// # Errors
    ///
    /// [`EnvelopeError`] when the text is not such an object or the type is unknown.
    pub fn decode(text: &'a str) -> Result<Self, EnvelopeError> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'a, str>,
            #[serde(borrow)]
            message: &'a serde_json::value::RawValue,
        }
        let raw: Raw<'a> = serde_json::from_str(text).map_err(|e| EnvelopeError(e.to_string()))?;
        let kind: Kind = raw
            .kind
            .parse()
            .map_err(|e: UnknownKind| EnvelopeError(e.to_string()))?;
        Ok(Envelope {
            kind,
            message: raw.message.get(),
        })
    }
}

/// Why a stored or received envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a notification envelope: {0}")]
pub struct EnvelopeError(pub String);

/// SSE framing of the notification stream: what the server writes and what clients
/// read (DESIGN §2).
pub mod sse {
    /// The event type of a frame without `event:` (every notification).
    pub const DEFAULT_EVENT: &str = "message";
    /// The named event sent first when a resume point is older than what is
    /// retained: its data names the id and the reason.
    pub const RESET_EVENT: &str = "reset";
    /// The keep-alive written to an idle stream: an empty comment.
    pub const KEEP_ALIVE: &[u8] = b":\n\n";
    /// The comment that follows the last replayed event of a resume: `caught-up <id>`.
    pub const CAUGHT_UP: &str = "caught-up";
    /// The comment opening a group subscription: `group <group> consumer <consumer>`.
    pub const GROUP: &str = "group";
    /// The comment before the server drops a subscriber that fell behind.
    pub const DISCONNECTED: &str = "disconnected";

    /// Appends one notification to `out`: `id: <id>` and `data: <message>`.
    pub fn write_event(out: &mut Vec<u8>, id: &str, data: &str) {
        out.reserve(id.len() + data.len() + 12);
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    /// Appends one notification of a `raw` stream to `out`: the message alone on a
    /// line.
    pub fn write_raw(out: &mut Vec<u8>, data: &str) {
        out.reserve(data.len() + 1);
        out.extend_from_slice(data.as_bytes());
        out.push(b'\n');
    }

    /// An `id:`-only frame: `id: <id>` and nothing else. Per the HTML SSE parsing
    /// rules it sets the client's last event id without dispatching an event, so
    /// a fresh stream tells its client where it starts (browsers' `EventSource`
    /// included) and a reconnect before the first event resumes from there.
    pub fn resume_point(id: &str) -> String {
        format!("id: {id}\n\n")
    }

    /// A named control event without id: `event: <name>` and `data: <data>`.
    pub fn named(name: &str, data: &str) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    /// A comment frame standing alone: `: <text>`.
    pub fn comment(text: &str) -> String {
        format!(": {text}\n\n")
    }

    /// `: caught-up <id>`.
    pub fn caught_up(id: &str) -> String {
        comment(&format!("{CAUGHT_UP} {id}"))
    }

    /// `: group <group> consumer <consumer>`.
    pub fn group(group: &str, consumer: &str) -> String {
        comment(&format!("{GROUP} {group} consumer {consumer}"))
    }

    /// `: disconnected: fell behind by more than the buffer (<n> notifications missed)`.
    pub fn disconnected(missed: u64) -> String {
        comment(&format!(
            "{DISCONNECTED}: fell behind by more than the buffer ({missed} notifications missed)"
        ))
    }

    /// One frame (the text between blank lines) as read by a client.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Frame {
        /// The `id:` value.
        pub id: Option<String>,
        /// The `event:` value (`None`: the default `message`).
        pub event: Option<String>,
        /// The `data:` lines, joined by newlines.
        pub data: Option<String>,
        /// The comment lines' text, without the `:` and one leading space.
        pub comments: Vec<String>,
    }

    impl Frame {
        /// Parses one frame's lines (without the blank line that ends it).
        ///
        /// # Errors
        ///
        /// The first line that is neither a comment nor an `id`, `event` or `data`
        /// field (the server writes no others).
        pub fn parse(text: &str) -> Result<Frame, String> {
            let mut frame = Frame::default();
            for line in text.lines() {
                if let Some(comment) = line.strip_prefix(':') {
                    let comment = comment.strip_prefix(' ').unwrap_or(comment);
                    frame.comments.push(comment.to_owned());
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                match field {
                    "id" => frame.id = Some(value),
                    "event" => frame.event = Some(value),
                    "data" => {
                        frame.data = Some(match frame.data.take() {
                            Some(before) => format!("{before}\n{value}"),
                            None => value,
                        });
                    }
                    _ => return Err(line.to_owned()),
                }
            }
            Ok(frame)
        }

        /// Whether this frame is a notification: it has data and no `event:` name
        /// (named events such as `reset` are control information, and an `id:`-only
        /// frame is a [`resume_point`], which dispatches nothing).
        pub fn is_notification(&self) -> bool {
            self.data.is_some() && self.event.as_deref().is_none_or(|e| e == DEFAULT_EVENT)
        }

        /// The id of an `id:`-only frame ([`resume_point`]).
        pub fn resume_point(&self) -> Option<&str> {
            match self {
                Frame {
                    id: Some(id),
                    event: None,
                    data: None,
                    ..
                } => Some(id.as_str()),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sse::Frame;
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
        let value = Filter::query_value([Kind::Track, Kind::DatafileUpdate]);
        assert_eq!(value, "track,datafile-update");
        assert_eq!(
            Filter::parse([value.as_str()]).unwrap(),
            Filter::parse(["track", "datafile-update"]).unwrap()
        );
    }

    #[test]
    fn kinds_round_trip_and_follow_the_message() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
        }
        let of = |v: Value| Kind::of_message(&v);
        assert_eq!(
            of(serde_json::json!({"Type": "ab-test"})),
            Some(Kind::Decision)
        );
        assert_eq!(of(serde_json::json!({"EventKey": "e"})), Some(Kind::Track));
        assert_eq!(
            of(serde_json::json!({"Type": "datafile-update"})),
            Some(Kind::DatafileUpdate)
        );
        assert_eq!(of(serde_json::json!({"x": 1})), None);
    }

    #[test]
    fn envelopes_round_trip_and_upstream_names_are_read() {
        let text = Envelope::encode(Kind::Track, r#"{"EventKey":"e"}"#);
        assert_eq!(text, r#"{"type":"track","message":{"EventKey":"e"}}"#);
        assert_eq!(
            Envelope::decode(&text).unwrap(),
            Envelope {
                kind: Kind::Track,
                message: r#"{"EventKey":"e"}"#
            }
        );
        let upstream = r#"{"type":"project_config_update","message":{"Revision":"7"}}"#;
        let read = Envelope::decode(upstream).unwrap();
        assert_eq!(read.kind, Kind::DatafileUpdate);
        assert_eq!(read.message, r#"{"Revision":"7"}"#);
        assert!(Envelope::decode("{\"type\":\"decision\"}").is_err());
        assert!(Envelope::decode("{\"type\":\"nope\",\"message\":{}}").is_err());
        assert!(Envelope::decode("garbage").is_err());
    }

    #[test]
    fn frames_written_are_frames_read() {
        let parse = |text: &str| Frame::parse(text.strip_suffix("\n\n").unwrap()).unwrap();
        let mut written = Vec::new();
        sse::write_event(&mut written, "5-1", "{\"a\":1}");
        let event = parse(std::str::from_utf8(&written).unwrap());
        assert_eq!(event.id.as_deref(), Some("5-1"));
        assert_eq!(event.data.as_deref(), Some("{\"a\":1}"));
        assert!(event.is_notification());
        let reset = parse(&sse::named(sse::RESET_EVENT, "{}"));
        assert_eq!(reset.event.as_deref(), Some("reset"));
        assert!(!reset.is_notification());
        assert_eq!(event.resume_point(), None);
        let start = parse(&sse::resume_point("9-0"));
        assert_eq!(start.resume_point(), Some("9-0"));
        assert!(!start.is_notification());
        assert_eq!(sse::caught_up("7-0"), ": caught-up 7-0\n\n");
        assert_eq!(parse(&sse::caught_up("7-0")).comments, ["caught-up 7-0"]);
        assert_eq!(sse::group("g", "c"), ": group g consumer c\n\n");
        assert_eq!(
            sse::disconnected(3),
            ": disconnected: fell behind by more than the buffer (3 notifications missed)\n\n"
        );
        let keep_alive = std::str::from_utf8(sse::KEEP_ALIVE).unwrap();
        let keep_alive = parse(keep_alive);
        assert_eq!(keep_alive.comments, [""]);
        assert!(!keep_alive.is_notification());
        let mut written = b"x\n".to_vec();
        sse::write_raw(&mut written, "{}");
        assert_eq!(written, b"x\n{}\n");
        assert_eq!(Frame::parse("retry: 5").unwrap_err(), "retry: 5");
        assert_eq!(
            Frame::parse("data: a\ndata: b").unwrap().data.as_deref(),
            Some("a\nb")
        );
    }
}
