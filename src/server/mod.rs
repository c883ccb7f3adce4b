//! `serve`: the Agent-compatible HTTP service.
//!
//! Three listeners, as upstream: the API (`/v1/*`, the SSE notification stream), the
//! admin endpoints (`/health`, `/info`, `/metrics`) and the datafile webhook. The
//! caller binds them ([`Server::bind`]) and owns the shutdown future
//! ([`Server::run`]), so tests bind port 0 and read the addresses back.
//!
//! Request path of `/v1/*`: CORS → allowed hosts → request id → content type →
//! route → (request span, with `tracing.enabled`) → request counting → token check (with `api.auth`) → SDK key (validates
//! the key, loads its datafile) → write timeout → handler (body limit). A path no
//! route matches is a 404 before the SDK-key check. The token endpoint
//! `/oauth/token` (on both listeners) takes a form body, so the gate's JSON
//! content-type check skips it. See `middleware`.
//!
//! Layout: this file holds the router and [`Server::run`]; `state` builds the shared
//! state ([`Server::bind`]); `middleware` is the request path above; `api/` holds
//! the `/v1/*` extractors and one file per resource; `sse` the notification stream;
//! `publish` the one door to the hub; `trace` the request span (`tracing.*`); `error` the [`ApiError`] answers; `docs` the
//! API description, the OpenAPI document and the 404 of other paths; `admin`,
//! `webhook`, `metrics`, `projects` (datafiles per SDK key), `listen` (TCP/TLS),
//! `auth` (tokens) and `json` the rest. The outbound HTTP clients are in [`crate::outbound`].

mod admin;
mod api;
mod auth;
mod docs;
mod error;
mod json;
mod listen;
mod metrics;
mod middleware;
mod odp;
mod projects;
mod publish;
#[cfg(test)]
mod router_tests;
mod sse;
mod state;
mod trace;
mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::Cors;

pub use auth::generate_client_secret;
pub use error::ApiError;
pub use json::to_go_json;
pub use projects::LoadError;

pub(crate) use middleware::lazy_timeout;
use middleware::{GateLayer, RouteLayer};
use state::{AppState, prefetch};

type Shared = Arc<AppState>;

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

/// Bound listeners, ready to serve.
pub struct Server {
    state: Shared,
    api: TcpListener,
    admin: TcpListener,
    webhook: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    caps: listen::ConnectionCaps,
    events_done: tokio::task::JoinHandle<()>,
    /// The ODP event dispatcher, also stopped by `events_cancel`.
    odp_done: tokio::task::JoinHandle<()>,
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
    /// Connection failures are per connection; serving itself does not fail.
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
        let limits = |max_conns| listen::Limits {
            max_conns,
            header_read_timeout: state.settings.server.read_timeout,
            tls: self.tls.clone(),
        };
        tokio::join!(
            listen::serve("api", self.api, api, limits(self.caps.api), cancel.clone()),
            listen::serve(
                "admin",
                self.admin,
                admin,
                limits(self.caps.admin),
                cancel.clone()
            ),
            listen::serve(
                "webhook",
                self.webhook,
                webhook,
                limits(self.caps.webhook),
                cancel.clone()
            ),
        );
        cancel.cancel();
        self.events_cancel.cancel();
        let _ = self.events_done.await;
        let _ = self.odp_done.await;
        self.hub_cancel.cancel();
        state.hub.finished().await;
        state.projects.stopped().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The API service: CORS around the [`Gate`](middleware::Gate) around the router,
/// whose routes each carry one [`RouteLayer`](middleware::RouteLayer).
pub(crate) type ApiService = Cors<middleware::Gate<Router>>;

/// The API router with every middleware.
pub(crate) fn api_router(state: Shared) -> ApiService {
    let counted = RouteLayer::counted(&state);
    let guarded = counted.clone().auth();
    let prompt = api::routes().layer(guarded.clone().sdk_key().write_timeout());
    let stream = sse::routes().layer(guarded.clone().sdk_key());
    let keyless = api::keyless_routes().layer(guarded.write_timeout());
    let token = auth::token_route(auth::api_token).layer(counted.clone());
    let rest = Router::new()
        .route("/health", axum::routing::get(admin::health))
        .merge(docs::routes())
        .fallback(docs::not_found)
        .layer(counted);
    let router = Router::new()
        .merge(prompt)
        .merge(stream)
        .merge(keyless)
        .merge(token)
        .merge(rest);
    // Around every route, so the request span covers its handling (datafile fetch
    // included); absent when tracing is off, so requests pay nothing for it.
    let router = if state.settings.tracing.enabled {
        router.layer(axum::middleware::from_fn(trace::request_span))
    } else {
        router
    };
    let router = router.with_state(Arc::clone(&state));
    ServiceBuilder::new()
        .layer(middleware::cors(&state.settings))
        .layer(GateLayer::api(&state.allowed_hosts))
        .service(router)
}
