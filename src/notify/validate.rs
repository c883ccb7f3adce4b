//! The check every envelope read from Redis passes before it can reach an SSE
//! client (DESIGN §6, issue 11 item 8): anyone who can write to the stream or the
//! channel can write anything, so an entry is a notification only when it is a
//! bounded envelope (at most [`MAX_ENVELOPE_BYTES`], nested at most [`MAX_DEPTH`]
//! deep) whose `message` is a JSON object. Anything else is refused with a reason;
//! the readers skip it, count it as undecodable and log it once per stream.
//!
//! The bounds are checked on the raw text before it is parsed, so an 8 MiB payload
//! or a 100,000-deep array costs one linear scan, never a parse.

use super::{EnvelopeError, Notification};

/// The largest envelope accepted: 1 MiB. Notifications this service writes are a
/// few hundred bytes; a decision with large JSON variables stays far below.
pub(crate) const MAX_ENVELOPE_BYTES: usize = 1 << 20;

/// The deepest nesting of arrays and objects accepted in an envelope (the
/// envelope object itself counts as one level).
pub(crate) const MAX_DEPTH: usize = 64;

/// Reads `text` as a notification envelope ([`Notification::from_envelope`]) after
/// checking its size and nesting, and that its `message` is a JSON object.
///
/// # Errors
///
/// [`EnvelopeError`] naming what is wrong.
pub(crate) fn read_envelope(text: &str) -> Result<Notification, EnvelopeError> {
    if text.len() > MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError(format!(
            "{} bytes, more than the {MAX_ENVELOPE_BYTES} accepted",
            text.len()
        )));
    }
    if depth_exceeds(text, MAX_DEPTH) {
        return Err(EnvelopeError(format!(
            "nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let notification = Notification::from_envelope(text)?;
    if !notification.message.starts_with('{') {
        return Err(EnvelopeError("`message` is not a JSON object".to_owned()));
    }
    Ok(notification)
}

/// Whether arrays and objects in the JSON text `text` nest deeper than `limit`
/// (brackets inside strings do not count; the text need not be valid JSON).
///
/// Runs on every entry a reader delivers, so it jumps between the bytes that
/// matter (a string is skipped to its closing quote, escapes included) instead of
/// tracking a state per byte.
fn depth_exceeds(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .iter()
        .position(|b| matches!(b, b'"' | b'[' | b'{' | b']' | b'}'))
    {
        at += found;
        match bytes[at] {
            b'"' => match string_end(bytes, at + 1) {
                Some(end) => at = end,
                // An unterminated string: nothing after it counts.
                None => return false,
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            _ => depth = depth.saturating_sub(1),
        }
        at += 1;
    }
    false
}

/// The index of the quote closing the string whose contents start at `from`
/// (a backslash escapes the byte after it); `None` when it is not closed.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let found = from
            + bytes
                .get(from..)?
                .iter()
                .position(|b| matches!(b, b'"' | b'\\'))?;
        if bytes[found] == b'"' {
            return Some(found);
        }
        from = found + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_object_messages_within_bounds() {
        let text = r#"{"type":"track","message":{"EventKey":"e","Tags":{"a":[1,[2]]}}}"#;
        assert_eq!(read_envelope(text).unwrap().kind, super::super::Kind::Track);
        let brackets_in_strings = format!(
            r#"{{"type":"track","message":{{"EventKey":"{}\"["}}}}"#,
            "[".repeat(500)
        );
        assert!(read_envelope(&brackets_in_strings).is_ok());
    }

    #[test]
    fn depth_skips_strings_and_their_escapes() {
        assert!(!depth_exceeds(r#"{"a":"[[[[\"[[["}"#, 1));
        assert!(depth_exceeds(r#"{"a":"\\",[[]]}"#, 2));
        assert!(!depth_exceeds(r#"{"a":"\\",[[]]}"#, 3));
        assert!(depth_exceeds(r#"[{"k":"\u005b"},[[{}]]]"#, 3));
        assert!(!depth_exceeds(r#"[{"k":"\u005b"},[[{}]]]"#, 4));
        // Unterminated strings and escapes at the very end end the scan.
        assert!(!depth_exceeds(r#"[["abc"#, 2));
        assert!(!depth_exceeds(r#"[["abc\"#, 2));
        assert!(depth_exceeds(r#"[[["abc"#, 2));
        assert!(!depth_exceeds("]]]}}}[", 1));
        assert!(depth_exceeds("]]]}}}[[", 1));
    }

    #[test]
    fn refuses_non_objects_oversize_and_deep_nesting() {
        for message in ["42", "\"text\"", "[1,2]", "null"] {
            let text = format!(r#"{{"type":"decision","message":{message}}}"#);
            let err = read_envelope(&text).unwrap_err().to_string();
            assert!(err.contains("not a JSON object"), "{message}: {err}");
        }
        let big = format!(
            r#"{{"type":"decision","message":{{"x":"{}"}}}}"#,
            "a".repeat(MAX_ENVELOPE_BYTES)
        );
        assert!(
            read_envelope(&big)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
        let deep = format!(
            r#"{{"type":"decision","message":{{"x":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(
            read_envelope(&deep)
                .unwrap_err()
                .to_string()
                .contains("nested")
        );
        let just_inside = format!(
            r#"{{"type":"decision","message":{{"x":{}{}}}}}"#,
            "[".repeat(MAX_DEPTH - 2),
            "]".repeat(MAX_DEPTH - 2)
        );
        assert!(read_envelope(&just_inside).is_ok());
        assert!(read_envelope("42").is_err());
    }
}
