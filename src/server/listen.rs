//! Listening sockets: a 4096-connection backlog (a reconnect storm of SSE clients
//! overflows the default 128, PERF-NOTES trap 3), TCP_NODELAY on every accepted
//! socket (Nagle delays small SSE writes, trap 2), and optional TLS via rustls.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

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

/// A plain TCP listener that sets TCP_NODELAY on accepted sockets.
pub struct Plain(pub TcpListener);

impl Listener for Plain {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (stream, addr);
                }
                Err(err) => accept_error(err).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Errors from `accept` are per connection (or the process is out of descriptors):
/// log, pause briefly so a descriptor shortage does not spin, and go on.
async fn accept_error(err: io::Error) {
    tracing::warn!("accepting a connection: {err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A TLS listener: a background task accepts TCP connections and runs each
/// handshake in its own task, so one slow client never holds up the others.
pub struct Tls {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl Tls {
    /// Starts accepting on `listener`; the accept task ends with `cancel`.
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        cancel: CancellationToken,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(1024);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = cancel.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        accept_error(err).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(err)) => tracing::debug!("TLS handshake with {addr}: {err}"),
                        Err(_) => tracing::debug!("TLS handshake with {addr} timed out"),
                    }
                });
            }
        });
        Ok(Tls { local, ready })
    }
}

impl Listener for Tls {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept task ended (shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
