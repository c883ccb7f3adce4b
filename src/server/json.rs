//! JSON responses encoded the way upstream's Go service encodes them, so clients that
//! compare bodies byte for byte keep working: `<`, `>`, `&`, U+2028 and U+2029 are
//! escaped (`\u003c` …) and every body ends with a newline (Go's `json.Encoder`).

use std::io;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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

/// Encodes `value` as Go would, with the trailing newline.
pub fn to_go_json(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut serializer)?;
    out.push(b'\n');
    Ok(out)
}

/// A JSON response body encoded by [`to_go_json`].
pub struct GoJson<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for GoJson<T> {
    fn into_response(self) -> Response {
        match to_go_json(&self.1) {
            Ok(body) => (
                self.0,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(err) => {
                tracing::error!("encoding a response: {err}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// A 200 JSON response.
pub fn ok<T: Serialize>(value: T) -> Response {
    GoJson(StatusCode::OK, value).into_response()
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
