//! The settings tree and its defaults: `Settings` and its listener, logging and
//! runtime sections; the `client.*`, `synchronization.*` and `webhook.*` sections
//! are in [`client`], [`sync`] and [`webhook`], and the `auth` section both
//! listeners have in [`auth`].
//!
//! Every `Default` impl here is the single place where a default value is written.
//! Serde field names are the upstream key names lowercased (the loader lowercases the
//! keys it reads, which is how upstream's case-insensitive keys are matched).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod auth;
mod client;
mod sync;
mod tracing;
mod webhook;

pub use auth::{AuthClientSettings, AuthSettings};
pub use client::{
    ClientSettings, CmabCacheSettings, CmabRetrySettings, CmabSettings, ODP_PASSWORD_ENV,
    OdpSettings, SegmentsCacheChoice, SegmentsCacheProblem, UserProfileServiceSettings,
};
pub use sync::{
    PubSubSettings, RedisSentinelSettings, RedisSettings, RedisTlsSettings, SyncFeatureSettings,
    SynchronizationSettings,
};
pub use tracing::{
    OpenTelemetrySettings, RemoteTraceSettings, StdoutTraceSettings, TracingServices,
    TracingSettings,
};
pub use webhook::{WebhookProjectSettings, WebhookSettings};

/// Stands in for a secret in `Debug` output: `"***"` when set, `""` when empty.
struct Secret<'a>(&'a str);

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"***\"")
        }
    }
}

/// A list of secrets in `Debug` output: one `"***"` per entry.
struct Secrets<'a>(&'a [String]);

impl fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| Secret(s)))
            .finish()
    }
}

/// Replaces a non-empty secret by `***` (for printing settings).
fn mask(secret: &mut String) {
    if !secret.is_empty() {
        "***".clone_into(secret);
    }
}

/// A `redis://user:password@host` URL with the password replaced by `***`; other
/// host strings unchanged.
fn url_without_password(host: &str) -> Cow<'_, str> {
    let Some(scheme_end) = host.find("://") else {
        return Cow::Borrowed(host);
    };
    let start = scheme_end + 3;
    let end = host[start..].find('/').map_or(host.len(), |i| start + i);
    let Some(at) = host[start..end].rfind('@').map(|i| start + i) else {
        return Cow::Borrowed(host);
    };
    match host[start..at].split_once(':') {
        Some((user, password)) if !password.is_empty() => {
            Cow::Owned(format!("{}{user}:***{}", &host[..start], &host[at..]))
        }
        _ => Cow::Borrowed(host),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// All settings of `agentctl`, with the upstream Agent's key names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Author reported by `/info` (`author`).
    pub author: String,
    /// Service name reported by `/info` (`name`).
    pub name: String,
    /// SDK keys whose datafiles are fetched at start-up (`sdkKeys`).
    #[serde(rename = "sdkkeys")]
    pub sdk_keys: Vec<String>,
    /// Logging (`log.*`).
    pub log: LogSettings,
    /// HTTP server behaviour shared by all listeners (`server.*`).
    pub server: ServerSettings,
    /// The public API listener (`api.*`).
    pub api: ApiSettings,
    /// The admin listener: health, info, metrics (`admin.*`).
    pub admin: AdminSettings,
    /// The webhook listener (`webhook.*`).
    pub webhook: WebhookSettings,
    /// Datafile, event and decision-client behaviour (`client.*`).
    pub client: ClientSettings,
    /// Go runtime profiling knobs, accepted for compatibility (`runtime.*`).
    pub runtime: RuntimeSettings,
    /// Synchronisation between instances through Redis (`synchronization.*`).
    pub synchronization: SynchronizationSettings,
    /// OpenTelemetry spans of API requests (`tracing.*`).
    pub tracing: TracingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            author: "Optimizely Inc.".to_owned(),
            name: "optimizely".to_owned(),
            sdk_keys: Vec::new(),
            log: LogSettings::default(),
            server: ServerSettings::default(),
            api: ApiSettings::default(),
            admin: AdminSettings::default(),
            webhook: WebhookSettings::default(),
            client: ClientSettings::default(),
            runtime: RuntimeSettings::default(),
            synchronization: SynchronizationSettings::default(),
            tracing: TracingSettings::default(),
        }
    }
}

impl Settings {
    /// A copy in which every non-empty secret (Redis credentials, HMAC secrets,
    /// client secrets, webhook secrets) is replaced by `***`, for printing.
    pub fn redacted(&self) -> Settings {
        let mut out = self.clone();
        let redis = &mut out.synchronization.pubsub.redis;
        redis.host = url_without_password(&redis.host).into_owned();
        mask(&mut redis.auth_token);
        mask(&mut redis.redis_secret);
        mask(&mut redis.password);
        mask(&mut redis.sentinel.password);
        for node in redis.cluster.iter_mut().chain(&mut redis.sentinel.addrs) {
            *node = url_without_password(node).into_owned();
        }
        for auth in [&mut out.api.auth, &mut out.admin.auth] {
            auth.hmac_secrets.iter_mut().for_each(mask);
            for client in &mut auth.clients {
                mask(&mut client.secret_hash);
            }
        }
        for project in out.webhook.projects.values_mut() {
            mask(&mut project.secret);
        }
        out
    }
}

/// Logging settings (`log.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct LogSettings {
    /// Minimum level: `trace`, `debug`, `info`, `warn` or `error` (lowercased by the loader).
    pub level: String,
    /// Human-readable console output instead of JSON lines.
    pub pretty: bool,
    /// Whether SDK keys may appear in log lines (`includeSdkKey`).
    #[serde(rename = "includesdkkey")]
    pub include_sdk_key: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_owned(),
            pretty: false,
            include_sdk_key: true,
        }
    }
}

/// HTTP server settings shared by the API, admin and webhook listeners (`server.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Address the listeners bind to.
    pub host: String,
    /// Accepted `Host` header values (`allowedHosts`).
    #[serde(rename = "allowedhosts")]
    pub allowed_hosts: Vec<String>,
    /// Maximum time to read a request (`readTimeout`); it also bounds the wait for a
    /// request's headers, on a new connection or between keep-alive requests.
    #[serde(rename = "readtimeout", with = "crate::config::duration")]
    pub read_timeout: Duration,
    /// Maximum time to write a response (`writeTimeout`); long-lived SSE streams need more.
    #[serde(rename = "writetimeout", with = "crate::config::duration")]
    pub write_timeout: Duration,
    /// Path of the health endpoint on the admin listener (`healthCheckPath`).
    #[serde(rename = "healthcheckpath")]
    pub health_check_path: String,
    /// TLS certificate file (PEM); TLS is on when this and `key_file` are set (`certFile`).
    #[serde(rename = "certfile")]
    pub cert_file: String,
    /// TLS private key file (PEM) (`keyFile`).
    #[serde(rename = "keyfile")]
    pub key_file: String,
    /// TLS cipher suites to refuse (`disabledCiphers`).
    #[serde(rename = "disabledciphers")]
    pub disabled_ciphers: Vec<String>,
    /// Limits for batch requests (`batchRequests`).
    #[serde(rename = "batchrequests")]
    pub batch_requests: BatchRequestsSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: "127.0.0.1".to_owned(),
            allowed_hosts: strings(&["localhost"]),
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            health_check_path: "/health".to_owned(),
            cert_file: String::new(),
            key_file: String::new(),
            disabled_ciphers: Vec::new(),
            batch_requests: BatchRequestsSettings::default(),
        }
    }
}

/// Limits for batch requests (`server.batchRequests.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct BatchRequestsSettings {
    /// Operations of one batch run concurrently (`maxConcurrency`).
    #[serde(rename = "maxconcurrency")]
    pub max_concurrency: usize,
    /// Maximum operations in one batch (`operationsLimit`).
    #[serde(rename = "operationslimit")]
    pub operations_limit: usize,
}

impl Default for BatchRequestsSettings {
    fn default() -> Self {
        BatchRequestsSettings {
            max_concurrency: 10,
            operations_limit: 500,
        }
    }
}

/// The public API listener (`api.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ApiSettings {
    /// TCP port, as a string like upstream (validated as 0-65535).
    pub port: String,
    /// Maximum simultaneous connections to the API listener (`maxConns`); 0 = as
    /// many as the open-file limit leaves room for.
    #[serde(rename = "maxconns")]
    pub max_conns: usize,
    /// Serve `/v1/notifications/event-stream` (`enableNotifications`).
    #[serde(rename = "enablenotifications")]
    pub enable_notifications: bool,
    /// Serve `/v1/override` (`enableOverrides`).
    #[serde(rename = "enableoverrides")]
    pub enable_overrides: bool,
    /// Interval of the keep-alive comment on idle notification streams
    /// (`notificationKeepAlive`; agentctl's own key, 0 turns it off).
    #[serde(rename = "notificationkeepalive", with = "crate::config::duration")]
    pub notification_keep_alive: Duration,
    /// Notifications a subscriber may fall behind the live feed (past it, a Streams
    /// subscriber catches up from the stream, others are disconnected); also how
    /// many recent notifications per SDK key the in-memory hub keeps for resuming
    /// (`notificationBuffer`; agentctl's own key).
    #[serde(rename = "notificationbuffer")]
    pub notification_buffer: usize,
    /// CORS policy (`cors`).
    pub cors: CorsSettings,
    /// Authentication of API requests (`auth`).
    pub auth: AuthSettings,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            port: "8080".to_owned(),
            max_conns: 0,
            enable_notifications: false,
            enable_overrides: false,
            notification_keep_alive: Duration::from_secs(15),
            notification_buffer: 1024,
            cors: CorsSettings::default(),
            auth: AuthSettings::default(),
        }
    }
}

/// CORS policy of the API listener (`api.cors.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CorsSettings {
    /// Allowed origins (`allowedOrigins`).
    #[serde(rename = "allowedorigins")]
    pub allowed_origins: Vec<String>,
    /// Allowed methods (`allowedMethods`).
    #[serde(rename = "allowedmethods")]
    pub allowed_methods: Vec<String>,
    /// Allowed request headers (`allowedHeaders`).
    #[serde(rename = "allowedheaders")]
    pub allowed_headers: Vec<String>,
    /// Response headers exposed to scripts (`exposedHeaders`).
    #[serde(rename = "exposedheaders")]
    pub exposed_headers: Vec<String>,
    /// Whether credentials are allowed (`allowedCredentials`).
    #[serde(rename = "allowedcredentials")]
    pub allowed_credentials: bool,
    /// Preflight cache lifetime in seconds (`maxAge`).
    #[serde(rename = "maxage")]
    pub max_age: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: strings(&["*"]),
            allowed_methods: strings(&["HEAD", "GET", "POST", "OPTIONS"]),
            allowed_headers: strings(&["*"]),
            exposed_headers: Vec::new(),
            allowed_credentials: false,
            max_age: 300,
        }
    }
}

/// The admin listener (`admin.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AdminSettings {
    /// TCP port, as a string like upstream (validated as 0-65535).
    pub port: String,
    /// `/metrics` format (`metricsType`): `"prometheus"` for Prometheus text, `"expvar"`
    /// or `""` for upstream's expvar JSON, as upstream reads it (lowercased by the
    /// loader). The built-in default is `"prometheus"`.
    #[serde(rename = "metricstype")]
    pub metrics_type: String,
    /// Authentication of admin requests.
    pub auth: AuthSettings,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            port: "8088".to_owned(),
            metrics_type: "prometheus".to_owned(),
            auth: AuthSettings::default(),
        }
    }
}

/// Go runtime profiling knobs, accepted for compatibility (`runtime.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RuntimeSettings {
    /// Go's `runtime.SetBlockProfileRate` (`blockProfileRate`).
    #[serde(rename = "blockprofilerate")]
    pub block_profile_rate: i64,
    /// Go's `runtime.SetMutexProfileFraction` (`mutexProfileFraction`).
    #[serde(rename = "mutexprofilefraction")]
    pub mutex_profile_fraction: i64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        let table = [
            ("localhost:6379", "localhost:6379"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("redis://user@h:6379", "redis://user@h:6379"),
            ("redis://:pw@h:6379/1", "redis://:***@h:6379/1"),
            ("rediss://user:p@ss@h:6380", "rediss://user:***@h:6380"),
            ("redis://user:@h", "redis://user:@h"),
        ];
        for (host, want) in table {
            assert_eq!(url_without_password(host), want, "{host}");
        }
        let redis = RedisSettings {
            host: "redis://u:topsecret@h:1".to_owned(),
            ..RedisSettings::default()
        };
        assert!(!format!("{redis:?}").contains("topsecret"));
        let mut settings = Settings::default();
        settings.synchronization.pubsub.redis = redis;
        assert_eq!(
            settings.redacted().synchronization.pubsub.redis.host,
            "redis://u:***@h:1"
        );
    }
}
