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
    /// Longest time shutdown waits for queued events to reach `eventURL`
    /// (`eventShutdownTimeout`; agentctl's own key): an unreachable endpoint never
    /// holds a stopping `serve` longer than this.
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
