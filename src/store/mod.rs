//! The Redis side, shared by every subcommand: building connections from the
//! settings (address or URL, TLS, ACL user, database, password priority, timeouts),
//! the one retry policy, version detection, and typed stream operations.
//!
//! This module depends only on [`crate::config`]; it never prints (callers decide
//! how to show results) and never lets a password reach a log line or an error.
//! Every operation names a single key, so a cluster connection can replace the
//! multiplexed one later without touching callers.

mod error;
mod id;
mod retry;
pub mod streams;
mod value;
mod version;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::config::RedisSettings;
use crate::util::lock;

pub use error::Error;
pub use id::StreamId;
pub use retry::{RetryPolicy, is_retryable};
pub use version::{Backend, RedisVersion, choose_backend, parse_info_version};

/// The stream key upstream Agents (and `agentctl serve`) use for an SDK key.
pub fn stream_key(sdk_key: &str) -> String {
    format!("{STREAM_PREFIX}{sdk_key}")
}

/// The SDK key of a notification stream key, when it follows the naming scheme.
pub fn sdk_key_of(stream: &str) -> Option<&str> {
    stream
        .strip_prefix(STREAM_PREFIX)
        .filter(|key| !key.is_empty())
}

const STREAM_PREFIX: &str = "stream:optimizely-sync-";

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
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        let mut display = info.addr().to_string();
        if redis.db() != 0 {
            display.push_str(&format!(" db {}", redis.db()));
        }
        if tls {
            display.push_str(" (TLS)");
        }
        Ok(Self {
            info: info.set_redis_settings(redis),
            display,
        })
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

/// A connection to one Redis, with the retry policy applied to every command.
///
/// Commands go through one multiplexed connection (cheap to clone, pipelining
/// concurrent callers). When it breaks, the next attempt reconnects.
pub struct Store {
    client: Client,
    config: AsyncConnectionConfig,
    conn: Mutex<Option<MultiplexedConnection>>,
    policy: RetryPolicy,
    target: Target,
    /// Set when a broken connection was dropped: the next one opened is a reconnect.
    broken: AtomicBool,
    /// Where reconnects are counted (see [`Store::count_reconnects_in`]).
    reconnects: Arc<AtomicU64>,
}

impl Store {
    /// Connects, retrying refused/reset/timed-out connections per the policy.
    ///
    /// The response timeout is the connection timeout (never the redis crate's
    /// 500 ms default, which long XRANGE pages or a busy server would exceed).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming the address when Redis cannot be reached or
    /// rejects the credentials.
    pub async fn connect(settings: &RedisSettings) -> Result<Self, Error> {
        let store = Self::lazy(settings)?;
        store
            .policy
            .run(|| store.connection())
            .await
            .map_err(|source| Error::Connect {
                addr: store.target.display.clone(),
                source,
            })?;
        Ok(store)
    }

    /// A store that connects on its first command instead of now, for long-lived
    /// users (the notification hubs) that must start while Redis is down.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] or [`Error::Connect`] when the settings cannot name
    /// a Redis at all.
    pub fn lazy(settings: &RedisSettings) -> Result<Self, Error> {
        let target = Target::from_settings(settings)?;
        let client = Client::open(target.info.clone()).map_err(|source| Error::Connect {
            addr: target.display.clone(),
            source,
        })?;
        let timeout = Some(settings.connection_timeout).filter(|t| !t.is_zero());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        Ok(Self {
            client,
            config,
            conn: Mutex::new(None),
            policy: RetryPolicy::from_settings(settings),
            target,
            broken: AtomicBool::new(false),
            reconnects: Arc::default(),
        })
    }

    /// The same store, counting its reconnects (connections re-opened after one broke)
    /// into `counter`, which other stores may share: a hub adds up the reconnects of
    /// all its connections and reads that counter.
    pub fn count_reconnects_in(mut self, counter: Arc<AtomicU64>) -> Self {
        self.reconnects = counter;
        self
    }

    /// The retry policy every command runs with.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The redis client, for connections of other kinds (Pub/Sub) to the same target.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The address being used, safe to print.
    pub fn address(&self) -> &str {
        self.target.display()
    }

    /// The current connection, opening one when there is none (or it broke).
    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(conn) = lock(&self.conn).clone() {
            return Ok(conn);
        }
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        if self.broken.swap(false, Ordering::Relaxed) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        *lock(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one command with the retry policy; a dropped connection is replaced
    /// before the next attempt.
    ///
    /// # Errors
    ///
    /// [`Error::Command`] naming the command when Redis answers with an error that
    /// is not retryable or retries are exhausted.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let name = command_name(cmd);
        self.run(
            &name,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Sends a pipeline in one round trip, with the same retry rules as [`Store::query`].
    ///
    /// # Errors
    ///
    /// As [`Store::query`]; an error reply to any command fails the whole pipeline.
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, Error> {
        self.run("pipeline", |mut conn| async move {
            pipe.query_async(&mut conn).await
        })
        .await
    }

    async fn run<T, F, Fut>(&self, name: &str, op: F) -> Result<T, Error>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.policy
            .run(|| async {
                let result = op(self.connection().await?).await;
                if let Err(err) = &result
                    && (err.is_unrecoverable_error() || err.is_connection_dropped())
                {
                    // Drop the broken connection; the next attempt opens a new one.
                    *lock(&self.conn) = None;
                    self.broken.store(true, Ordering::Relaxed);
                }
                result
            })
            .await
            .map_err(|err| Error::command(name, &self.target.display, err))
    }

    /// Reads the server version with `INFO server`.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`] when the reply has no `redis_version`.
    pub async fn version(&self) -> Result<RedisVersion, Error> {
        let info: String = self.query(redis::cmd("INFO").arg("server")).await?;
        parse_info_version(&info).ok_or_else(|| Error::Decode {
            what: "INFO server".to_owned(),
            reason: "no redis_version field".to_owned(),
        })
    }
}

/// The command's name for error messages (never its arguments, which may hold data).
fn command_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .next()
        .and_then(|arg| match arg {
            redis::Arg::Simple(bytes) => {
                std::str::from_utf8(bytes).ok().map(str::to_ascii_uppercase)
            }
            _ => None,
        })
        .unwrap_or_else(|| "command".to_owned())
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
    fn bad_urls_are_reported_without_password() {
        let err = Target::from_settings(&settings("redis://u:hunter2@:x/0"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("u:***"), "{err}");
    }

    #[test]
    fn stream_keys() {
        assert_eq!(stream_key("abc"), "stream:optimizely-sync-abc");
        assert_eq!(sdk_key_of("stream:optimizely-sync-abc"), Some("abc"));
        assert_eq!(sdk_key_of("stream:other"), None);
    }
}
