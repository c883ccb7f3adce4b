//! The settings tree and its defaults.
//!
//! Every `Default` impl here is the single place where a default value is written.
//! Serde field names are the upstream key names lowercased (the loader lowercases the
//! keys it reads, which is how upstream's case-insensitive keys are matched).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml_ng::Value;

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
        for auth in [&mut out.api.auth, &mut out.admin.auth] {
            auth.hmac_secrets.iter_mut().for_each(mask);
            for client in &mut auth.clients {
                client.secrets.iter_mut().for_each(mask);
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
    /// Notifications a subscriber may fall behind before it is disconnected; also how
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

/// Authentication settings of the API or admin listener (`api.auth.*`, `admin.auth.*`).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Lifetime of issued tokens, 0 = auth disabled.
    #[serde(with = "crate::config::duration")]
    pub ttl: Duration,
    /// HMAC secrets used to sign and verify tokens (`hmacSecrets`); secret.
    #[serde(rename = "hmacsecrets")]
    pub hmac_secrets: Vec<String>,
    /// JWKS document to verify tokens against (`jwksURL`).
    #[serde(rename = "jwksurl")]
    pub jwks_url: String,
    /// How often the JWKS document is refetched (`jwksUpdateInterval`).
    #[serde(rename = "jwksupdateinterval", with = "crate::config::duration")]
    pub jwks_update_interval: Duration,
    /// Clients allowed to obtain tokens.
    pub clients: Vec<AuthClientSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            ttl: Duration::ZERO,
            hmac_secrets: Vec::new(),
            jwks_url: String::new(),
            jwks_update_interval: Duration::ZERO,
            clients: Vec::new(),
        }
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("ttl", &self.ttl)
            .field("hmac_secrets", &Secrets(&self.hmac_secrets))
            .field("jwks_url", &self.jwks_url)
            .field("jwks_update_interval", &self.jwks_update_interval)
            .field("clients", &self.clients)
            .finish()
    }
}

/// One client allowed to obtain tokens (`auth.clients[*]`).
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthClientSettings {
    /// Client id.
    pub id: String,
    /// Client secrets; secret.
    pub secrets: Vec<String>,
    /// SDK keys this client may use (`sdkKeys`).
    #[serde(rename = "sdkkeys")]
    pub sdk_keys: Vec<String>,
}

impl fmt::Debug for AuthClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthClientSettings")
            .field("id", &self.id)
            .field("secrets", &Secrets(&self.secrets))
            .field("sdk_keys", &self.sdk_keys)
            .finish()
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

/// The webhook listener (`webhook.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// TCP port, as a string like upstream (validated as 0-65535).
    pub port: String,
    /// Per project id: which SDK keys to refresh and how to check the signature.
    #[serde(deserialize_with = "project_map")]
    pub projects: BTreeMap<i64, WebhookProjectSettings>,
    /// A signed call whose `timestamp` is further than this from the clock is
    /// refused, and a signature already accepted within it is refused as a replay;
    /// 0 turns both checks off (`replayWindow`; agentctl's own key).
    #[serde(rename = "replaywindow", with = "crate::config::duration")]
    pub replay_window: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            port: "8089".to_owned(),
            projects: BTreeMap::new(),
            replay_window: Duration::from_secs(5 * 60),
        }
    }
}

/// A project id written either as a YAML integer or as a string of digits.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ProjectId(i64);

impl<'de> Deserialize<'de> for ProjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = ProjectId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(super::tree::EXPECTED_PROJECT_ID)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ProjectId, E> {
                Ok(ProjectId(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ProjectId, E> {
                i64::try_from(v)
                    .map(ProjectId)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ProjectId, E> {
                v.trim()
                    .parse()
                    .map(ProjectId)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

fn project_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<i64, WebhookProjectSettings>, D::Error> {
    let map = BTreeMap::<ProjectId, WebhookProjectSettings>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(id, p)| (id.0, p)).collect())
}

/// Webhook settings of one project (`webhook.projects.<id>.*`).
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct WebhookProjectSettings {
    /// SDK keys whose datafiles are refreshed when this project's webhook fires (`sdkKeys`).
    #[serde(rename = "sdkkeys")]
    pub sdk_keys: Vec<String>,
    /// Shared secret for the `X-Hub-Signature` HMAC; secret.
    pub secret: String,
    /// Accept requests without checking the signature (`skipSignatureCheck`).
    #[serde(rename = "skipsignaturecheck")]
    pub skip_signature_check: bool,
}

impl fmt::Debug for WebhookProjectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookProjectSettings")
            .field("sdk_keys", &self.sdk_keys)
            .field("secret", &Secret(&self.secret))
            .field("skip_signature_check", &self.skip_signature_check)
            .finish()
    }
}

/// Datafile, event and decision-client settings (`client.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ClientSettings {
    /// How often datafiles are refetched (`pollingInterval`).
    #[serde(rename = "pollinginterval", with = "crate::config::duration")]
    pub polling_interval: Duration,
    /// Events per dispatched batch (`batchSize`).
    #[serde(rename = "batchsize")]
    pub batch_size: usize,
    /// Events buffered before new ones are dropped (`queueSize`).
    #[serde(rename = "queuesize")]
    pub queue_size: usize,
    /// Longest time an event waits before its batch is sent (`flushInterval`).
    #[serde(rename = "flushinterval", with = "crate::config::duration")]
    pub flush_interval: Duration,
    /// Datafile URL; `%s` is replaced by the SDK key (`datafileURLTemplate`).
    #[serde(rename = "datafileurltemplate")]
    pub datafile_url_template: String,
    /// Longest time one datafile fetch over HTTP may take, 0 = no limit
    /// (`datafileRequestTimeout`; agentctl's own key).
    #[serde(rename = "datafilerequesttimeout", with = "crate::config::duration")]
    pub datafile_request_timeout: Duration,
    /// How long an SDK key whose datafile fetch over HTTP failed gets the same
    /// answer without fetching again, 0 = not cached (`unknownSdkKeyTTL`; agentctl's own).
    #[serde(rename = "unknownsdkkeyttl", with = "crate::config::duration")]
    pub unknown_sdk_key_ttl: Duration,
    /// Where event batches are sent, empty = nowhere (`eventURL`).
    #[serde(rename = "eventurl")]
    pub event_url: String,
    /// Pattern an SDK key must match (`sdkKeyRegex`).
    #[serde(rename = "sdkkeyregex")]
    pub sdk_key_regex: String,
    /// User profile service plugins (`userProfileService`).
    #[serde(rename = "userprofileservice")]
    pub user_profile_service: UserProfileServiceSettings,
    /// ODP settings (`odp`).
    pub odp: OdpSettings,
    /// Contextual multi-armed bandit settings (`cmab`).
    pub cmab: CmabSettings,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            polling_interval: Duration::from_secs(60),
            batch_size: 10,
            queue_size: 1000,
            flush_interval: Duration::from_secs(30),
            datafile_url_template: "https://cdn.optimizely.com/datafiles/%s.json".to_owned(),
            datafile_request_timeout: Duration::from_secs(10),
            unknown_sdk_key_ttl: Duration::from_secs(10),
            event_url: "https://logx.optimizely.com/v1/events".to_owned(),
            sdk_key_regex: r"^\w+(:\w+)?$".to_owned(),
            user_profile_service: UserProfileServiceSettings::default(),
            odp: OdpSettings::default(),
            cmab: CmabSettings::default(),
        }
    }
}

/// User profile service plugins (`client.userProfileService.*`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct UserProfileServiceSettings {
    /// Name of the service used by default, empty = none.
    pub default: String,
    /// Free-form per-service settings, keyed by service name.
    pub services: BTreeMap<String, Value>,
}

impl UserProfileServiceSettings {
    /// The field `key` of the service `default` names; names and keys match
    /// case-insensitively, as upstream's lowercased settings do.
    pub fn selected_field(&self, key: &str) -> Option<&Value> {
        let service = self
            .services
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&self.default))?
            .1
            .as_mapping()?;
        service
            .iter()
            .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v)
    }

    /// The field `key` of the selected service as text (numbers are written out).
    pub fn selected_str(&self, key: &str) -> Option<String> {
        match self.selected_field(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `timeout` of the selected service (our key; upstream has none), else `default`.
    pub fn selected_timeout(&self, default: Duration) -> Duration {
        self.selected_str("timeout")
            .and_then(|t| crate::config::duration::parse(&t).ok())
            .unwrap_or(default)
    }

    /// The connection settings of the `redis` service, when `default` is `"redis"`:
    /// its `host` (default `localhost:6379`), `password` and `database`, and our
    /// `timeout` (2s) as connection and response timeout, with one retry, so a Redis
    /// that is down holds a decision up only briefly.
    pub fn redis(&self) -> Option<RedisSettings> {
        if !self.default.eq_ignore_ascii_case("redis") {
            return None;
        }
        let defaults = RedisSettings::default();
        Some(RedisSettings {
            host: self.selected_str("host").unwrap_or(defaults.host.clone()),
            password: self.selected_str("password").unwrap_or_default(),
            database: self
                .selected_field("database")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            connection_timeout: self.selected_timeout(Duration::from_secs(2)),
            max_retries: 1,
            ..defaults
        })
    }
}

/// ODP settings (`client.odp.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct OdpSettings {
    /// Turn ODP off.
    pub disable: bool,
    /// Timeout of an ODP event request (`eventsRequestTimeout`).
    #[serde(rename = "eventsrequesttimeout", with = "crate::config::duration")]
    pub events_request_timeout: Duration,
    /// How often ODP events are flushed (`eventsFlushInterval`).
    #[serde(rename = "eventsflushinterval", with = "crate::config::duration")]
    pub events_flush_interval: Duration,
    /// Timeout of a segments request (`segmentsRequestTimeout`).
    #[serde(rename = "segmentsrequesttimeout", with = "crate::config::duration")]
    pub segments_request_timeout: Duration,
    /// Free-form segments cache plugin settings (`segmentsCache`).
    #[serde(rename = "segmentscache")]
    pub segments_cache: BTreeMap<String, Value>,
}

impl Default for OdpSettings {
    fn default() -> Self {
        OdpSettings {
            disable: false,
            events_request_timeout: Duration::from_secs(10),
            events_flush_interval: Duration::from_secs(1),
            segments_request_timeout: Duration::from_secs(10),
            segments_cache: BTreeMap::new(),
        }
    }
}

/// Contextual multi-armed bandit settings (`client.cmab.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CmabSettings {
    /// Timeout of a prediction request (`requestTimeout`).
    #[serde(rename = "requesttimeout", with = "crate::config::duration")]
    pub request_timeout: Duration,
    /// Prediction URL; `%s` is replaced by the rule id (`predictionEndpoint`).
    #[serde(rename = "predictionendpoint")]
    pub prediction_endpoint: String,
    /// Decision cache.
    pub cache: CmabCacheSettings,
    /// Retries of prediction requests (`retryConfig`).
    #[serde(rename = "retryconfig")]
    pub retry_config: CmabRetrySettings,
}

impl Default for CmabSettings {
    fn default() -> Self {
        CmabSettings {
            request_timeout: Duration::from_secs(10),
            prediction_endpoint: "https://prediction.cmab.optimizely.com/predict/%s".to_owned(),
            cache: CmabCacheSettings::default(),
            retry_config: CmabRetrySettings::default(),
        }
    }
}

/// CMAB decision cache (`client.cmab.cache.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CmabCacheSettings {
    /// Cache implementation (`type`), e.g. `memory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Maximum entries.
    pub size: usize,
    /// Lifetime of an entry.
    #[serde(with = "crate::config::duration")]
    pub ttl: Duration,
}

impl Default for CmabCacheSettings {
    fn default() -> Self {
        CmabCacheSettings {
            kind: "memory".to_owned(),
            size: 1000,
            ttl: Duration::from_secs(30 * 60),
        }
    }
}

/// Retries of CMAB prediction requests (`client.cmab.retryConfig.*`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct CmabRetrySettings {
    /// Maximum retries (`maxRetries`).
    #[serde(rename = "maxretries")]
    pub max_retries: u32,
    /// First backoff (`initialBackoff`).
    #[serde(rename = "initialbackoff", with = "crate::config::duration")]
    pub initial_backoff: Duration,
    /// Longest backoff (`maxBackoff`).
    #[serde(rename = "maxbackoff", with = "crate::config::duration")]
    pub max_backoff: Duration,
    /// Factor applied to the backoff after each retry (`backoffMultiplier`).
    #[serde(rename = "backoffmultiplier")]
    pub backoff_multiplier: f64,
}

impl Default for CmabRetrySettings {
    fn default() -> Self {
        CmabRetrySettings {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            backoff_multiplier: 2.0,
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
    /// `host:port`, or a `redis://` / `rediss://` URL.
    pub host: String,
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
    /// Notifications kept while Redis is unreachable; past this they are dropped and
    /// counted.
    pub buffer_size: usize,
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
            max_age: Duration::ZERO,
            claim_min_idle: Duration::from_secs(30),
            buffer_size: 100_000,
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
            .field("buffer_size", &self.buffer_size)
            .field("tls", &self.tls)
            .finish()
    }
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
