//! Extractors and the SDK-key middleware every `/v1/*` route relies on: the SDK key
//! (validated, its datafile loaded), the size- and time-bounded JSON body, and
//! repeated query parameters. No handler lives here.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::server::error::ApiError;
use crate::server::projects::LoadError;
use crate::server::{MAX_BODY_BYTES, Shared};

/// The SDK key a request was made for (without `:token`), set by [`sdk_key`].
#[derive(Clone)]
pub(crate) struct SdkKey(pub String);

/// The upstream body for an SDK key no datafile can be found for.
const UNKNOWN_SDK_KEY: &str =
    "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden";

/// Validates `X-Optimizely-SDK-Key` and loads its datafile before the route runs.
pub(crate) async fn sdk_key(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get("x-optimizely-sdk-key")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        .unwrap_or_default();
    if header.is_empty() {
        return ApiError::bad_request("missing required X-Optimizely-SDK-Key header")
            .into_response();
    }
    if !state.sdk_key_regex.is_match(&header) {
        return ApiError::bad_request("sdkKey failed validation").into_response();
    }
    let key = header.split(':').next().unwrap_or(&header).to_owned();
    match state.projects.get(&key).await {
        Ok(project) => {
            request.extensions_mut().insert(project);
            request.extensions_mut().insert(SdkKey(key));
            next.run(request).await
        }
        Err(err @ LoadError::Unknown { .. }) => {
            tracing::debug!("{err}");
            ApiError::Json(StatusCode::FORBIDDEN, UNKNOWN_SDK_KEY.to_owned()).into_response()
        }
        Err(err @ LoadError::Broken { .. }) => {
            tracing::error!("{err}");
            ApiError::internal(format!(
                "failed to instantiate Optimizely for SDK Key: {key}"
            ))
            .into_response()
        }
    }
}

/// The request body, at most [`MAX_BODY_BYTES`]; larger bodies get 413.
pub(crate) struct RawBody(pub Bytes);

impl FromRequest<Shared> for RawBody {
    type Rejection = ApiError;

    /// Reads the body within `server.readTimeout` (408 past it).
    async fn from_request(request: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES);
        let Ok(limited) =
            crate::server::lazy_timeout(state.settings.server.read_timeout, read).await
        else {
            return Err(ApiError::Json(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received within server.readTimeout".to_owned(),
            ));
        };
        match limited {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(err) => {
                let too_large = std::error::Error::source(&err)
                    .is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
                    || err.to_string().contains("length limit");
                if too_large {
                    Err(ApiError::Json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                    ))
                } else {
                    Err(ApiError::unparsable_body())
                }
            }
        }
    }
}

impl RawBody {
    /// Parses the body as `T`; an empty body parses as `{}`.
    pub(super) fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ApiError> {
        let bytes: &[u8] = if self.0.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.0
        };
        serde_json::from_slice(bytes).map_err(|e| {
            tracing::debug!("request body: {e}");
            ApiError::unparsable_body()
        })
    }
}

/// The repeated values of query parameter `name`, in order.
pub(super) fn query_values(uri: &Uri, name: &str) -> Vec<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

pub(super) fn query_value(uri: &Uri, name: &str) -> Option<String> {
    query_values(uri, name).into_iter().next()
}
