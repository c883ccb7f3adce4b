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
            // Eight bytes at a time while none of them is a candidate.
            if let Some(word) = word_at(bytes, at)
                && !has_go_escape_candidate(word)
            {
                at += 8;
                continue;
            }
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

/// A byte value repeated in every byte of a word when multiplied by it.
const EVERY_BYTE: u64 = u64::from_le_bytes([1; 8]);
/// The high bit of every byte of a word.
const HIGH_BITS: u64 = EVERY_BYTE << 7;

/// The eight bytes of `bytes` from `at` as one word, if there are eight.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Whether any byte of `word` is `<`, `>`, `&` or 0xE2 (the lead byte of U+2028
/// and U+2029): a test of the whole word, exact as a yes/no.
fn has_go_escape_candidate(word: u64) -> bool {
    // The high bit of a byte that is 0 (a borrow may also flag bytes above it, so
    // this tells whether, not which).
    let zero = |x: u64| x.wrapping_sub(EVERY_BYTE) & !x & HIGH_BITS;
    // `<` (0x3C) and `>` (0x3E) are the bytes that are 0x3E with bit 1 set.
    let angle = (word | (EVERY_BYTE * 0x02)) ^ (EVERY_BYTE * 0x3E);
    let ampersand = word ^ (EVERY_BYTE * 0x26);
    let lead = word ^ (EVERY_BYTE * 0xE2);
    zero(angle) | zero(ampersand) | zero(lead) != 0
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

    #[test]
    fn the_word_test_finds_every_go_escape_at_every_position() {
        // Each byte value alone at each position of a word: only the four are
        // flagged.
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut word = [b'a'; 8];
                word[position] = byte;
                let flagged = has_go_escape_candidate(u64::from_le_bytes(word));
                assert_eq!(
                    flagged,
                    matches!(byte, b'<' | b'>' | b'&' | 0xE2),
                    "{byte:#x}"
                );
            }
        }
        // Long strings with escapes before, inside and after whole words.
        let text = "0123456789<abcdefgh>ijklmnopqrstuvw&xyz\u{2028}0123456789abcdef\u{2029}";
        let body = String::from_utf8(to_go_json(&text).unwrap()).unwrap();
        assert_eq!(body, format!("{}\n", char_by_char(text)));
    }

    /// Go's escaping of a string without JSON escapes, a character at a time.
    fn char_by_char(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
