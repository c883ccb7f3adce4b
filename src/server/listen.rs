//! Listening sockets and the connection loop of the three listeners.
//!
//! - A 4096-connection backlog (a reconnect storm of SSE clients overflows the
//!   default 128, PERF-NOTES trap 3) and TCP_NODELAY on every accepted socket (Nagle
//!   delays small SSE writes, trap 2).
//! - A connection cap per listener ([`ConnectionCaps`]): the soft open-file limit is
//!   raised to the hard one at start, and the caps of the three listeners stay below
//!   it with headroom for Redis, datafile and event connections. The admin and
//!   webhook listeners have their own small caps, so a flood of API connections
//!   never takes the health check down. A connection over the cap gets a 503 (plain
//!   HTTP) or is closed at once (TLS).
//! - `server.readTimeout` bounds the wait for a request's headers: a connection that
//!   sends nothing, half a request line, or stays idle between keep-alive requests
//!   is closed after it (as upstream's Go server, whose header and idle timeouts
//!   default to its read timeout). A response being written (an SSE stream) is not
//!   waiting for headers, so streams are exempt.
//! - `accept` errors (the process out of descriptors: EMFILE/ENFILE) back off
//!   exponentially up to a second instead of spinning.
//! - Optional TLS via rustls; the handshake runs in the connection's own task.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::convert::Infallible;

use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::util::Backoff;

/// What a listener serves: a router, with or without middleware around it.
pub trait HttpService:
    Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// Connections that may wait to be accepted.
const BACKLOG: u32 = 4096;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` with a large backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{what} {path}: {reason}")]
    File {
        /// "certificate file" or "key file".
        what: &'static str,
        /// The path from the configuration.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS certificate and key do not work together: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the rustls server configuration from PEM files (`server.certFile`,
/// `server.keyFile`); cipher suites named in `disabled` are left out.
pub fn tls_config(
    cert_file: &str,
    key_file: &str,
    disabled: &[String],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(Path::new(cert_file))
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| TlsError::File {
            what: "certificate file",
            path: cert_file.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            what: "certificate file",
            path: cert_file.to_owned(),
            reason: "no PEM certificate in it".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(Path::new(key_file)).map_err(|e| TlsError::File {
        what: "key file",
        path: key_file.to_owned(),
        reason: e.to_string(),
    })?;
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| {
        let name = format!("{:?}", suite.suite());
        !disabled.iter().any(|d| d.eq_ignore_ascii_case(&name))
    });
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Connections each listener may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// The API listener (`api.maxConns`, or what the file limit leaves).
    pub api: usize,
    /// The admin listener.
    pub admin: usize,
    /// The webhook listener.
    pub webhook: usize,
}

/// Connections reserved for the admin listener (health probes, metrics scrapes).
const ADMIN_CONNS: usize = 32;
/// Connections reserved for the webhook listener.
const WEBHOOK_CONNS: usize = 32;
/// Descriptors always left for everything that is not an accepted connection.
const MIN_HEADROOM: u64 = 128;
/// The smallest API cap the file limit can shrink the default to.
const MIN_API_CONNS: usize = 16;

impl ConnectionCaps {
    /// The caps for an open-file limit of `nofile` (`None`: unknown or unlimited)
    /// and `api.maxConns` (0: as many as the limit leaves). An eighth of the limit
    /// (at least 128 descriptors) is headroom for Redis, datafile and event
    /// connections and files; admin and webhook keep their reserved shares; the API
    /// gets the rest. An `api.maxConns` above that is lowered, with a warning.
    pub fn for_limit(nofile: Option<u64>, api_max_conns: usize) -> Self {
        let reserved = ADMIN_CONNS + WEBHOOK_CONNS;
        let room = nofile.map(|limit| {
            let headroom = (limit / 8).max(MIN_HEADROOM);
            usize::try_from(limit.saturating_sub(headroom))
                .unwrap_or(usize::MAX)
                .saturating_sub(reserved)
                .max(MIN_API_CONNS)
        });
        let api = match (api_max_conns, room) {
            (0, Some(room)) => room,
            // No known limit and no setting: tokio's semaphore maximum.
            (0, None) => Semaphore::MAX_PERMITS,
            (wanted, Some(room)) if wanted > room => {
                tracing::warn!(
                    "api.maxConns {wanted} is more than the open-file limit {} allows; \
                     using {room} (raise the limit with ulimit -n / LimitNOFILE)",
                    nofile.unwrap_or_default()
                );
                room
            }
            (wanted, _) => wanted.min(Semaphore::MAX_PERMITS),
        };
        ConnectionCaps {
            api,
            admin: ADMIN_CONNS,
            webhook: WEBHOOK_CONNS,
        }
    }
}

/// Raises the soft open-file limit to the hard limit where allowed and returns the
/// soft limit now in force (`None`: unknown, or unlimited).
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit == rlimit::INFINITY => None,
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!("cannot raise the open-file limit: {err}");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
                .filter(|soft| *soft != rlimit::INFINITY)
        }
    }
}

/// How one listener serves its connections.
#[derive(Clone)]
pub struct Limits {
    /// Connections held at once; more are refused.
    pub max_conns: usize,
    /// The longest wait for a request's headers (zero: unbounded).
    pub header_read_timeout: Duration,
    /// TLS, when the listeners serve HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The answer to a connection over the cap (plain HTTP only).
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 33\r\n\r\n{\"error\":\"too many connections\"}\n";

/// Pause after failed `accept`s: 10 ms doubling to a second.
const ACCEPT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));

/// Seconds between two warnings about refused connections of one listener.
const REFUSED_WARN_SECS: u64 = 10;

/// Serves `service` (a router and its middleware) on `listener` until `cancel`,
/// then stops accepting, lets every connection finish its current request and
/// returns once all are closed.
pub async fn serve<S>(
    name: &'static str,
    listener: TcpListener,
    service: S,
    limits: Limits,
    cancel: CancellationToken,
) where
    S: HttpService,
{
    let permits = Arc::new(Semaphore::new(limits.max_conns));
    let connections = TaskTracker::new();
    let refused = Refused::default();
    let tls = limits.tls.clone().map(TlsAcceptor::from);
    let mut failures: u32 = 0;
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                failures = 0;
                stream
            }
            Err(err) => {
                let pause = ACCEPT_BACKOFF.delay(failures);
                if failures.is_multiple_of(10) {
                    tracing::warn!(
                        listener = name,
                        "accepting a connection: {err}; pausing {pause:?}"
                    );
                }
                failures = failures.saturating_add(1);
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            if tls.is_none() {
                // Best effort: the socket buffer is empty, so this does not block.
                let _ = stream.try_write(OVER_CAP);
            }
            refused.note(name, limits.max_conns);
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            tls.clone(),
            service.clone(),
            limits.header_read_timeout,
            cancel.clone(),
            permit,
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Counts refused connections and warns about them at most every
/// [`REFUSED_WARN_SECS`].
#[derive(Default)]
struct Refused {
    count: AtomicU64,
    warned_at: AtomicU64,
}

impl Refused {
    fn note(&self, listener: &'static str, cap: usize) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = crate::util::now_ms() / 1000;
        let last = self.warned_at.load(Ordering::Relaxed);
        if now >= last + REFUSED_WARN_SECS
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                listener,
                cap,
                refused_total = count,
                "connection refused: the listener holds its maximum of connections"
            );
        }
    }
}

/// One accepted connection: the TLS handshake if any, then HTTP/1.1 until the
/// client leaves, a timeout closes it, or shutdown (after the current request).
async fn connection<S: HttpService>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    service: S,
    header_read_timeout: Duration,
    cancel: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    match tls {
        None => http(stream, service, header_read_timeout, cancel).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http(stream, service, header_read_timeout, cancel).await,
                Ok(Err(err)) => tracing::debug!("TLS handshake: {err}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

async fn http<I, S>(io: I, service: S, header_read_timeout: Duration, cancel: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout((!header_read_timeout.is_zero()).then_some(header_read_timeout));
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!("connection closed: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_headroom_below_the_file_limit() {
        let caps = ConnectionCaps::for_limit(Some(1024), 0);
        assert_eq!(caps.admin, ADMIN_CONNS);
        assert_eq!(caps.webhook, WEBHOOK_CONNS);
        assert_eq!(caps.api, 1024 - 128 - 64);
        let big = ConnectionCaps::for_limit(Some(80_000), 0);
        assert_eq!(big.api, 80_000 - 10_000 - 64);
        assert_eq!(ConnectionCaps::for_limit(Some(1024), 10).api, 10);
        // More than the limit allows is lowered; a tiny limit still leaves some.
        assert_eq!(ConnectionCaps::for_limit(Some(1024), 5000).api, 832);
        assert_eq!(ConnectionCaps::for_limit(Some(64), 0).api, MIN_API_CONNS);
        assert_eq!(
            ConnectionCaps::for_limit(None, 0).api,
            Semaphore::MAX_PERMITS
        );
        assert_eq!(ConnectionCaps::for_limit(None, 7).api, 7);
    }

    #[test]
    fn the_over_cap_answer_is_well_formed() {
        let text = std::str::from_utf8(OVER_CAP).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(body, "{\"error\":\"too many connections\"}\n");
    }
}
