//! JSON encoded the way Go's `encoding/json` encodes it, so clients that compare
//! bodies byte for byte keep working: compact, with `<`, `>`, `&`, U+2028 and U+2029
//! escaped (`\u003c` …), and, for whole bodies, a trailing newline (`json.Encoder`).

use std::io;

use serde::Serialize;

/// serde_json's compact formatter plus Go's HTML-safe string escaping.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Byte scan: `<`, `>`, `&` are ASCII, and U+2028/U+2029 are the only
        // escaped characters whose UTF-8 starts with 0xE2 (E2 80 A8 / E2 80 A9);
        // runs between them are copied whole.
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut at = 0;
        while at < bytes.len() {
            let (escaped, len) = match bytes[at] {
                b'<' => ("\\u003c", 1),
                b'>' => ("\\u003e", 1),
                b'&' => ("\\u0026", 1),
                0xE2 if bytes.get(at + 1) == Some(&0x80) => match bytes.get(at + 2) {
                    Some(0xA8) => ("\\u2028", 3),
                    Some(0xA9) => ("\\u2029", 3),
                    _ => {
                        at += 1;
                        continue;
                    }
                },
                _ => {
                    at += 1;
                    continue;
                }
            };
            writer.write_all(&bytes[start..at])?;
            writer.write_all(escaped.as_bytes())?;
            at += len;
            start = at;
        }
        writer.write_all(&bytes[start..])
    }
}

/// Encodes `value` as Go's `json.Encoder` would, with the trailing newline.
///
/// # Errors
///
/// What `value`'s `Serialize` reports (never, for the engine's own types).
pub fn to_go_json(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    // A decision with a few attributes and variables fits without growing.
    let mut out = Vec::with_capacity(1024);
    write_go_json(&mut out, value)?;
    out.push(b'\n');
    Ok(out)
}

/// Appends `value` to `out` as Go's `json.Marshal` would (no newline).
pub(crate) fn write_go_json(
    out: &mut Vec<u8>,
    value: &impl Serialize,
) -> Result<(), serde_json::Error> {
    let mut serializer = serde_json::Serializer::with_formatter(out, GoFormatter);
    value.serialize(&mut serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go_and_ends_with_a_newline() {
        let body = to_go_json(&serde_json::json!({"a": "<b> & \u{2028}é"})).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "{\"a\":\"\\u003cb\\u003e \\u0026 \\u2028é\"}\n"
        );
        // Other characters starting with 0xE2 (U+2027, U+202A, U+20AC) are kept,
        // U+2029 is escaped, and escapes at either end of a string work.
        let body = to_go_json(&"&\u{2027}\u{2029}\u{202A}€ü\"\n>").unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "\"\\u0026\u{2027}\\u2029\u{202A}€ü\\\"\\n\\u003e\"\n"
        );
    }
}
