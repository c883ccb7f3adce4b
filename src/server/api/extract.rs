//! Extractors and the SDK-key check every `/v1/*` route relies on: the SDK key
//! (validated, its datafile loaded), the size- and time-bounded JSON body, and
//! repeated query parameters. No handler lives here.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Uri;
use serde::Deserialize;

use crate::server::error::ApiError;
use crate::server::{MAX_BODY_BYTES, Shared};

/// `request` with its SDK key's [`Project`](crate::server::projects::Project) attached (its `sdk_key` is the key
/// without `:token`): `X-Optimizely-SDK-Key` validated and its datafile loaded
/// before the route runs (the route layer's SDK-key step).
pub(crate) async fn with_project(
    state: &Shared,
    mut request: Request,
) -> Result<Request, ApiError> {
    let project = {
        let header = match request.headers().get(crate::wire::SDK_KEY_HEADER) {
            None => "",
            Some(value) => value.to_str().unwrap_or("\u{0}"),
        };
        if header.is_empty() {
            return Err(ApiError::MissingSdkKey);
        }
        if !state.sdk_key_regex.is_match(header) {
            return Err(ApiError::InvalidSdkKey);
        }
        let key = header.split(':').next().unwrap_or(header);
        state.projects.get(key).await?
    };
    request.extensions_mut().insert(project);
    Ok(request)
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
            return Err(ApiError::ReadTimeout);
        };
        Ok(RawBody(limited?))
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
        Ok(serde_json::from_slice(bytes)?)
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
