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
        let mut start = 0;
        for (at, ch) in fragment.char_indices() {
            let escaped = match ch {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..at])?;
            writer.write_all(escaped.as_bytes())?;
            start = at + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
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
    }
}
