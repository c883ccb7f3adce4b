//! `ApiError`: every error answer of the HTTP API, with upstream's status and body.
//!
//! Bodies are `{"error":"…"}` JSON (Go-encoded), except where upstream answers plain
//! text (disabled features) or nothing (415). Details that would not help the client
//! are logged where the error is made, never sent.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::json::GoJson;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// `{"error": msg}` with the given status.
    Json(StatusCode, String),
    /// A plain-text body (upstream's answer for disabled features), newline added.
    Text(StatusCode, &'static str),
    /// A status with an empty body.
    Empty(StatusCode),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl ApiError {
    /// 400 with `{"error": msg}`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::Json(StatusCode::BAD_REQUEST, msg.into())
    }

    /// 500 with `{"error": msg}`.
    pub fn internal(msg: impl Into<String>) -> Self {
        ApiError::Json(StatusCode::INTERNAL_SERVER_ERROR, msg.into())
    }

    /// The body upstream sends when the request body is not the JSON it expects.
    pub fn unparsable_body() -> Self {
        Self::bad_request("error parsing request body")
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Json(status, _) | ApiError::Text(status, _) | ApiError::Empty(status) => {
                *status
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Json(status, msg) => GoJson(status, Body { error: &msg }).into_response(),
            ApiError::Text(status, text) => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{text}\n"),
            )
                .into_response(),
            ApiError::Empty(status) => status.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(err: ApiError) -> (StatusCode, String) {
        let response = err.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn errors_map_to_upstream_statuses_and_bodies() {
        assert_eq!(
            body(ApiError::bad_request(
                "missing \"userId\" in request payload"
            ))
            .await,
            (
                StatusCode::BAD_REQUEST,
                "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n".to_owned()
            )
        );
        assert_eq!(
            body(ApiError::Text(
                StatusCode::FORBIDDEN,
                "Overrides not enabled"
            ))
            .await,
            (StatusCode::FORBIDDEN, "Overrides not enabled\n".to_owned())
        );
        assert_eq!(
            body(ApiError::Empty(StatusCode::UNSUPPORTED_MEDIA_TYPE)).await,
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new())
        );
        assert_eq!(
            ApiError::unparsable_body().status(),
            StatusCode::BAD_REQUEST
        );
    }
}
