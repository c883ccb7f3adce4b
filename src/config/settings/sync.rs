//! The synchronisation sections of the settings tree (`synchronization.*`): the
//! synchronised features and the Redis connection they share.
//!
//! Every `Default` impl here is the single place where a default value is written.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Secret, url_without_password};

/// Synchronisation between instances (`synchronization.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct SynchronizationSettings {
    /// Connection to the shared Redis (`pubsub`).
    pub pubsub: PubSubSettings,
    /// Notification sync between instances.
    pub notification: SyncFeatureSettings,
    /// Datafile-update sync between instances.
    pub datafile: SyncFeatureSettings,
}

/// One synchronised feature (`synchronization.notification`, `synchronization.datafile`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct SyncFeatureSettings {
    /// Turn the sync on.
    pub enable: bool,
    /// Transport: `redis` (auto-detect Streams or Pub/Sub by Redis version),
    /// `redis-streams` or `redis-pubsub` (forced).
    pub default: String,
}

impl Default for SyncFeatureSettings {
    fn default() -> Self {
        SyncFeatureSettings {
            enable: false,
            default: "redis".to_owned(),
        }
    }
}

/// Pub/sub back-ends (`synchronization.pubsub.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct PubSubSettings {
    /// The Redis connection and Streams tuning.
    pub redis: RedisSettings,
}

/// Redis connection and Streams tuning (`synchronization.pubsub.redis.*`).
///
/// `Debug` prints `"***"` for non-empty credentials.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `host:port`, a `redis://` / `rediss://` URL, or a topology URL:
    /// `redis+cluster://[user:pass@]h1:p1,h2:p2` (Redis Cluster seed nodes) or
    /// `redis+sentinel://[user:pass@]s1:p1,s2:p2/master_name` (Sentinel). Ignored
    /// when `cluster` or `sentinel` is set.
    pub host: String,
    /// Redis Cluster seed nodes (`host:port` or `redis[s]://` URLs); when not
    /// empty the connection is a cluster connection and `database` must be 0.
    pub cluster: Vec<String>,
    /// Redis Sentinel: when `sentinel.master_name` is set, the primary is found
    /// through the sentinels and found again after a fail-over.
    pub sentinel: RedisSentinelSettings,
    /// Password, highest priority; secret.
    pub auth_token: String,
    /// Password, second priority; secret.
    pub redis_secret: String,
    /// Password, third priority; secret.
    pub password: String,
    /// Database number.
    pub database: i64,
    /// Most entries per publish pipeline / read.
    pub batch_size: usize,
    /// Longest time a partial batch waits.
    #[serde(with = "crate::config::duration")]
    pub flush_interval: Duration,
    /// Most retries of a failed operation.
    pub max_retries: u32,
    /// First retry delay; doubles after each retry.
    #[serde(with = "crate::config::duration")]
    pub retry_delay: Duration,
    /// Cap on the retry delay.
    #[serde(with = "crate::config::duration")]
    pub max_retry_delay: Duration,
    /// Timeout for establishing a connection.
    #[serde(with = "crate::config::duration")]
    pub connection_timeout: Duration,
    /// Approximate most entries kept per notification stream (`MAXLEN ~` on every
    /// XADD); 0 keeps everything.
    pub max_len: usize,
    /// Entries older than this are trimmed on publish (`MINID ~`); 0 keeps them.
    #[serde(with = "crate::config::duration")]
    pub max_age: Duration,
    /// How long an entry must sit unacknowledged with another consumer of a durable
    /// group before this instance claims it.
    #[serde(with = "crate::config::duration")]
    pub claim_min_idle: Duration,
    /// Most consumer groups `?group=` may create per notification stream (counted
    /// in Redis, so across instances); 0 sets no cap. Joining an existing group is
    /// always allowed.
    pub max_groups: usize,
    /// Notifications kept while Redis is unreachable; past this they are dropped and
    /// counted.
    pub buffer_size: usize,
    /// Replicas that should acknowledge each publish batch (`WAIT` at the end of its
    /// pipeline) before it counts as published; 0 turns `WAIT` off.
    pub wait_replicas: u32,
    /// Longest `WAIT` for `wait_replicas`; a batch that got fewer is counted, not
    /// retried. More than zero, and shorter than `connection_timeout`.
    #[serde(with = "crate::config::duration")]
    pub wait_timeout: Duration,
    /// TLS for a `rediss://` host: a private CA, a client certificate.
    pub tls: RedisTlsSettings,
}

/// TLS for a `rediss://` Redis (`synchronization.pubsub.redis.tls.*`). Empty
/// paths mean the built-in public web roots and no client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisTlsSettings {
    /// PEM file of the CA certificates to trust instead of the public web roots.
    pub ca_file: String,
    /// PEM file of the client certificate (chain), for mutual TLS; with `key_file`.
    pub cert_file: String,
    /// PEM file of the client certificate's private key; with `cert_file`.
    pub key_file: String,
    /// Accept any server certificate (no chain or host name check), as the URL
    /// fragment `#insecure` does: anyone on the path can read and change the
    /// traffic. For tests only.
    pub insecure_skip_verify: bool,
}

/// Redis Sentinel (`synchronization.pubsub.redis.sentinel.*`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisSentinelSettings {
    /// The name the sentinels monitor the primary under; empty turns Sentinel off.
    pub master_name: String,
    /// The sentinels, `host:port` each (at least one).
    pub addrs: Vec<String>,
    /// Password of the sentinels themselves (the primary's password is the usual
    /// `auth_token` > `redis_secret` > `password`); secret.
    pub password: String,
}

impl RedisSentinelSettings {
    /// Whether Sentinel is configured.
    pub fn is_set(&self) -> bool {
        !self.master_name.is_empty()
    }
}

impl fmt::Debug for RedisSentinelSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinelSettings")
            .field("master_name", &self.master_name)
            .field("addrs", &self.addrs)
            .field("password", &Secret(&self.password))
            .finish()
    }
}

impl RedisTlsSettings {
    /// Whether any TLS setting differs from the defaults.
    pub fn is_set(&self) -> bool {
        *self != Self::default()
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            host: "localhost:6379".to_owned(),
            cluster: Vec::new(),
            sentinel: RedisSentinelSettings::default(),
            auth_token: String::new(),
            redis_secret: String::new(),
            password: String::new(),
            database: 0,
            batch_size: 10,
            flush_interval: Duration::from_secs(5),
            max_retries: 3,
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(10),
            max_len: 0,
            max_age: Duration::from_secs(24 * 60 * 60),
            claim_min_idle: Duration::from_secs(30),
            max_groups: 16,
            buffer_size: 100_000,
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(100),
            tls: RedisTlsSettings::default(),
        }
    }
}

impl RedisSettings {
    /// The password to use: first non-empty of `auth_token` > `redis_secret` >
    /// `password` (env fallbacks `REDIS_PUBSUB_PASSWORD` then `REDIS_PASSWORD` are
    /// folded into `password` by [`load`](crate::config::load) when all three are empty).
    pub fn effective_password(&self) -> Option<&str> {
        [&self.auth_token, &self.redis_secret, &self.password]
            .into_iter()
            .find(|s| !s.is_empty())
            .map(String::as_str)
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("host", &url_without_password(&self.host))
            .field("cluster", &self.cluster)
            .field("sentinel", &self.sentinel)
            .field("auth_token", &Secret(&self.auth_token))
            .field("redis_secret", &Secret(&self.redis_secret))
            .field("password", &Secret(&self.password))
            .field("database", &self.database)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &self.retry_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("connection_timeout", &self.connection_timeout)
            .field("max_len", &self.max_len)
            .field("max_age", &self.max_age)
            .field("claim_min_idle", &self.claim_min_idle)
            .field("max_groups", &self.max_groups)
            .field("buffer_size", &self.buffer_size)
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .field("tls", &self.tls)
            .finish()
    }
}
