//! Connections: where to connect (address or URL, TLS with its trust and client
//! certificate, ACL user, database, password priority), resolved once from the
//! settings, and the [`Connector`] that opens every connection to it with the
//! configured timeouts and counts reconnects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr,
};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, Cmd, ConnectionAddr, ConnectionInfo,
    IntoConnectionInfo, Pipeline, RedisFuture, TlsCertificates, TlsMode, Value,
};

use super::{Error, RetryPolicy, Store};
use crate::config::RedisSettings;

/// Where to connect, resolved from the settings, with a printable address that
/// never contains the password.
#[derive(Clone)]
pub struct Target {
    topology: Topology,
    display: String,
}

/// The shape of the Redis deployment.
#[derive(Clone)]
enum Topology {
    /// One server.
    Node(ConnectionInfo),
    /// A Redis Cluster, found through these seed nodes.
    Cluster(Vec<ConnectionInfo>),
    /// A primary found through sentinels, with the primary's credentials,
    /// database and TLS in `primary` (its address is the sentinels' answer).
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        primary: ConnectionInfo,
        sentinel_password: Option<String>,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.display)
            .finish_non_exhaustive()
    }
}

/// URL schemes naming a whole topology: a cluster's seed nodes or a sentinel set.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis"),
    ("rediss+cluster://", "rediss"),
];
const SENTINEL_SCHEMES: [(&str, &str); 2] = [
    ("redis+sentinel://", "redis"),
    ("rediss+sentinel://", "rediss"),
];

impl Target {
    /// Resolves `synchronization.pubsub.redis` into one of three topologies:
    ///
    /// - a single server: `host` is `host:port` (port 6379 when omitted,
    ///   `[v6]:port` for IPv6) or a `redis://`/`rediss://` URL. A URL's user,
    ///   password and `/db` win over the separate settings; otherwise the password
    ///   is the settings' effective password and the database `database`;
    /// - a Redis Cluster: `cluster` lists seed nodes (each as a single server), or
    ///   `host` is `redis+cluster://[user:pass@]h1:p1,h2:p2` (`rediss+cluster://`
    ///   for TLS); database 0 only;
    /// - Sentinel: `sentinel.master_name` with `sentinel.addrs`, or `host` is
    ///   `redis+sentinel://[user:pass@]s1:p1,s2:p2/master_name`; the URL's user and
    ///   password (else the effective password) and `database` are the primary's.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] when an address or URL cannot be parsed.
    pub fn from_settings(settings: &RedisSettings) -> Result<Self, Error> {
        let host = settings.host.trim();
        if settings.sentinel.is_set() {
            let sentinels = settings
                .sentinel
                .addrs
                .iter()
                .map(|addr| sentinel_node(addr))
                .collect::<Result<Vec<_>, _>>()?;
            let primary = single_node("", None, settings)?;
            return Ok(Self::sentinel(
                sentinels,
                settings.sentinel.master_name.clone(),
                primary,
                Some(settings.sentinel.password.clone()).filter(|p| !p.is_empty()),
            ));
        }
        if !settings.cluster.is_empty() {
            let seeds = settings
                .cluster
                .iter()
                .map(|seed| cluster_seed(seed.trim(), settings))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Self::cluster(seeds));
        }
        for (prefix, scheme) in CLUSTER_SCHEMES {
            if let Some(rest) = host.strip_prefix(prefix) {
                let (userinfo, hosts, path) = split_topology_url(host, rest)?;
                let seeds = hosts
                    .map(|node| {
                        cluster_seed(&format!("{scheme}://{userinfo}{node}/{path}"), settings)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Self::cluster(seeds));
            }
        }
        for (prefix, scheme) in SENTINEL_SCHEMES {
            if let Some(rest) = host.strip_prefix(prefix) {
                let (userinfo, hosts, path) = split_topology_url(host, rest)?;
                let (master_name, fragment) =
                    path.split_once('#').map_or((path, ""), |(p, f)| (p, f));
                if master_name.is_empty() {
                    return Err(invalid(
                        host,
                        "expected redis+sentinel://[user:pass@]host:port[,host:port…]/master_name"
                            .to_owned(),
                    ));
                }
                let sentinels = hosts.map(sentinel_node).collect::<Result<Vec<_>, _>>()?;
                // The primary's credentials and TLS, written as a URL to a
                // placeholder host: the sentinels give the real address.
                let fragment = if fragment.is_empty() {
                    String::new()
                } else {
                    format!("#{fragment}")
                };
                let primary = single_node(
                    &format!("{scheme}://{userinfo}sentinel-primary/{fragment}"),
                    Some(host),
                    settings,
                )?;
                return Ok(Self::sentinel(
                    sentinels,
                    master_name.to_owned(),
                    primary,
                    Some(settings.sentinel.password.clone()).filter(|p| !p.is_empty()),
                ));
            }
        }
        let info = single_node(host, None, settings)?;
        let mut display = info.addr().to_string();
        let db = info.redis_settings().db();
        if db != 0 {
            display.push_str(&format!(" db {db}"));
        }
        display.push_str(tls_note(&info));
        Ok(Self {
            topology: Topology::Node(info),
            display,
        })
    }

    fn cluster(seeds: Vec<ConnectionInfo>) -> Self {
        let nodes: Vec<String> = seeds.iter().map(|s| s.addr().to_string()).collect();
        let tls = seeds.first().map_or("", tls_note);
        Self {
            display: format!("cluster {}{tls}", nodes.join(",")),
            topology: Topology::Cluster(seeds),
        }
    }

    fn sentinel(
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        primary: ConnectionInfo,
        sentinel_password: Option<String>,
    ) -> Self {
        let nodes: Vec<String> = sentinels.iter().map(|s| s.addr().to_string()).collect();
        let mut display = format!("sentinel {master_name} via {}", nodes.join(","));
        let db = primary.redis_settings().db();
        if db != 0 {
            display.push_str(&format!(" db {db}"));
        }
        display.push_str(tls_note(&primary));
        Self {
            topology: Topology::Sentinel {
                sentinels,
                master_name,
                primary,
                sentinel_password,
            },
            display,
        }
    }

    /// Whether the server's certificate goes unchecked (`#insecure` or
    /// `tls.insecure_skip_verify`).
    fn is_insecure(&self) -> bool {
        let info = match &self.topology {
            Topology::Node(info) | Topology::Sentinel { primary: info, .. } => Some(info),
            Topology::Cluster(seeds) => seeds.first(),
        };
        info.is_some_and(|info| {
            matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. })
        })
    }

    /// Whether connections use TLS.
    fn is_tls(&self) -> bool {
        let info = match &self.topology {
            Topology::Node(info) | Topology::Sentinel { primary: info, .. } => Some(info),
            Topology::Cluster(seeds) => seeds.first(),
        };
        info.is_some_and(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }))
    }

    /// The address as shown to users: `host:port`, plus the database and TLS when
    /// set; `cluster h1:p1,…` or `sentinel NAME via s1:p1,…` for the other
    /// topologies.
    pub fn display(&self) -> &str {
        &self.display
    }
}

/// The `InvalidAddress` error for `text`, its password hidden.
fn invalid(text: &str, reason: String) -> Error {
    Error::InvalidAddress {
        addr: redact_url(text),
        reason,
    }
}

/// Splits the part after the scheme of a topology URL into its user info (with
/// its `@`, or empty), its comma-separated hosts and its path (after the first
/// `/`, possibly empty).
fn split_topology_url<'a>(
    url: &str,
    rest: &'a str,
) -> Result<(&'a str, impl Iterator<Item = &'a str>, &'a str), Error> {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    if hosts.split(',').any(|h| h.trim().is_empty()) {
        return Err(invalid(
            url,
            "expected one or more comma-separated host:port after the scheme".to_owned(),
        ));
    }
    Ok((userinfo, hosts.split(',').map(str::trim), path))
}

/// A cluster seed node: a single-server address on database 0.
fn cluster_seed(text: &str, settings: &RedisSettings) -> Result<ConnectionInfo, Error> {
    let info = single_node(text, None, settings)?;
    if info.redis_settings().db() != 0 {
        return Err(invalid(
            text,
            "Redis Cluster has only database 0: drop the /db of the URL and set \
             synchronization.pubsub.redis.database to 0"
                .to_owned(),
        ));
    }
    Ok(info)
}

/// A sentinel: `host:port` (26379 when the port is omitted).
fn sentinel_node(text: &str) -> Result<ConnectionInfo, Error> {
    const SENTINEL_PORT: u16 = 26379;
    let text = text.trim();
    let (name, port) = if text.contains(':') || text.starts_with('[') {
        split_host_port(text).map_err(|reason| invalid(text, reason))?
    } else if text.is_empty() {
        return Err(invalid(
            text,
            "empty sentinel address: expected host:port".to_owned(),
        ));
    } else {
        (text.to_owned(), SENTINEL_PORT)
    };
    ConnectionAddr::Tcp(name, port)
        .into_connection_info()
        .map_err(|e| invalid(text, e.to_string()))
}

/// One server's connection info from `host:port` or a `redis[s]://` URL, with the
/// settings' password and database unless the URL has its own. `shown` is what
/// errors name instead of `text` (for URLs assembled from a topology URL).
fn single_node(
    text: &str,
    shown: Option<&str>,
    settings: &RedisSettings,
) -> Result<ConnectionInfo, Error> {
    let shown = shown.unwrap_or(text);
    let (info, url_has_db) = if text.contains("://") {
        let url = redis::parse_redis_url(text).ok_or_else(|| {
            invalid(
                shown,
                "expected redis://[user:pass@]host:port/db or rediss://…".to_owned(),
            )
        })?;
        let has_db = !matches!(url.path(), "" | "/");
        let info = url
            .into_connection_info()
            .map_err(|e| invalid(shown, e.to_string()))?;
        (info, has_db)
    } else if text.is_empty() {
        // The sentinel primary of the settings form: credentials only.
        let info = ConnectionAddr::Tcp("sentinel-primary".to_owned(), 6379)
            .into_connection_info()
            .map_err(|e| invalid(shown, e.to_string()))?;
        (info, false)
    } else {
        let (name, port) = split_host_port(text).map_err(|reason| invalid(shown, reason))?;
        let info = ConnectionAddr::Tcp(name, port)
            .into_connection_info()
            .map_err(|e| invalid(shown, e.to_string()))?;
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
    Ok(info)
}

/// What the shown address says about TLS.
fn tls_note(info: &ConnectionInfo) -> &'static str {
    match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => " (TLS, certificate not verified)",
        ConnectionAddr::TcpTls { .. } => " (TLS)",
        _ => "",
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

/// The CA bundle and client certificate of `settings.tls`, when set (checked by
/// `config::validate`; a file that cannot be read here is still a clear error).
/// With TLS off, setting them is an error: they would be silently unused.
fn certificates(
    target: &Target,
    settings: &RedisSettings,
) -> Result<Option<TlsCertificates>, Error> {
    let connect_error = |source| Error::Connect {
        addr: target.display.clone(),
        source,
    };
    if !target.is_tls() {
        if settings.tls.is_set() {
            return Err(Error::InvalidAddress {
                addr: target.display.clone(),
                reason: "synchronization.pubsub.redis.tls is set: expected a rediss:// URL \
                         (rediss+cluster:// or rediss+sentinel:// for those topologies)"
                    .to_owned(),
            });
        }
        return Ok(None);
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
        return Ok(None);
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
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// A client for one server, trusting `certificates` when given.
fn node_client(
    info: &ConnectionInfo,
    certificates: Option<&TlsCertificates>,
) -> redis::RedisResult<Client> {
    match certificates {
        None => Client::open(info.clone()),
        Some(certificates) => Client::build_with_tls(info.clone(), certificates.clone()),
    }
}

/// The clients of one topology, built once.
#[derive(Clone)]
enum Clients {
    Node(Box<Client>),
    /// The cluster client, and a client per seed node for the Pub/Sub
    /// subscription (classic Pub/Sub messages reach every node of a cluster).
    Cluster(Box<ClusterClient>, Vec<Client>),
    /// Asks the sentinels for the primary on every (re)connect, so a fail-over
    /// is followed by the next connection.
    Sentinel(Arc<tokio::sync::Mutex<SentinelClient>>),
}

/// Builds every connection to one Redis deployment from the settings, resolved
/// once: the topology (one server, a cluster, a sentinel set), the address (auth
/// priority, TLS, database), the timeouts, the retry policy, and one reconnect
/// counter shared by all the stores it hands out.
///
/// A hub builds one and clones it into each of its pieces (publisher, readers,
/// group subscriptions, Pub/Sub subscriber), so none of them re-reads the
/// settings. Cloning is cheap. The topology is private to this type and
/// [`Store`]: callers name keys and never nodes.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    clients: Clients,
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
    /// about once per process. The same holds for every node of a cluster and
    /// for a sentinel set's primary.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] or [`Error::Connect`] when the settings cannot name
    /// a Redis at all, or a TLS file cannot be read or parsed.
    pub fn from_settings(settings: &RedisSettings) -> Result<Self, Error> {
        let target = Target::from_settings(settings)?;
        let certificates = certificates(&target, settings)?;
        let connect_error = |source| Error::Connect {
            addr: target.display.clone(),
            source,
        };
        let timeout = Some(settings.connection_timeout).filter(|t| !t.is_zero());
        let clients = match &target.topology {
            Topology::Node(info) => Clients::Node(Box::new(
                node_client(info, certificates.as_ref()).map_err(connect_error)?,
            )),
            Topology::Cluster(seeds) => {
                let mut builder = ClusterClientBuilder::new(seeds.clone())
                    // The redis crate's own retries would hide failures from the
                    // retry policy: one policy retries everything.
                    .retries(1);
                if let Some(timeout) = timeout {
                    builder = builder
                        .connection_timeout(timeout)
                        .response_timeout(timeout);
                }
                if let Some(certificates) = &certificates {
                    builder = builder.certs(certificates.clone());
                }
                let seed_clients = seeds
                    .iter()
                    .map(|seed| node_client(seed, certificates.as_ref()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(connect_error)?;
                Clients::Cluster(
                    Box::new(builder.build().map_err(connect_error)?),
                    seed_clients,
                )
            }
            Topology::Sentinel {
                sentinels,
                master_name,
                primary,
                sentinel_password,
            } => {
                let mut builder = SentinelClientBuilder::new(
                    sentinels.iter().map(|s| s.addr().clone()),
                    master_name,
                    SentinelServerType::Master,
                )
                .map_err(connect_error)?;
                let redis = primary.redis_settings();
                builder = builder.set_client_to_redis_db(redis.db());
                if let Some(user) = redis.username() {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = redis.password() {
                    builder = builder.set_client_to_redis_password(password);
                }
                if let Some(password) = sentinel_password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                if let ConnectionAddr::TcpTls { insecure, .. } = primary.addr() {
                    builder = builder.set_client_to_redis_tls_mode(if *insecure {
                        TlsMode::Insecure
                    } else {
                        TlsMode::Secure
                    });
                    if let Some(certificates) = &certificates {
                        builder = builder.set_client_to_redis_certificates(certificates.clone());
                    }
                }
                Clients::Sentinel(Arc::new(tokio::sync::Mutex::new(
                    builder.build().map_err(connect_error)?,
                )))
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Self {
            target,
            clients,
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

    /// Opens a connection with the configured timeouts: multiplexed to the one
    /// server or to the primary the sentinels name now, or a cluster connection.
    pub(super) async fn connection(&self) -> redis::RedisResult<Conn> {
        match &self.clients {
            Clients::Node(client) => client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
                .map(Conn::Node),
            Clients::Cluster(client, _) => client.get_async_connection().await.map(Conn::Cluster),
            Clients::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await?;
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await
                    .map(Conn::Node)
            }
        }
    }

    /// Opens a dedicated Pub/Sub connection (no response timeout: it waits for
    /// messages indefinitely): to the one server, to the current primary of a
    /// sentinel set, or to the first seed node of a cluster that answers (a
    /// classic PUBLISH on any node of a cluster reaches subscribers on every node).
    pub(super) async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        match &self.clients {
            Clients::Node(client) => client.get_async_pubsub().await,
            Clients::Cluster(_, seeds) => {
                let mut last = None;
                for seed in seeds {
                    match seed.get_async_pubsub().await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(err) => last = Some(err),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "no cluster seed node",
                    ))
                }))
            }
            Clients::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await?;
                client.get_async_pubsub().await
            }
        }
    }
}

/// One connection to the configured Redis, whatever its topology: what a
/// [`Store`] sends its commands through.
#[derive(Clone)]
pub(super) enum Conn {
    /// A multiplexed connection to one server (or a sentinel set's primary).
    Node(MultiplexedConnection),
    /// A cluster connection: each command goes to the primary of its key's slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => Box::pin(cluster_pipeline(conn, pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

impl Conn {
    /// The primaries to visit one by one (SCAN): `None` alone for one server.
    pub(super) async fn primaries(&mut self) -> redis::RedisResult<Vec<Option<String>>> {
        match self {
            Conn::Node(_) => Ok(vec![None]),
            Conn::Cluster(conn) => {
                let every = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let reply = conn.route_command(redis::cmd("PING"), every).await?;
                Ok(per_node(reply)?
                    .into_iter()
                    .map(|(node, _)| Some(node))
                    .collect())
            }
        }
    }

    /// `cmd` on every node, primaries and replicas (INFO): one reply each.
    pub(super) async fn on_every_node(&mut self, cmd: &Cmd) -> redis::RedisResult<Vec<Value>> {
        match self {
            Conn::Node(conn) => Ok(vec![cmd.query_async(conn).await?]),
            Conn::Cluster(conn) => {
                let every = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
                let reply = conn.route_command(cmd.clone(), every).await?;
                Ok(per_node(reply)?.into_iter().map(|(_, v)| v).collect())
            }
        }
    }

    /// `cmd` on `node` (one of [`Conn::primaries`]); on the one server for `None`.
    pub(super) async fn on_node(
        &mut self,
        node: Option<&str>,
        cmd: &Cmd,
    ) -> redis::RedisResult<Value> {
        match (self, node) {
            (Conn::Cluster(conn), Some(node)) => {
                let (host, port) = split_host_port(node).map_err(|reason| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "cluster node address",
                        reason,
                    ))
                })?;
                let route =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                conn.route_command(cmd.clone(), route).await
            }
            (Conn::Cluster(conn), None) => cmd.query_async(conn).await,
            (Conn::Node(conn), _) => cmd.query_async(conn).await,
        }
    }
}

/// The `address → reply` map the cluster connection answers a command sent to
/// several nodes with.
fn per_node(reply: Value) -> redis::RedisResult<Vec<(String, Value)>> {
    let pairs = match reply {
        Value::Map(pairs) => pairs,
        other => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "expected one reply per cluster node",
                format!("{other:?}"),
            )));
        }
    };
    pairs
        .into_iter()
        .map(|(node, value)| Ok((redis::from_redis_value::<String>(node)?, value)))
        .collect()
}

/// Sends a pipeline over a cluster connection. The redis crate sends a whole
/// pipeline to one node and refuses one whose keys hash to several slots
/// (CROSSSLOT), so a pipeline over many keys (a publish batch over many SDK
/// keys, an overview of many streams) is split per slot: one sub-pipeline per
/// slot, all sent at once, the replies put back in the order of the commands.
/// A sub-pipeline that fails fails the whole (its commands may or may not have
/// run, as with a lost pipeline on one server).
///
/// A closing `WAIT` (the publisher's, [`super::wait_cmd`]) is about the writes
/// before it on the same connection, which went to several primaries: every
/// sub-pipeline ends with its own, so each primary waits for its own replicas,
/// and the pipeline's `WAIT` reply is the fewest replicas any primary counted.
async fn cluster_pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
) -> redis::RedisResult<Vec<Value>> {
    let commands: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let wait = commands
        .last()
        .filter(|cmd| super::command_name(cmd) == "WAIT")
        .copied();
    let body = &commands[..commands.len() - usize::from(wait.is_some())];
    let mut groups: Vec<(Option<Slot>, Vec<usize>)> = Vec::new();
    for (index, cmd) in body.iter().enumerate() {
        let slot = command_key(cmd).map(Slot::for_key);
        match groups.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, members)) => members.push(index),
            None => groups.push((slot, vec![index])),
        }
    }
    if pipeline.is_transaction() || groups.is_empty() || (groups.len() == 1 && wait.is_none()) {
        return conn.req_packed_commands(pipeline, offset, count).await;
    }
    let sends = groups.iter().map(|(slot, members)| {
        let mut sub = redis::pipe();
        for &index in members {
            sub.add_command(commands[index].clone());
        }
        if let Some(wait) = wait {
            sub.add_command(wait.clone());
        }
        let route = slot.map_or(SingleNodeRoutingInfo::RandomPrimary, |slot| {
            SingleNodeRoutingInfo::SpecificNode(Route::with_slot(slot, SlotAddr::Master))
        });
        let mut conn = conn.clone();
        let len = sub.len();
        async move { conn.route_pipeline(sub, 0, len, route).await }
    });
    let replies = futures_util::future::join_all(sends).await;
    let mut out = vec![Value::Nil; commands.len()];
    let mut waits = Vec::new();
    for ((_, members), reply) in groups.iter().zip(replies) {
        let mut reply = reply?.into_iter();
        for (&index, value) in members.iter().zip(reply.by_ref()) {
            out[index] = value;
        }
        waits.extend(reply);
    }
    if let (Some(last), Some(fewest)) = (out.last_mut(), fewest_replicas(waits)) {
        *last = fewest;
    }
    Ok(out)
}

/// The `WAIT` replies of several primaries as one: the fewest replicas, or the
/// first reply that is not a count (an error).
fn fewest_replicas(replies: Vec<Value>) -> Option<Value> {
    replies
        .into_iter()
        .reduce(|fewest, reply| match (&fewest, &reply) {
            (Value::Int(a), Value::Int(b)) => Value::Int(*a.min(b)),
            (Value::Int(_), _) => reply,
            _ => fewest,
        })
}

/// The key a command acts on, for routing it in a cluster: the first argument,
/// or the second after a subcommand (`XINFO STREAM key`, `MEMORY USAGE key`);
/// `None` for commands without a key.
fn command_key(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?.to_ascii_uppercase();
    match name.as_slice() {
        b"XINFO" | b"XGROUP" | b"MEMORY" | b"OBJECT" => args.nth(1),
        b"INFO" | b"PING" | b"SCAN" | b"CLUSTER" | b"ROLE" | b"WAIT" | b"CONFIG" => None,
        _ => args.next(),
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

    fn node(target: &Target) -> &ConnectionInfo {
        match &target.topology {
            Topology::Node(info) => info,
            _ => panic!("not a single node: {target:?}"),
        }
    }

    #[test]
    fn the_wait_replies_of_several_primaries_count_the_fewest_replicas() {
        assert_eq!(
            fewest_replicas(vec![Value::Int(2), Value::Int(1), Value::Int(2)]),
            Some(Value::Int(1))
        );
        let refused = Value::SimpleString("not a count".to_owned());
        assert_eq!(
            fewest_replicas(vec![Value::Int(1), refused.clone()]),
            Some(refused)
        );
        assert_eq!(fewest_replicas(Vec::new()), None);
    }

    #[test]
    fn cluster_from_a_url_or_the_setting() {
        let mut s = settings("redis+cluster://alice:pw9@10.0.0.1:7000, 10.0.0.2:7001");
        s.auth_token = "other".into();
        let target = Target::from_settings(&s).unwrap();
        let Topology::Cluster(seeds) = &target.topology else {
            panic!("not a cluster: {target:?}");
        };
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[1].addr().to_string(), "10.0.0.2:7001");
        assert_eq!(seeds[1].redis_settings().username(), Some("alice"));
        assert_eq!(seeds[1].redis_settings().password(), Some("pw9"));
        assert_eq!(target.display(), "cluster 10.0.0.1:7000,10.0.0.2:7001");
        assert!(!format!("{target:?}").contains("pw9"));

        let mut s = settings("ignored:1");
        s.cluster = vec!["a:7000".into(), "rediss://b:7001".into()];
        s.password = "p".into();
        let target = Target::from_settings(&s).unwrap();
        assert!(target.display().starts_with("cluster a:7000,b:7001"));

        let mut s = settings("redis+cluster://a:7000");
        s.database = 2;
        let err = Target::from_settings(&s).unwrap_err().to_string();
        assert!(err.contains("only database 0"), "{err}");
        let err = Target::from_settings(&settings("redis+cluster://a:7000,,b:1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("comma-separated host:port"), "{err}");
    }

    #[test]
    fn sentinel_from_a_url_or_the_settings() {
        let target =
            Target::from_settings(&settings("redis+sentinel://:pw@s1:26379,s2/mymaster")).unwrap();
        let Topology::Sentinel {
            sentinels,
            master_name,
            primary,
            ..
        } = &target.topology
        else {
            panic!("not sentinel: {target:?}");
        };
        assert_eq!(master_name, "mymaster");
        assert_eq!(sentinels[1].addr().to_string(), "s2:26379");
        assert_eq!(primary.redis_settings().password(), Some("pw"));
        assert_eq!(target.display(), "sentinel mymaster via s1:26379,s2:26379");

        let err = Target::from_settings(&settings("redis+sentinel://s1:26379"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("master_name"), "{err}");

        let mut s = settings("localhost:6379");
        s.sentinel.master_name = "m".into();
        s.sentinel.addrs = vec!["127.0.0.1:26380".into()];
        s.sentinel.password = "sp".into();
        s.database = 4;
        let target = Target::from_settings(&s).unwrap();
        assert_eq!(target.display(), "sentinel m via 127.0.0.1:26380 db 4");
        let Topology::Sentinel {
            sentinel_password, ..
        } = &target.topology
        else {
            panic!("not sentinel");
        };
        assert_eq!(sentinel_password.as_deref(), Some("sp"));
    }

    #[test]
    fn commands_are_routed_by_their_key() {
        let key = |args: &[&str]| {
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            command_key(&cmd).map(|k| String::from_utf8_lossy(k).into_owned())
        };
        assert_eq!(key(&["XADD", "s", "*", "f", "v"]).as_deref(), Some("s"));
        assert_eq!(key(&["xinfo", "STREAM", "s"]).as_deref(), Some("s"));
        assert_eq!(key(&["MEMORY", "USAGE", "s"]).as_deref(), Some("s"));
        assert_eq!(key(&["INFO", "server"]), None);
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
        assert_eq!(node(&target).redis_settings().password(), Some("tok"));
        assert_eq!(node(&target).redis_settings().db(), 3);
        assert_eq!(target.display(), "127.0.0.1:6390 db 3");
    }

    #[test]
    fn url_credentials_and_db_win() {
        let mut s = settings("rediss://alice:secret@cache.example:6380/2");
        s.auth_token = "other".into();
        s.database = 5;
        let target = Target::from_settings(&s).unwrap();
        let redis = node(&target).redis_settings();
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
