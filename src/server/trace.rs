//! The request span of the API listener (`tracing.enabled`): one OpenTelemetry
//! server span per request, the parent of the spans the request causes (decision,
//! datafile fetch, notification publish). Added to the router only when tracing
//! is on, so a request pays nothing for it otherwise.
//!
//! Attributes, with upstream's names: `http.method`, `http.route` (the matched
//! route, not the path with its query), `http.status_code`; the SDK key only as
//! `optimizely.sdk_key_hash` (never the key, never the token of a `key:token`).
//!
//! A caller's W3C `traceparent` (and `tracestate`) header makes the request span a
//! child of the caller's span, in the caller's trace, as upstream reads it; the
//! caller's sampling decision then holds whatever `sampleRate` says.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::{self, TARGET};
use crate::wire::SDK_KEY_HEADER;

/// Runs the request inside its span and records the answer's status on it (a 5xx
/// also marks the span as an error).
pub(super) async fn request_span(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let key_hash = request
        .headers()
        .get(SDK_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(':').next())
        .filter(|key| !key.is_empty())
        .map(telemetry::sdk_key_hash);
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.method = %method,
        http.route = %route,
        http.status_code = tracing::field::Empty,
        optimizely.sdk_key_hash = key_hash.as_deref(),
    );
    let caller = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    // Fails only for a span the OpenTelemetry layer does not record (sampled out
    // by the log filter, say): nothing to link then.
    let _ = span.set_parent(caller);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
