//! `ApiError`: every error answer of the HTTP API, one variant per cause, with
//! upstream's status and body.
//!
//! Bodies are `{"error":"…"}` JSON (Go-encoded), except where upstream answers plain
//! text (disabled features, and the batch errors, whose text is JSON-like) or
//! nothing (415). Every error answer carries `X-Content-Type-Options: nosniff`, as
//! Go's `http.Error` answers do. `From` impls turn the causes other
//! layers report (a bad body, an unknown decide option, a datafile that cannot be
//! loaded, …) into the answer, so handlers use `?`. Details that would not help the
//! client are logged where the conversion happens, never sent.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::MAX_BODY_BYTES;
use super::json::GoJson;
use super::projects::LoadError;
use crate::decide::{InvalidOption, UnsupportedType};
use crate::notify::{GroupError, SubscriptionError};
use crate::wire::UnknownKind;

/// The upstream body for an SDK key no datafile can be found for.
const UNKNOWN_SDK_KEY: &str =
    "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden";

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The request is wrong in a way `msg` explains (400).
    BadRequest(String),
    /// The body is not the JSON the route expects (400).
    UnparsableBody,
    /// The body has no (or an empty) `userId` (400).
    MissingUserId,
    /// No `X-Optimizely-SDK-Key` header (400).
    MissingSdkKey,
    /// The SDK key does not match `client.sdkKeyRegex` (400).
    InvalidSdkKey,
    /// No datafile can be found for the SDK key (403, upstream's text).
    UnknownSdkKey,
    /// A feature the settings turn off (403, upstream's plain-text body).
    Disabled(&'static str),
    /// No route has this path (404, Go's plain-text `404 page not found`).
    UnknownPath,
    /// The `Host` is not one of `server.allowedHosts` (404).
    InvalidHost,
    /// The body did not arrive within `server.readTimeout` (408).
    ReadTimeout,
    /// The body is larger than [`MAX_BODY_BYTES`] (413).
    BodyTooLarge,
    /// A POST body that is not `application/json` (415, empty body).
    UnsupportedMediaType,
    /// A `/v1/batch` body that is not a batch (400, upstream's plain text).
    NotABatch,
    /// A batch with more operations than `server.batchRequests.operationsLimit`
    /// (422, upstream's plain text).
    TooManyOperations(usize),
    /// The request conflicts with what exists now, e.g. one consumer group more
    /// than `synchronization.pubsub.redis.max_groups` (409).
    Conflict(String),
    /// A failure on our side whose message upstream sends (500).
    Internal(String),
    /// The answer was not ready within `server.writeTimeout` (503).
    WriteTimeout,
    /// Redis, which the request needs (a resume, a consumer group), cannot be
    /// read now (503).
    Unavailable(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl ApiError {
    /// 400 with `{"error": msg}`.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }

    /// 500 with `{"error": msg}`.
    pub fn internal(msg: impl Into<String>) -> Self {
        ApiError::Internal(msg.into())
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_)
            | ApiError::UnparsableBody
            | ApiError::MissingUserId
            | ApiError::MissingSdkKey
            | ApiError::InvalidSdkKey
            | ApiError::NotABatch => StatusCode::BAD_REQUEST,
            ApiError::UnknownSdkKey | ApiError::Disabled(_) => StatusCode::FORBIDDEN,
            ApiError::InvalidHost | ApiError::UnknownPath => StatusCode::NOT_FOUND,
            ApiError::ReadTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyOperations(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::WriteTimeout | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` text of a JSON answer.
    fn message(&self) -> Cow<'_, str> {
        match self {
            ApiError::BadRequest(msg)
            | ApiError::Conflict(msg)
            | ApiError::Internal(msg)
            | ApiError::Unavailable(msg) => Cow::Borrowed(msg),
            ApiError::UnparsableBody => Cow::Borrowed("error parsing request body"),
            ApiError::MissingUserId => Cow::Borrowed("missing \"userId\" in request payload"),
            ApiError::MissingSdkKey => {
                Cow::Borrowed("missing required X-Optimizely-SDK-Key header")
            }
            ApiError::InvalidSdkKey => Cow::Borrowed("sdkKey failed validation"),
            ApiError::NotABatch => Cow::Borrowed("cannot decode the operation body"),
            ApiError::UnknownSdkKey => Cow::Borrowed(UNKNOWN_SDK_KEY),
            ApiError::InvalidHost => Cow::Borrowed("invalid request host"),
            ApiError::UnknownPath => Cow::Borrowed("404 page not found"),
            ApiError::ReadTimeout => {
                Cow::Borrowed("the request body was not received within server.readTimeout")
            }
            ApiError::BodyTooLarge => Cow::Owned(format!(
                "request body is larger than {MAX_BODY_BYTES} bytes"
            )),
            ApiError::TooManyOperations(limit) => {
                Cow::Owned(format!("too many operations, exceeding {limit} operations"))
            }
            ApiError::WriteTimeout => {
                Cow::Borrowed("the answer took longer than server.writeTimeout")
            }
            ApiError::Disabled(text) => Cow::Borrowed(text),
            ApiError::UnsupportedMediaType => Cow::Borrowed(""),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let text = |body: String| {
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response()
        };
        let mut response = match self {
            ApiError::UnsupportedMediaType => status.into_response(),
            ApiError::Disabled(body) => text(format!("{body}\n")),
            ApiError::UnknownPath => text(format!("{}\n", self.message())),
            // Upstream writes these with `http.Error` and a hand-made JSON text.
            ApiError::NotABatch | ApiError::TooManyOperations(_) => {
                text(format!("{{\"error\": \"{}\"}}\n", self.message()))
            }
            other => GoJson(
                status,
                Body {
                    error: &other.message(),
                },
            )
            .into_response(),
        };
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// A body that does not parse as the route's JSON.
impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        tracing::debug!("request body: {err}");
        ApiError::UnparsableBody
    }
}

/// A body that could not be read: too large, or broken off.
impl From<axum::Error> for ApiError {
    fn from(err: axum::Error) -> Self {
        let too_large = std::error::Error::source(&err)
            .is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
            || err.to_string().contains("length limit");
        if too_large {
            ApiError::BodyTooLarge
        } else {
            ApiError::UnparsableBody
        }
    }
}

/// An unknown `decideOptions` name.
impl From<InvalidOption> for ApiError {
    fn from(err: InvalidOption) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

/// An unknown activate `type`.
impl From<UnsupportedType> for ApiError {
    fn from(err: UnsupportedType) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

/// An unknown `filter` name on the notification stream.
impl From<UnknownKind> for ApiError {
    fn from(err: UnknownKind) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

/// A notification stream that cannot start: a bad resume point (400) or Redis
/// unavailable for the replay (503).
impl From<SubscriptionError> for ApiError {
    fn from(err: SubscriptionError) -> Self {
        match err {
            SubscriptionError::Unavailable(_) => ApiError::Unavailable(err.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// A consumer-group subscription that cannot start: a bad request (400), one group
/// too many (409), or Redis unavailable (503).
impl From<GroupError> for ApiError {
    fn from(err: GroupError) -> Self {
        if matches!(err, GroupError::TooMany { .. }) {
            ApiError::Conflict(err.to_string())
        } else if err.is_bad_request() {
            ApiError::BadRequest(err.to_string())
        } else {
            ApiError::Unavailable(err.to_string())
        }
    }
}

/// A datafile that cannot be loaded for the request's SDK key.
impl From<LoadError> for ApiError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Unknown { .. } => {
                tracing::debug!("{err}");
                ApiError::UnknownSdkKey
            }
            LoadError::Broken { ref sdk_key, .. } | LoadError::Unavailable { ref sdk_key, .. } => {
                tracing::error!("{err}");
                ApiError::Internal(format!(
                    "failed to instantiate Optimizely for SDK Key: {sdk_key}"
                ))
            }
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
            body(ApiError::Disabled("Overrides not enabled")).await,
            (StatusCode::FORBIDDEN, "Overrides not enabled\n".to_owned())
        );
        assert_eq!(
            body(ApiError::UnsupportedMediaType).await,
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new())
        );
        assert_eq!(ApiError::UnparsableBody.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn group_errors_are_400_409_or_503() {
        let too_many = GroupError::TooMany {
            group: "g".to_owned(),
            stream: "s".to_owned(),
            existing: 16,
            max: 16,
        };
        let unavailable = GroupError::Unavailable {
            group: "g".to_owned(),
            reason: "down".to_owned(),
        };
        for (err, status) in [
            (GroupError::NeedsStreams, StatusCode::BAD_REQUEST),
            (too_many, StatusCode::CONFLICT),
            (unavailable, StatusCode::SERVICE_UNAVAILABLE),
        ] {
            assert_eq!(ApiError::from(err).status(), status);
        }
    }

    #[tokio::test]
    async fn every_cause_keeps_its_status_and_text() {
        let cases = [
            (
                ApiError::MissingUserId,
                400,
                "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n",
            ),
            (
                ApiError::UnparsableBody,
                400,
                "{\"error\":\"error parsing request body\"}\n",
            ),
            (
                ApiError::InvalidHost,
                404,
                "{\"error\":\"invalid request host\"}\n",
            ),
            (
                ApiError::TooManyOperations(3),
                422,
                "{\"error\": \"too many operations, exceeding 3 operations\"}\n",
            ),
            (
                ApiError::NotABatch,
                400,
                "{\"error\": \"cannot decode the operation body\"}\n",
            ),
            (
                ApiError::BodyTooLarge,
                413,
                "{\"error\":\"request body is larger than 1048576 bytes\"}\n",
            ),
            (
                ApiError::WriteTimeout,
                503,
                "{\"error\":\"the answer took longer than server.writeTimeout\"}\n",
            ),
            (
                ApiError::ReadTimeout,
                408,
                "{\"error\":\"the request body was not received within server.readTimeout\"}\n",
            ),
        ];
        for (err, status, text) in cases {
            assert_eq!(
                body(err).await,
                (StatusCode::from_u16(status).unwrap(), text.to_owned())
            );
        }
    }

    #[test]
    fn every_error_answer_says_nosniff() {
        for err in [
            ApiError::MissingSdkKey,
            ApiError::Disabled("Overrides not enabled"),
            ApiError::UnsupportedMediaType,
            ApiError::NotABatch,
        ] {
            let response = err.into_response();
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
    }

    #[test]
    fn causes_from_other_layers_convert() {
        assert_eq!(
            ApiError::from(InvalidOption("NOPE".to_owned())),
            ApiError::BadRequest("invalid option: NOPE".to_owned())
        );
        assert_eq!(
            ApiError::from(UnsupportedType("x".to_owned())),
            ApiError::BadRequest("type \"x\" not supported".to_owned())
        );
        let unknown = LoadError::Unknown {
            sdk_key: "k".to_owned(),
            reason: "none".to_owned(),
        };
        assert_eq!(ApiError::from(unknown), ApiError::UnknownSdkKey);
        let broken = LoadError::Broken {
            sdk_key: "k".to_owned(),
            origin: "f".to_owned(),
            reason: "bad".to_owned(),
        };
        assert_eq!(
            ApiError::from(broken),
            ApiError::Internal("failed to instantiate Optimizely for SDK Key: k".to_owned())
        );
        let unavailable = LoadError::Unavailable {
            sdk_key: "k".to_owned(),
            reason: "connection refused".to_owned(),
        };
        assert_eq!(
            ApiError::from(unavailable),
            ApiError::Internal("failed to instantiate Optimizely for SDK Key: k".to_owned())
        );
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(ApiError::from(json), ApiError::UnparsableBody);
    }
}
