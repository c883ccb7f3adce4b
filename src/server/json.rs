//! JSON responses encoded the way upstream's Go service encodes them, so clients that
//! compare bodies byte for byte keep working: `<`, `>`, `&`, U+2028 and U+2029 are
//! escaped (`\u003c` …) and every body ends with a newline (Go's `json.Encoder`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use crate::decide::to_go_json;

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
