//! The middleware of the API (and webhook) listener, outermost first: CORS, then
//! the [`Gate`] (allowed hosts, request id, content type) around the whole router,
//! then one [`RouteLayer`] per route (request counting, the SDK key, the write
//! timeout of prompt routes); plus [`lazy_timeout`], the cheap timeout the route
//! layer and the body extractor share.
//!
//! Both are plain tower services rather than `axum::middleware::from_fn`: a
//! `from_fn` layer boxes its inner service again and allocates a future on every
//! request, and `Router::layer` repeats each layer on every route. The gate wraps
//! the router once and allocates nothing; a route carries one layer.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either};
use tower::{Layer, Service, ServiceExt};
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
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending if limit.is_zero() => Ok(future.await),
        Poll::Pending => tokio::time::timeout(limit, future).await,
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

/// The request id header, echoed or set on every answer that passed the host check.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The checks a request passes before routing, in this order: its `Host` (404
/// `invalid request host` unless allowed; see [`host_allowed`]), its request id
/// (the `X-Request-Id` it sent, or a new UUID, set on the answer) and its content
/// type (a POST with a body must say `application/json`: 415, empty body, as
/// upstream). The API listener runs all three; the webhook listener only the
/// content type.
#[derive(Clone)]
pub(crate) struct GateLayer {
    /// Allowed hosts; `None`: every host is (no check, or a `.` entry).
    hosts: Option<Arc<[String]>>,
    request_ids: bool,
}

impl GateLayer {
    /// The API listener's gate: `server.allowedHosts` (with the bind host; a single
    /// `.` entry turns the check off), request ids and the content type.
    pub(crate) fn api(allowed_hosts: &[String]) -> Self {
        let open = allowed_hosts.iter().any(|h| h == ".");
        GateLayer {
            hosts: (!open).then(|| allowed_hosts.into()),
            request_ids: true,
        }
    }

    /// The webhook listener's gate: the content type only.
    pub(crate) fn webhook() -> Self {
        GateLayer {
            hosts: None,
            request_ids: false,
        }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            checks: self.clone(),
        }
    }
}

/// The service of [`GateLayer`] around a router.
#[derive(Clone)]
pub(crate) struct Gate<S> {
    inner: S,
    checks: GateLayer,
}

impl<S, B> Service<axum::http::Request<B>> for Gate<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GateFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        let answer = |error: ApiError, request_id| GateFuture {
            inner: Either::Right(ready(Ok(error.into_response()))),
            request_id,
        };
        if let Some(hosts) = &self.checks.hosts
            && !request_host_allowed(hosts, &request)
        {
            return answer(ApiError::InvalidHost, None);
        }
        let request_id = self
            .checks
            .request_ids
            .then(|| request_id(request.headers()));
        if request.method() == Method::POST
            && has_body(request.headers())
            && !is_json(request.headers())
            && request.uri().path() != super::auth::TOKEN_PATH
        {
            return answer(ApiError::UnsupportedMediaType, request_id);
        }
        GateFuture {
            inner: Either::Left(self.inner.call(request)),
            request_id,
        }
    }
}

/// The future of [`Gate`]: the router's answer, or the gate's own, with the
/// request id set.
pub(crate) struct GateFuture<F> {
    inner: Either<F, Ready<Result<Response, Infallible>>>,
    request_id: Option<HeaderValue>,
}

impl<F> Future for GateFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(mut response) = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        if let Some(id) = self.request_id.take() {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

/// Whether the request's `Host` (or its URI's host) is one of `hosts` or a
/// subdomain of one.
fn request_host_allowed(hosts: &[String], request: &Request) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or("");
    let name = strip_port(host);
    hosts.iter().any(|allowed| host_allowed(name, allowed))
}

/// Whether `host` is `allowed` or a subdomain of it (ASCII case-insensitive); an
/// `allowed` starting with `.` matches subdomains only (a dot-boundary suffix:
/// `localhost` allows `api.localhost`, never `evil-localhost`).
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

/// The `X-Request-Id` the request sent, or a new UUID v4.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(&REQUEST_ID).filter(|v| !v.is_empty()) {
        return id.clone();
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
}

fn has_body(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_LENGTH) {
        Some(len) => len.to_str().ok().and_then(|l| l.parse::<u64>().ok()) != Some(0),
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// What a route does around its handler, as the one layer it carries: count the
/// request by matched route and status (on `/metrics`); with [`auth`](Self::auth),
/// check the token first (`api.auth`); with [`sdk_key`](Self::sdk_key), validate `X-Optimizely-SDK-Key` and attach its
/// project before the handler runs; with [`write_timeout`](Self::write_timeout),
/// answer 503 when the handler is not done within `server.writeTimeout`.
#[derive(Clone)]
pub(crate) struct RouteLayer {
    state: Shared,
    auth: bool,
    sdk_key: bool,
    write_timeout: bool,
}

impl RouteLayer {
    /// Counting only.
    pub(crate) fn counted(state: &Shared) -> Self {
        RouteLayer {
            state: Arc::clone(state),
            auth: false,
            sdk_key: false,
            write_timeout: false,
        }
    }

    /// Also checks the token first when `api.auth` is configured.
    pub(crate) fn auth(mut self) -> Self {
        self.auth = true;
        self
    }

    /// Also resolves the SDK key first.
    pub(crate) fn sdk_key(mut self) -> Self {
        self.sdk_key = true;
        self
    }

    /// Also bounds the handler by `server.writeTimeout` (routes that answer
    /// promptly; the notification stream never ends by itself).
    pub(crate) fn write_timeout(mut self) -> Self {
        self.write_timeout = true;
        self
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    fn layer(&self, inner: S) -> RouteService<S> {
        RouteService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RouteLayer`] around one route.
#[derive(Clone)]
pub(crate) struct RouteService<S> {
    inner: S,
    layer: RouteLayer,
}

impl<S> Service<Request> for RouteService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // MatchedPath is an Arc inside: cloning it does not allocate.
        let route = request.extensions().get::<MatchedPath>().cloned();
        let inner = self.inner.clone();
        let layer = self.layer.clone();
        Box::pin(async move {
            let response = layer.run(inner, request).await;
            let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            layer
                .state
                .metrics
                .request(route, response.status().as_u16());
            Ok(response)
        })
    }
}

impl RouteLayer {
    async fn run<S>(&self, inner: S, mut request: Request) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        if self.auth
            && let Err(refusal) = super::auth::api_check(&self.state, &request)
        {
            return refusal.into_response();
        }
        if self.sdk_key {
            request = match super::api::with_project(&self.state, request).await {
                Ok(request) => request,
                Err(err) => return err.into_response(),
            };
        }
        let limit = if self.write_timeout {
            self.state.settings.server.write_timeout
        } else {
            Duration::ZERO
        };
        match lazy_timeout(limit, inner.oneshot(request)).await {
            Ok(Ok(response)) => response,
            Err(_) => ApiError::WriteTimeout.into_response(),
        }
    }
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
