//! `serve`: the Agent-compatible HTTP service.
//!
//! Three listeners, as upstream: the API (`/v1/*`, the SSE notification stream), the
//! admin endpoints (`/health`, `/info`, `/metrics`) and the datafile webhook. The
//! caller binds them ([`Server::bind`]) and owns the shutdown future
//! ([`Server::run`]), so tests bind port 0 and read the addresses back.
//!
//! Request path of `/v1/*`: CORS → request id → allowed hosts → content type and
//! body limit → SDK-key middleware (validates the key, loads its datafile) → route.

mod admin;
mod api;
pub mod cmab;
mod error;
pub mod events;
mod json;
mod listen;
mod metrics;
mod projects;
mod sse;
mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

pub use error::ApiError;
pub use json::to_go_json;
pub use projects::LoadError;

use crate::config::Settings;
use crate::notify::Hub;
use events::EventQueue;
use metrics::Metrics;
use projects::{ProjectSettings, Projects};

/// Most bytes accepted in one request body; larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({listener}): {source}")]
    Bind {
        /// Which listener: api, admin or webhook.
        listener: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
    /// A setting cannot be honoured.
    #[error("{0}")]
    Settings(String),
    /// A listener failed while serving.
    #[error("serving {listener}: {source}")]
    Serve {
        /// Which listener.
        listener: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

/// Where `serve` listens and reads datafiles from (flags over settings).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// API listener address.
    pub api: SocketAddr,
    /// Admin listener address.
    pub admin: SocketAddr,
    /// Webhook listener address.
    pub webhook: SocketAddr,
    /// Directory of `<sdkKey>.json` datafiles.
    pub datafiles: PathBuf,
}

/// What every handler shares.
pub(crate) struct AppState {
    settings: Settings,
    projects: Arc<Projects>,
    hub: Hub,
    /// Datafile sync between instances (`synchronization.datafile.enable`).
    datafile_sync: Option<Arc<crate::notify::PubSubHub>>,
    events: EventQueue,
    cmab: cmab::CmabClient,
    metrics: Arc<Metrics>,
    sdk_key_regex: regex::Regex,
    allowed_hosts: Vec<String>,
    cancel: CancellationToken,
    started: Instant,
}

type Shared = Arc<AppState>;

/// Bound listeners, ready to serve.
pub struct Server {
    state: Shared,
    api: TcpListener,
    admin: TcpListener,
    webhook: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    events_done: tokio::task::JoinHandle<()>,
    events_cancel: CancellationToken,
    hub_cancel: CancellationToken,
}

/// The bound addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// API listener.
    pub api: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
    /// Webhook listener.
    pub webhook: SocketAddr,
}

impl Server {
    /// Checks the settings, binds the three listeners and prepares the shared state
    /// (the event dispatcher starts here). Nothing is served until [`Server::run`].
    pub async fn bind(settings: Settings, options: ServeOptions) -> Result<Server, ServeError> {
        refuse_unsupported(&settings)?;
        let sdk_key_regex = regex::Regex::new(&settings.client.sdk_key_regex).map_err(|e| {
            ServeError::Settings(format!(
                "client.sdkKeyRegex {:?} is not a valid regular expression: {e}",
                settings.client.sdk_key_regex
            ))
        })?;
        let tls = match (
            settings.server.cert_file.as_str(),
            settings.server.key_file.as_str(),
        ) {
            ("", "") => None,
            ("", _) | (_, "") => {
                return Err(ServeError::Settings(
                    "server.certFile and server.keyFile must be set together".to_owned(),
                ));
            }
            (cert, key) => Some(listen::tls_config(
                cert,
                key,
                &settings.server.disabled_ciphers,
            )?),
        };
        let bind = |listener, addr| {
            listen::bind(addr).map_err(|source| ServeError::Bind {
                listener,
                addr,
                source,
            })
        };
        let api = bind("api", options.api)?;
        let admin = bind("admin", options.admin)?;
        let webhook = bind("webhook", options.webhook)?;

        let cancel = CancellationToken::new();
        // Like the event dispatcher, the hub outlives the listeners to flush.
        let hub_cancel = CancellationToken::new();
        let hub = Hub::from_settings(&settings, hub_cancel.clone())
            .await
            .map_err(|e| ServeError::Settings(format!("notification hub: {e}")))?;
        tracing::info!(hub = hub.name(), "notification hub ready");
        let metrics = Arc::new(Metrics::default());
        let projects = Arc::new(Projects::new(
            ProjectSettings::from_settings(&settings, options.datafiles.clone()),
            hub.clone(),
            Arc::clone(&metrics),
            cancel.clone(),
        ));
        // The dispatcher outlives the listeners so that events of the last requests
        // are flushed: it has its own token, cancelled after the listeners stop.
        let events_cancel = CancellationToken::new();
        let (events, events_done) = events::start(
            events::EventSettings::from_client(&settings.client),
            events_cancel.clone(),
        )
        .map_err(|e| ServeError::Settings(format!("client.eventURL: {e}")))?;
        let cmab = cmab::CmabClient::new(&settings.client.cmab)
            .map_err(|e| ServeError::Settings(format!("client.cmab: {e}")))?;
        let mut allowed_hosts = settings.server.allowed_hosts.clone();
        allowed_hosts.push(settings.server.host.clone());
        allowed_hosts.push(options.api.ip().to_string());
        let datafile_sync = if settings.synchronization.datafile.enable {
            let sync = crate::notify::PubSubHub::start(
                &settings.synchronization.pubsub.redis,
                // Only the datafile channel matters here; notifications, if any
                // arrive, have no subscribers in this fan-out.
                Arc::new(crate::notify::Fanout::new(1)),
                hub_cancel.clone(),
            )
            .map_err(|e| ServeError::Settings(format!("datafile sync: {e}")))?;
            let mut changes = sync.datafile_changes();
            let registry = Arc::clone(&projects);
            let stop = cancel.clone();
            tokio::spawn(async move {
                loop {
                    let sdk_key = tokio::select! {
                        () = stop.cancelled() => return,
                        next = changes.recv() => match next {
                            Ok(key) => key,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        },
                    };
                    let changed = registry.refresh(&sdk_key).await;
                    tracing::info!(sdk_key, changed, "datafile change announced by an instance");
                }
            });
            Some(sync)
        } else {
            None
        };
        let state = Arc::new(AppState {
            settings,
            projects,
            hub,
            datafile_sync,
            events,
            cmab,
            metrics,
            sdk_key_regex,
            allowed_hosts,
            cancel,
            started: Instant::now(),
        });
        Ok(Server {
            state,
            api,
            admin,
            webhook,
            tls,
            events_done,
            events_cancel,
            hub_cancel,
        })
    }

    /// The bound addresses (port 0 resolved).
    pub fn addresses(&self) -> std::io::Result<Addresses> {
        Ok(Addresses {
            api: self.api.local_addr()?,
            admin: self.admin.local_addr()?,
            webhook: self.webhook.local_addr()?,
        })
    }

    /// Serves until `shutdown` completes, then stops accepting, ends every SSE
    /// stream, waits for in-flight requests, flushes queued events and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state;
        prefetch(&state).await;
        let cancel = state.cancel.clone();
        tokio::spawn({
            let cancel = cancel.clone();
            async move {
                shutdown.await;
                cancel.cancel();
            }
        });
        let api = api_router(Arc::clone(&state));
        let admin = admin::router(Arc::clone(&state));
        let webhook = webhook::router(Arc::clone(&state));
        let (a, b, c) = tokio::join!(
            serve("api", self.api, api, self.tls.clone(), cancel.clone()),
            serve("admin", self.admin, admin, self.tls.clone(), cancel.clone()),
            serve("webhook", self.webhook, webhook, self.tls, cancel.clone()),
        );
        cancel.cancel();
        self.events_cancel.cancel();
        let _ = self.events_done.await;
        self.hub_cancel.cancel();
        state.hub.finished().await;
        state.projects.stopped().await;
        tracing::info!("stopped");
        a.and(b).and(c)
    }
}

async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    cancel: CancellationToken,
) -> Result<(), ServeError> {
    let shutdown = cancel.clone().cancelled_owned();
    let result = match tls {
        None => {
            axum::serve(listen::Plain(listener), router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            let listener =
                listen::Tls::new(listener, config, cancel).map_err(|source| ServeError::Serve {
                    listener: name,
                    source,
                })?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    result.map_err(|source| ServeError::Serve {
        listener: name,
        source,
    })
}

/// Settings whose behaviour `serve` does not implement and must not silently ignore.
fn refuse_unsupported(settings: &Settings) -> Result<(), ServeError> {
    for (key, auth) in [
        ("api.auth", &settings.api.auth),
        ("admin.auth", &settings.admin.auth),
    ] {
        if !auth.hmac_secrets.is_empty() || !auth.jwks_url.is_empty() || !auth.clients.is_empty() {
            return Err(ServeError::Settings(format!(
                "{key} is configured, but agentctl serve does not implement token \
                 authentication; remove {key} (and put an authenticating proxy in front) \
                 rather than run unauthenticated by surprise"
            )));
        }
    }
    Ok(())
}

/// Loads `sdkKeys` and every datafile of the datafiles directory at start, so a
/// broken file is reported now, naming the file, rather than on first use.
async fn prefetch(state: &Shared) {
    let mut keys = state.projects.local_keys();
    for key in &state.settings.sdk_keys {
        let key = key.split(':').next().unwrap_or(key).to_owned();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        if let Err(err) = state.projects.get(&key).await {
            tracing::error!("{err}");
        }
    }
}

/// The API router with every middleware.
fn api_router(state: Shared) -> Router {
    let quick = api::routes().layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        write_timeout,
    ));
    let v1 = quick
        .merge(sse::routes())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            api::sdk_key,
        ));
    Router::new()
        .merge(v1)
        .route("/health", axum::routing::get(admin::health))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .layer(middleware::from_fn(content_type))
        .layer(middleware::from_fn(request_id))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            allowed_hosts,
        ))
        .layer(cors(&state.settings))
        .with_state(state)
}

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
async fn write_timeout(State(state): State<Shared>, request: Request, next: Next) -> Response {
    match lazy_timeout(state.settings.server.write_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Json(
            StatusCode::SERVICE_UNAVAILABLE,
            "the answer took longer than server.writeTimeout".to_owned(),
        )
        .into_response(),
    }
}

fn cors(settings: &Settings) -> CorsLayer {
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

/// `Host` must end with one of `server.allowedHosts` (or the bind host); a single
/// `.` entry turns the check off. Otherwise 404 `invalid request host`.
async fn allowed_hosts(State(state): State<Shared>, request: Request, next: Next) -> Response {
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
    if hosts
        .iter()
        .any(|allowed| !allowed.is_empty() && name.ends_with(allowed.as_str()))
    {
        next.run(request).await
    } else {
        ApiError::Json(StatusCode::NOT_FOUND, "invalid request host".to_owned()).into_response()
    }
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
async fn request_id(request: Request, next: Next) -> Response {
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
        return ApiError::Empty(StatusCode::UNSUPPORTED_MEDIA_TYPE).into_response();
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

async fn count_requests(State(state): State<Shared>, request: Request, next: Next) -> Response {
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
    fn ports_are_stripped_from_host_headers() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("agent.example.com"), "agent.example.com");
    }
}
