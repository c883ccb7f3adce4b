//! `/v1/batch`: runs several API operations through the API router in one request.
//!
//! Each operation is an independent request, as upstream makes it: only its own
//! `headers` are sent (plus the batch's `Host`, so the allowed-hosts check sees the
//! same host a separate request would), so every operation passes the SDK-key
//! middleware with its own key. The batch request itself needs no SDK key.
//! Operations that could never answer inside a batch (the SSE stream, a nested
//! batch) are refused at once with 400.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower::ServiceExt;

use super::extract::RawBody;
use crate::server::error::ApiError;
use crate::server::json::ok;
use crate::server::{ApiService, Shared};
use crate::wire::EVENT_STREAM_PATH;

/// The route of this handler (an operation may not target it).
pub(super) const BATCH_PATH: &str = "/v1/batch";

/// A batch body, typed as upstream decodes it: a value of another shape is not a
/// batch.
#[derive(Deserialize)]
struct BatchBody {
    #[serde(default)]
    operations: Vec<Operation>,
}

#[derive(Deserialize)]
struct Operation {
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default, rename = "operationID")]
    operation_id: String,
    #[serde(default)]
    body: Option<Map<String, Value>>,
    #[serde(default)]
    params: HashMap<String, String>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

#[derive(Serialize)]
struct OperationAnswer {
    status: u16,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "operationID")]
    operation_id: String,
    method: String,
    url: String,
    body: Value,
    #[serde(rename = "startedAt")]
    started_at: String,
    #[serde(rename = "endedAt")]
    ended_at: String,
}

#[derive(Serialize)]
struct BatchAnswer {
    #[serde(rename = "startedAt")]
    started_at: String,
    #[serde(rename = "endedAt")]
    ended_at: String,
    #[serde(rename = "errorCount")]
    error_count: usize,
    response: Vec<OperationAnswer>,
}

fn timestamp() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Runs each operation through the API router with its own headers, at most
/// `server.batchRequests.maxConcurrency` at a time.
pub(super) async fn batch(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let started_at = timestamp();
    let body = parse(&body.0).ok_or(ApiError::NotABatch)?;
    let limit = state.settings.server.batch_requests.operations_limit;
    if body.operations.len() > limit {
        return Err(ApiError::TooManyOperations(limit));
    }
    let router = crate::server::api_router(Arc::clone(&state));
    let permits = Arc::new(tokio::sync::Semaphore::new(
        state.settings.server.batch_requests.max_concurrency.max(1),
    ));
    let host = headers.get(header::HOST).cloned();
    let runs = body.operations.into_iter().map(|operation| {
        let router = router.clone();
        let permits = Arc::clone(&permits);
        let host = host.clone();
        async move {
            let _permit = permits.acquire().await.ok();
            run_operation(router, host, operation).await
        }
    });
    let response = futures_util::future::join_all(runs).await;
    let error_count = response.iter().filter(|r| r.status != 200).count();
    Ok(ok(BatchAnswer {
        started_at,
        ended_at: timestamp(),
        error_count,
        response,
    }))
}

/// The batch in `bytes`, decoded as upstream's Go decoder would: an object whose
/// `operations` (if any) is a list of objects.
fn parse(bytes: &[u8]) -> Option<BatchBody> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let objects = |v: &Value| {
        v.as_array()
            .is_some_and(|ops| ops.iter().all(Value::is_object))
    };
    match &value {
        Value::Object(map) if map.get("operations").is_none_or(objects) => {
            serde_json::from_value(value).ok()
        }
        _ => None,
    }
}

/// Why an operation is answered without running it.
fn refusal(url: &str) -> Option<&'static str> {
    let path = url.parse::<Uri>().ok()?.path().to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    if path == EVENT_STREAM_PATH {
        Some("the notification stream cannot be requested inside a batch")
    } else if path == BATCH_PATH {
        Some("a batch cannot contain another batch")
    } else {
        None
    }
}

/// The request an operation stands for: its method, URL (with `params` added to
/// the query), its own headers, the batch's `Host` unless it names one, and its
/// body as JSON (`Content-Type: application/json` unless it says otherwise).
fn request_of(operation: &Operation, host: Option<HeaderValue>) -> Result<Request, String> {
    let mut uri = operation.url.clone();
    if !operation.params.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &operation.params {
            query.append_pair(k, v);
        }
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(&query.finish());
    }
    let mut builder = Request::builder()
        .method(operation.method.to_uppercase().as_str())
        .uri(uri.as_str());
    let has = |name: &str| {
        operation
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case(name))
    };
    if let Some(host) = host.filter(|_| !has("host")) {
        builder = builder.header(header::HOST, host);
    }
    let body = match &operation.body {
        Some(map) => {
            if !has("content-type") {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
            }
            Body::from(serde_json::to_vec(map).map_err(|e| e.to_string())?)
        }
        None => Body::empty(),
    };
    for (name, value) in &operation.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(body).map_err(|e| e.to_string())
}

async fn run_operation(
    router: ApiService,
    host: Option<HeaderValue>,
    operation: Operation,
) -> OperationAnswer {
    let started_at = timestamp();
    let given_id = operation
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.clone());
    let (status, request_id, body) = if let Some(reason) = refusal(&operation.url) {
        (400, given_id, serde_json::json!({ "error": reason }))
    } else {
        match request_of(&operation, host) {
            Ok(request) => {
                let Ok(response) = router.oneshot(request).await;
                let status = response.status().as_u16();
                let request_id = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .or(given_id);
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).trim_end().to_owned())
                });
                (status, request_id, body)
            }
            Err(err) => (
                400,
                given_id,
                Value::String(format!("invalid operation: {err}")),
            ),
        }
    };
    OperationAnswer {
        status,
        request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        operation_id: operation.operation_id,
        method: operation.method,
        url: operation.url,
        body,
        started_at,
        ended_at: timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_nested_batches_are_refused() {
        assert!(refusal("/v1/notifications/event-stream?filter=track").is_some());
        assert!(refusal("/V1/Notifications/Event-Stream/").is_some());
        assert!(refusal("/v1/batch").is_some());
        assert!(refusal("/v1/decide?keys=a").is_none());
        assert!(refusal("not a url with spaces").is_none());
    }

    #[test]
    fn an_operation_carries_only_its_own_headers() {
        let operation: Operation = serde_json::from_str(
            r#"{"method":"post","url":"/v1/decide?a=1","params":{"keys":"f"},
                "body":{"userId":"u"},"headers":{"X-Optimizely-SDK-Key":"k"}}"#,
        )
        .unwrap();
        let request = request_of(&operation, Some(HeaderValue::from_static("h:1"))).unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri(), "/v1/decide?a=1&keys=f");
        let headers = request.headers();
        assert_eq!(headers["host"], "h:1");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-optimizely-sdk-key"], "k");
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn bodies_of_other_shapes_are_not_batches() {
        for body in [
            "",
            "[]",
            "\"x\"",
            r#"{"operations":{}}"#,
            r#"{"operations":[["GET","/v1/config"]]}"#,
            r#"{"operations":[{"body":[1]}]}"#,
        ] {
            assert!(parse(body.as_bytes()).is_none(), "{body}");
        }
        assert!(parse(b"{}").is_some());
        assert!(parse(br#"{"operations":[{"method":"GET"}]}"#).is_some());
    }
}
