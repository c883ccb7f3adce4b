//! Connections: where to connect (address or URL, TLS with its trust and client
//! certificate, ACL user, database, password priority), resolved once from the
//! settings, and the [`Connector`] that opens every connection to it with the
//! configured timeouts and counts reconnects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo,
    IntoConnectionInfo, TlsCertificates,
};

use super::{Error, RetryPolicy, Store};
use crate::config::RedisSettings;

/// Where to connect, resolved from the settings, with a printable address that
/// never contains the password.
#[derive(Clone)]
pub struct Target {
    info: ConnectionInfo,
    display: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.display)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Resolves `synchronization.pubsub.redis`: `host` is either `host:port` (port
    /// 6379 when omitted, `[v6]:port` for IPv6) or a `redis://`/`rediss://` URL. A
    /// URL's user, password and `/db` win over the separate settings; otherwise the
    /// password is the settings' effective password and the database `database`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] when the host or URL cannot be parsed.
    pub fn from_settings(settings: &RedisSettings) -> Result<Self, Error> {
        let host = settings.host.trim();
        let invalid = |reason: String| Error::InvalidAddress {
            addr: redact_url(host),
            reason,
        };
        let (info, url_has_db) = if host.contains("://") {
            let url = redis::parse_redis_url(host).ok_or_else(|| {
                invalid("expected redis://[user:pass@]host:port/db or rediss://…".to_owned())
            })?;
            let has_db = !matches!(url.path(), "" | "/");
            let info = url
                .into_connection_info()
                .map_err(|e| invalid(e.to_string()))?;
            (info, has_db)
        } else {
            let (name, port) = split_host_port(host).map_err(invalid)?;
            let info = ConnectionAddr::Tcp(name, port)
                .into_connection_info()
                .map_err(|e| invalid(e.to_string()))?;
            (info, false)
        };
        let mut redis = info.redis_settings().clone();
        if !url_has_db {
            redis = redis.set_db(settings.database);
        }
        if redis.password().is_none()
            && let Some(password) = settings.effective_password()
        {
            redis = redis.set_password(password);
        }
        let mut info = info.set_redis_settings(redis);
        if settings.tls.insecure_skip_verify
            && let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone()
        {
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: true,
                tls_params: None,
            });
        }
        let mut display = info.addr().to_string();
        let db = info.redis_settings().db();
        if db != 0 {
            display.push_str(&format!(" db {db}"));
        }
        match info.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                display.push_str(" (TLS, certificate not verified)");
            }
            ConnectionAddr::TcpTls { .. } => display.push_str(" (TLS)"),
            _ => {}
        }
        Ok(Self { info, display })
    }

    /// Whether the server's certificate goes unchecked (`#insecure` or
    /// `tls.insecure_skip_verify`).
    fn is_insecure(&self) -> bool {
        matches!(
            self.info.addr(),
            ConnectionAddr::TcpTls { insecure: true, .. }
        )
    }

    /// The address as shown to users: `host:port`, plus the database and TLS when set.
    pub fn display(&self) -> &str {
        &self.display
    }
}

/// Splits `host:port`, `host` or `[ipv6]:port`.
fn split_host_port(text: &str) -> Result<(String, u16), String> {
    const DEFAULT_PORT: u16 = 6379;
    let expected = "expected host:port, e.g. localhost:6379";
    if text.is_empty() {
        return Err(format!("empty address: {expected}"));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[': {expected}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!("write IPv6 addresses as [addr]:port: {expected}"));
            }
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host: {expected}"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port
            .parse()
            .map_err(|_| format!("invalid port {port:?}: expected a number from 0 to 65535"))?,
    };
    Ok((host.to_owned(), port))
}

/// Removes the password from a URL before it is shown anywhere.
fn redact_url(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &text[scheme + 3..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let stars = if userinfo.contains(':') { ":***" } else { "" };
            format!("{}{user}{stars}{}", &text[..scheme + 3], &text[at..])
        }
        _ => text.to_owned(),
    }
}

/// The client for `target`: with a `rediss://` target, the CA bundle and client
/// certificate of `settings.tls` when set (checked by `config::validate`; a file
/// that cannot be read here is still a clear error).
fn tls_client(target: &Target, settings: &RedisSettings) -> Result<Client, Error> {
    let connect_error = |source| Error::Connect {
        addr: target.display.clone(),
        source,
    };
    if !matches!(target.info.addr(), ConnectionAddr::TcpTls { .. }) {
        if settings.tls.is_set() {
            return Err(Error::InvalidAddress {
                addr: target.display.clone(),
                reason: "synchronization.pubsub.redis.tls is set: expected a rediss:// URL"
                    .to_owned(),
            });
        }
        return Client::open(target.info.clone()).map_err(connect_error);
    }
    crate::util::ensure_tls_provider();
    if target.is_insecure() {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                addr = %target.display,
                "Redis TLS certificate verification is OFF (#insecure or \
                 synchronization.pubsub.redis.tls.insecure_skip_verify): anyone between \
                 this process and Redis can read and change the traffic, password \
                 included; trust a private CA with tls.ca_file instead"
            );
        });
    }
    let tls = &settings.tls;
    if tls.ca_file.is_empty() && tls.cert_file.is_empty() {
        return Client::open(target.info.clone()).map_err(connect_error);
    }
    let read = |key: &str, path: &str| {
        std::fs::read(path).map_err(|error| {
            connect_error(redis::RedisError::from(std::io::Error::new(
                error.kind(),
                format!("synchronization.pubsub.redis.tls.{key} {path:?}: {error}"),
            )))
        })
    };
    let root_cert = match tls.ca_file.as_str() {
        "" => None,
        path => Some(read("ca_file", path)?),
    };
    let client_tls = match (tls.cert_file.as_str(), tls.key_file.as_str()) {
        ("", _) | (_, "") => None,
        (cert, key) => Some(ClientTlsConfig {
            client_cert: read("cert_file", cert)?,
            client_key: read("key_file", key)?,
        }),
    };
    let certificates = TlsCertificates {
        client_tls,
        root_cert,
    };
    Client::build_with_tls(target.info.clone(), certificates).map_err(connect_error)
}

/// Builds every connection to one Redis from the settings, resolved once: the
/// address (auth priority, TLS, database), the timeouts, the retry policy, and one
/// reconnect counter shared by all the stores it hands out.
///
/// A hub builds one and clones it into each of its pieces (publisher, readers,
/// group subscriptions, Pub/Sub subscriber), so none of them re-reads the
/// settings. Cloning is cheap. The topology (today a single server) is private
/// to this type, so a Cluster or Sentinel connection can be added here without
/// touching callers.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    client: Client,
    config: AsyncConnectionConfig,
    policy: RetryPolicy,
    /// Connections re-opened after one broke, over every store of this connector.
    reconnects: Arc<AtomicU64>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Resolves `synchronization.pubsub.redis` (see [`Target::from_settings`]).
    ///
    /// The response timeout of the connections it opens is the connection timeout
    /// (never the redis crate's 500 ms default, which long XRANGE pages or a busy
    /// server would exceed); zero means none. A `rediss://` host trusts the PEM
    /// CAs of `tls.ca_file` (else the public web roots) and presents the client
    /// certificate of `tls.cert_file`/`tls.key_file` when set; an unverified
    /// server certificate (`#insecure`, `tls.insecure_skip_verify`) is warned
    /// about once per process.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] or [`Error::Connect`] when the settings cannot name
    /// a Redis at all, or a TLS file cannot be read or parsed.
    pub fn from_settings(settings: &RedisSettings) -> Result<Self, Error> {
        let target = Target::from_settings(settings)?;
        let client = tls_client(&target, settings)?;
        let timeout = Some(settings.connection_timeout).filter(|t| !t.is_zero());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Self {
            target,
            client,
            config,
            policy: RetryPolicy::from_settings(settings),
            reconnects: Arc::default(),
        })
    }

    /// A store that connects on its first command instead of now, for long-lived
    /// users (the notification hubs) that must start while Redis is down. Each
    /// store has its own connection: a blocking read gets a store of its own, so it
    /// never holds up the publisher's commands (PERF-NOTES trap 1).
    pub fn store(&self) -> Store {
        Store::new(self.clone())
    }

    /// A store that is connected now, retrying refused/reset/timed-out connections
    /// per the policy: for one-shot commands, which should fail early and clearly.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming the address when Redis cannot be reached or
    /// rejects the credentials.
    pub async fn connect(&self) -> Result<Store, Error> {
        let store = self.store();
        store.connect().await?;
        Ok(store)
    }

    /// The retry policy every command runs with.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The address being used, safe to print.
    pub fn address(&self) -> &str {
        self.target.display()
    }

    /// Connections of this connector's stores and subscriptions re-opened after
    /// one broke, so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Counts one reconnect (a connection re-opened after one broke).
    pub fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Opens a multiplexed connection with the configured timeouts.
    pub(super) async fn multiplexed(&self) -> redis::RedisResult<MultiplexedConnection> {
        self.client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
    }

    /// Opens a dedicated Pub/Sub connection (no response timeout: it waits for
    /// messages indefinitely).
    pub(super) async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str) -> RedisSettings {
        let mut s = crate::config::Settings::default()
            .synchronization
            .pubsub
            .redis;
        s.host = host.to_owned();
        s
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("localhost:6380").unwrap(),
            ("localhost".into(), 6380)
        );
        assert_eq!(
            split_host_port("redis.svc").unwrap(),
            ("redis.svc".into(), 6379)
        );
        assert_eq!(split_host_port("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(
            split_host_port("host:99999")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(split_host_port("::1:6379").is_err());
        assert!(split_host_port(":6379").is_err());
    }

    #[test]
    fn password_priority_and_database_apply_to_plain_hosts() {
        let mut s = settings("127.0.0.1:6390");
        s.password = "p".into();
        s.auth_token = "tok".into();
        s.database = 3;
        let target = Target::from_settings(&s).unwrap();
        assert_eq!(target.info.redis_settings().password(), Some("tok"));
        assert_eq!(target.info.redis_settings().db(), 3);
        assert_eq!(target.display(), "127.0.0.1:6390 db 3");
    }

    #[test]
    fn url_credentials_and_db_win() {
        let mut s = settings("rediss://alice:secret@cache.example:6380/2");
        s.auth_token = "other".into();
        s.database = 5;
        let target = Target::from_settings(&s).unwrap();
        let redis = target.info.redis_settings();
        assert_eq!(redis.username(), Some("alice"));
        assert_eq!(redis.password(), Some("secret"));
        assert_eq!(redis.db(), 2);
        assert_eq!(target.display(), "cache.example:6380 db 2 (TLS)");
        assert!(!format!("{target:?}").contains("secret"));
    }

    #[test]
    fn insecure_comes_from_the_fragment_or_the_setting() {
        let fragment = Target::from_settings(&settings("rediss://h:6380/#insecure")).unwrap();
        assert!(fragment.is_insecure());
        assert_eq!(fragment.display(), "h:6380 (TLS, certificate not verified)");
        let mut s = settings("rediss://h:6380");
        assert!(!Target::from_settings(&s).unwrap().is_insecure());
        s.tls.insecure_skip_verify = true;
        assert!(Target::from_settings(&s).unwrap().is_insecure());
    }

    #[test]
    fn tls_settings_need_a_tls_url() {
        let mut s = settings("127.0.0.1:6390");
        s.tls.ca_file = "/ca.pem".into();
        let err = Connector::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("rediss://"), "{err}");
    }

    #[test]
    fn unreadable_tls_files_are_named() {
        let mut s = settings("rediss://:pw123@h:6380");
        s.tls.ca_file = "/nonexistent/ca.pem".into();
        let err = Connector::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("tls.ca_file \"/nonexistent/ca.pem\""), "{err}");
        assert!(!err.contains("pw123"), "{err}");
    }

    #[test]
    fn bad_urls_are_reported_without_password() {
        let err = Target::from_settings(&settings("redis://u:hunter2@:x/0"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("u:***"), "{err}");
    }
}
