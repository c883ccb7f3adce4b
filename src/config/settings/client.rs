//! The client sections of the settings tree (`client.*`): datafile polling and
//! events, the user profile service, ODP and CMAB.
//!
//! Every `Default` impl here is the single place where a default value is written.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use super::RedisSettings;

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
    /// Longest time shutdown waits for queued events to reach `eventURL`, and ODP
    /// events their endpoint (`eventShutdownTimeout`; agentctl's own key): an
    /// unreachable endpoint never holds a stopping `serve` longer than this.
    #[serde(rename = "eventshutdowntimeout", with = "crate::config::duration")]
    pub event_shutdown_timeout: Duration,
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
            event_shutdown_timeout: Duration::from_secs(1),
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
    /// The segments cache (`segmentsCache`): `default` names the service
    /// (`in-memory` or `redis`), `services` holds each one's settings; read with
    /// [`OdpSettings::segments_cache_choice`].
    #[serde(rename = "segmentscache")]
    pub segments_cache: BTreeMap<String, Value>,
}

/// The segments cache `client.odp.segmentsCache` selects.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SegmentsCacheChoice {
    /// In this process: at most `size` users (0 turns caching off), each kept for
    /// `timeout` (0 = until evicted).
    InMemory {
        /// Most users cached.
        size: usize,
        /// How long fetched segments stay valid.
        timeout: Duration,
    },
    /// In Redis, shared by every instance (and upstream Agents) using it.
    Redis {
        /// Where: `host`, the password, `database`.
        redis: Box<RedisSettings>,
        /// Expiry of each entry (`SET … PX`); 0 = never.
        timeout: Duration,
    },
}

/// A `client.odp.segmentsCache` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentsCacheProblem {
    /// The key below `client.odp.segmentsCache`, dotted (`services.redis.database`).
    pub key: String,
    /// The value found, as written.
    pub value: String,
    /// What is expected instead.
    pub expected: String,
}

/// Upstream's fallback variable for the Redis segments cache password.
pub const ODP_PASSWORD_ENV: &str = "REDIS_ODP_PASSWORD";

impl OdpSettings {
    /// Users kept by the in-memory cache when `segmentsCache` selects none
    /// (upstream's default).
    pub const DEFAULT_CACHE_SIZE: usize = 10_000;
    /// How long cached segments stay valid when `segmentsCache` selects no cache
    /// (upstream's default, 10 minutes).
    pub const DEFAULT_CACHE_TIMEOUT: Duration = Duration::from_secs(600);

    /// The cache `segmentsCache` selects, as upstream reads it: no `default` means
    /// the in-memory cache with [`Self::DEFAULT_CACHE_SIZE`] and
    /// [`Self::DEFAULT_CACHE_TIMEOUT`]; a selected service's missing `size` or
    /// `timeout` is 0 (no caching, no expiry). The Redis password is the first set of
    /// `auth_token`, `redis_secret`, `password`, then the variable
    /// [`ODP_PASSWORD_ENV`] read through `env`.
    ///
    /// # Errors
    ///
    /// A [`SegmentsCacheProblem`] naming the key for an unknown service name or a
    /// value of the wrong type.
    pub fn segments_cache_choice(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SegmentsCacheChoice, SegmentsCacheProblem> {
        let default = match entry(self.segments_cache.iter(), "default") {
            None | Some(Value::Null) => "",
            Some(Value::String(name)) => name.as_str(),
            Some(other) => return Err(problem("default", other, "\"in-memory\" or \"redis\"")),
        };
        let service = |name: &str| {
            entry(self.segments_cache.iter(), "services")
                .and_then(Value::as_mapping)
                .and_then(|services| entry(mapping_iter(services), name))
        };
        let field = |name: &str, key: &str| {
            service(name)
                .and_then(Value::as_mapping)
                .and_then(|m| entry(mapping_iter(m), key))
                .filter(|v| !v.is_null())
        };
        let timeout = |name: &str| -> Result<Duration, SegmentsCacheProblem> {
            let key = format!("services.{name}.timeout");
            match field(name, "timeout") {
                None => Ok(Duration::ZERO),
                Some(Value::String(text)) => crate::config::duration::parse(text)
                    .map_err(|_| problem(&key, &Value::String(text.clone()), DURATION)),
                // Go reads a bare number as nanoseconds.
                Some(Value::Number(n)) => n
                    .as_u64()
                    .map(Duration::from_nanos)
                    .ok_or_else(|| problem(&key, &Value::Number(n.clone()), DURATION)),
                Some(other) => Err(problem(&key, other, DURATION)),
            }
        };
        let integer = |name: &str, key: &str| -> Result<Option<u64>, SegmentsCacheProblem> {
            match field(name, key) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    problem(&format!("services.{name}.{key}"), v, "a whole number >= 0")
                }),
            }
        };
        let text = |name: &str, key: &str| -> Result<String, SegmentsCacheProblem> {
            match field(name, key) {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                Some(other) => Err(problem(&format!("services.{name}.{key}"), other, "text")),
            }
        };
        if default.is_empty() {
            return Ok(SegmentsCacheChoice::InMemory {
                size: Self::DEFAULT_CACHE_SIZE,
                timeout: Self::DEFAULT_CACHE_TIMEOUT,
            });
        }
        if default.eq_ignore_ascii_case("in-memory") {
            let size = integer("in-memory", "size")?.unwrap_or(0);
            return Ok(SegmentsCacheChoice::InMemory {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                timeout: timeout("in-memory")?,
            });
        }
        if default.eq_ignore_ascii_case("redis") {
            let host = text("redis", "host")?;
            let mut password = String::new();
            for key in ["auth_token", "redis_secret", "password"] {
                if password.is_empty() {
                    password = text("redis", key)?;
                }
            }
            if password.is_empty() {
                password = env(ODP_PASSWORD_ENV).unwrap_or_default();
            }
            let database = integer("redis", "database")?.unwrap_or(0);
            let defaults = RedisSettings::default();
            return Ok(SegmentsCacheChoice::Redis {
                redis: Box::new(RedisSettings {
                    host: if host.is_empty() {
                        defaults.host.clone()
                    } else {
                        host
                    },
                    password,
                    database: i64::try_from(database).unwrap_or(i64::MAX),
                    // A Redis that is down holds a decision up only briefly.
                    connection_timeout: Duration::from_secs(2),
                    max_retries: 1,
                    ..defaults
                }),
                timeout: timeout("redis")?,
            });
        }
        Err(problem(
            "default",
            &Value::String(default.to_owned()),
            "\"in-memory\" or \"redis\" (the caches agentctl has)",
        ))
    }
}

const DURATION: &str = "a duration such as 600s or 10m (0 = no expiry)";

fn mapping_iter(m: &serde_yaml_ng::Mapping) -> impl Iterator<Item = (&str, &Value)> {
    m.iter().filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
}

/// The value of `key` (matched case-insensitively, as upstream's lowercased keys are).
fn entry<'a, K: AsRef<str> + 'a>(
    mut entries: impl Iterator<Item = (K, &'a Value)>,
    key: &str,
) -> Option<&'a Value> {
    entries
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn problem(key: &str, value: &Value, expected: &str) -> SegmentsCacheProblem {
    let value = match value {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml_ng::to_string(other)
            .map(|t| t.trim_end().to_owned())
            .unwrap_or_default(),
    };
    SegmentsCacheProblem {
        key: key.to_owned(),
        value,
        expected: expected.to_owned(),
    }
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
