//! The notification model: a [`Notification`] is what a decide/activate/track call
//! or a datafile change emits, a [`Kind`] and the JSON `message` object upstream's
//! Agent streams, serialised once when it is published and shared by every
//! subscriber; an [`Event`] is one as delivered, with the id it is resumable from.
//! The names and the envelope format are the wire's ([`crate::wire`]); this file
//! imports nothing else from the crate.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::Serialize;

use crate::wire::{Envelope, EnvelopeError, Kind, sse};

/// The initial buffer of an encoded message: a decision message with a few
/// attributes and variables fits.
const MESSAGE_CAPACITY: usize = 1024;

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
        // Sized for a decision message, so encoding it does not grow the buffer
        // step by step.
        let mut text = Vec::with_capacity(MESSAGE_CAPACITY);
        serde_json::to_writer(&mut text, message)?;
        // serde_json writes UTF-8 only.
        let text = String::from_utf8(text).map_err(serde::ser::Error::custom)?;
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
    ///
    /// # Errors
    ///
    /// [`EnvelopeError`] when the text is not an envelope (see [`Envelope::decode`]).
    pub fn from_envelope(text: &str) -> Result<Self, EnvelopeError> {
        let envelope = Envelope::decode(text)?;
        Ok(Notification {
            kind: envelope.kind,
            message: envelope.message.into(),
        })
    }

    /// The envelope stored in Redis and carried over Pub/Sub:
    /// `{"type":"<kind>","message":{…}}`.
    pub fn envelope(&self) -> String {
        Envelope::encode(self.kind, &self.message)
    }
}

/// A notification as delivered to a subscriber: with the id it is resumable from.
///
/// Its SSE frame is formatted once, by the first subscriber that writes it, and
/// shared by every other subscriber of the same event ([`Event::sse_frame`]).
#[derive(Debug, Clone)]
pub struct Event {
    /// The event id (`<ms>-<seq>`, a Redis stream entry id or the in-memory hub's own).
    pub id: String,
    /// The notification.
    pub notification: Notification,
    /// `id: <id>` + `data: <message>`, once formatted.
    frame: OnceLock<Bytes>,
}

impl Event {
    /// The notification `notification` delivered under `id`.
    pub fn new(id: String, notification: Notification) -> Self {
        Event {
            id,
            notification,
            frame: OnceLock::new(),
        }
    }

    /// The event's SSE frame, `id: <id>` and `data: <message>` (see
    /// [`sse::write_event`]); formatted on the first call, shared afterwards.
    pub fn sse_frame(&self) -> Bytes {
        self.frame
            .get_or_init(|| {
                let mut out = Vec::new();
                sse::write_event(&mut out, &self.id, &self.notification.message);
                Bytes::from(out)
            })
            .clone()
    }

    /// The event as a line of a `raw` stream: the message alone (see
    /// [`sse::write_raw`]); a slice of [`Event::sse_frame`], whose `data:` line
    /// it is.
    pub fn raw_line(&self) -> Bytes {
        let frame = self.sse_frame();
        let message = self.notification.message.len();
        // The frame ends with the message, a newline and the blank line's newline.
        let end = frame.len() - 1;
        frame.slice(end - message - 1..end)
    }
}

/// Two events are equal when their ids and notifications are (formatted or not).
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.notification == other.notification
    }
}

impl Eq for Event {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_serves_sse_and_raw_subscribers() {
        let event = Event::new(
            "5-1".to_owned(),
            Notification {
                kind: Kind::Track,
                message: r#"{"EventKey":"e"}"#.into(),
            },
        );
        let frame = event.sse_frame();
        assert_eq!(&frame[..], b"id: 5-1\ndata: {\"EventKey\":\"e\"}\n\n");
        assert_eq!(&event.raw_line()[..], b"{\"EventKey\":\"e\"}\n");
        // Formatted once: later calls share the same bytes.
        assert_eq!(event.sse_frame().as_ptr(), frame.as_ptr());
        assert_eq!(
            event,
            Event::new("5-1".to_owned(), event.notification.clone())
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
