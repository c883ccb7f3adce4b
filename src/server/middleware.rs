//! The middleware of the API (and webhook) listener, outermost first: CORS, allowed
//! hosts, request id, content type, request counting, and the write timeout of
//! prompt routes; plus [`lazy_timeout`], the cheap timeout they and the body
//! extractor share.

use std::future::Future;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use super::{ApiError, Shared};
use crate::config::Settings;

/// Runs `future`, bounded by `limit` (zero: unbounded). The future is polled once
/// before any timer exists: nearly every request completes on that first poll, and
/// registering a timer costs more than the rest of a small request's middleware.
pub(crate) async fn lazy_timeout<F: Future>(
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(output) => Ok(output),
        std::task::Poll::Pending if limit.is_zero() => Ok(future.await),
        std::task::Poll::Pending => tokio::time::timeout(limit, future).await,
    }
}

/// `server.writeTimeout`: an answer not ready in time becomes a 503 (the stream
/// route is exempt: it never ends by itself).
pub(super) async fn write_timeout(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    match lazy_timeout(state.settings.server.write_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::WriteTimeout.into_response(),
    }
}

pub(super) fn cors(settings: &Settings) -> CorsLayer {
    let cors = &settings.api.cors;
    let any = |list: &[String]| list.iter().any(|v| v == "*");
    let mut layer = CorsLayer::new().max_age(Duration::from_secs(cors.max_age));
    layer = if any(&cors.allowed_origins) {
        layer.allow_origin(AllowOrigin::any())
    } else {
        layer.allow_origin(AllowOrigin::list(
            cors.allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        ))
    };
    layer = layer.allow_methods(AllowMethods::list(
        cors.allowed_methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok()),
    ));
    layer = if any(&cors.allowed_headers) {
        // A literal `*` is not honoured by browsers when credentials are allowed;
        // mirroring the request's headers is what `*` means to operators.
        layer.allow_headers(AllowHeaders::mirror_request())
    } else {
        layer.allow_headers(
            cors.allowed_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect::<Vec<_>>(),
        )
    };
    layer = layer.expose_headers(
        cors.exposed_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            .collect::<Vec<_>>(),
    );
    if cors.allowed_credentials && !any(&cors.allowed_origins) {
        layer = layer.allow_credentials(true);
    }
    layer
}

/// `Host` must be one of `server.allowedHosts` (or the bind host), or a subdomain
/// of one (a dot-boundary suffix: `localhost` allows `api.localhost`, never
/// `evil-localhost`; `.example.com` allows only subdomains); a single `.` entry
/// turns the check off. Otherwise 404 `invalid request host`.
pub(super) async fn allowed_hosts(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let hosts = &state.allowed_hosts;
    if hosts.iter().any(|h| h == ".") {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or("");
    let name = strip_port(host);
    if hosts.iter().any(|allowed| host_allowed(name, allowed)) {
        next.run(request).await
    } else {
        ApiError::InvalidHost.into_response()
    }
}

/// Whether `host` is `allowed` or a subdomain of it (ASCII case-insensitive); an
/// `allowed` starting with `.` matches subdomains only.
fn host_allowed(host: &str, allowed: &str) -> bool {
    let (host, allowed) = (host.as_bytes(), allowed.as_bytes());
    if allowed.is_empty() || host.len() < allowed.len() {
        return false;
    }
    let (head, tail) = host.split_at(host.len() - allowed.len());
    if !tail.eq_ignore_ascii_case(allowed) {
        return false;
    }
    if allowed[0] == b'.' {
        return !head.is_empty();
    }
    head.is_empty() || head.ends_with(b".") && head.len() > 1
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `::1`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Echoes `X-Request-Id`, or gives the response a new one.
pub(super) async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("-"))
        });
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-request-id", id);
    response
}

/// A POST with a body must say `Content-Type: application/json` (415 otherwise,
/// empty body, as upstream).
pub(crate) async fn content_type(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && has_body(&request) && !is_json(&request) {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(request).await
}

fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(len) => len.to_str().ok().and_then(|l| l.parse::<u64>().ok()) != Some(0),
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) async fn count_requests(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    // MatchedPath is an Arc inside: cloning it does not allocate.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.request(route, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lazy_timeout_bounds_only_what_does_not_finish_at_once() {
        let quick = lazy_timeout(Duration::from_millis(10), async { 7 }).await;
        assert_eq!(quick.unwrap(), 7);
        let slow = lazy_timeout(
            Duration::from_millis(10),
            tokio::time::sleep(Duration::from_secs(60)),
        )
        .await;
        assert!(slow.is_err());
        let unbounded = lazy_timeout(Duration::ZERO, async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            3
        })
        .await;
        assert_eq!(unbounded.unwrap(), 3);
    }

    #[test]
    fn allowed_hosts_match_whole_names_or_dot_boundary_suffixes() {
        let table = [
            ("localhost", "localhost", true),
            ("LocalHost", "localhost", true),
            ("api.localhost", "localhost", true),
            ("evil-localhost", "localhost", false),
            ("evillocalhost", "localhost", false),
            (".localhost", "localhost", false),
            ("localhost", ".localhost", false),
            ("api.localhost", ".localhost", true),
            ("a.b.example.com", ".example.com", true),
            ("badexample.com", ".example.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("1127.0.0.1", "127.0.0.1", false),
            ("anything", "", false),
        ];
        for (host, allowed, want) in table {
            assert_eq!(host_allowed(host, allowed), want, "{host} vs {allowed}");
        }
    }

    #[test]
    fn ports_are_stripped_from_host_headers() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("agent.example.com"), "agent.example.com");
    }
}
