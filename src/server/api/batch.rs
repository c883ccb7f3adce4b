//! `/v1/batch`: runs several API operations through the API router in one request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;

use super::extract::RawBody;
use crate::server::Shared;
use crate::server::error::ApiError;
use crate::server::json::ok;

#[derive(Deserialize)]
struct BatchBody {
    #[serde(default)]
    operations: Vec<Operation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default, rename = "operationID")]
    operation_id: String,
    #[serde(default)]
    body: Option<Value>,
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

/// Runs each operation through the API router (with the batch request's headers,
/// overridden by the operation's), at most `server.batchRequests.maxConcurrency`
/// at a time.
pub(super) async fn batch(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let started_at = timestamp();
    let body: BatchBody = body.json()?;
    let limit = state.settings.server.batch_requests.operations_limit;
    if body.operations.len() > limit {
        return Err(ApiError::TooManyOperations(limit));
    }
    let router = crate::server::api_router(Arc::clone(&state));
    let permits = Arc::new(tokio::sync::Semaphore::new(
        state.settings.server.batch_requests.max_concurrency.max(1),
    ));
    let runs = body.operations.into_iter().map(|operation| {
        let router = router.clone();
        let permits = Arc::clone(&permits);
        let headers = headers.clone();
        async move {
            let _permit = permits.acquire().await.ok();
            run_operation(router, &headers, operation).await
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

async fn run_operation(
    router: Router,
    headers: &HeaderMap,
    operation: Operation,
) -> OperationAnswer {
    let started_at = timestamp();
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
    for (name, value) in headers {
        if name != axum::http::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    for (name, value) in &operation.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request_id = operation
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = match &operation.body {
        Some(value) => Body::from(serde_json::to_vec(value).unwrap_or_default()),
        None => Body::empty(),
    };
    let (status, body) = match builder.body(body) {
        Ok(request) => match router.oneshot(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).trim_end().to_owned())
                });
                (status, body)
            }
            Err(never) => match never {},
        },
        Err(err) => (400, Value::String(format!("invalid operation: {err}"))),
    };
    OperationAnswer {
        status,
        request_id,
        operation_id: operation.operation_id,
        method: operation.method,
        url: operation.url,
        body,
        started_at,
        ended_at: timestamp(),
    }
}
