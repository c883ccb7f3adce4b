//! Contextual multi-armed bandit (CMAB) decisions: the prediction-service client and
//! the decision cache.
//!
//! [`CmabClient::predict`] asks the prediction service (`client.cmab.predictionEndpoint`)
//! which variation a user gets for a CMAB rule, retrying transient failures with
//! capped exponential back-off (`client.cmab.retryConfig`). [`CmabCache`] is the LRU +
//! TTL cache (`client.cmab.cache`) the decision path keeps answers in; it is generic
//! over key and value so the caller decides what identifies a cached decision.
//!
//! This module imports nothing from `server` and only settings from `config`. It holds no task: a prediction runs on the caller's task, bounded by
//! `(max_retries + 1) × request_timeout` plus the back-off pauses.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config;
use crate::util::{Backoff, error_chain, lock};

/// Why a prediction could not be made, or the client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmabError {
    /// `client.cmab.predictionEndpoint` with a rule id filled in is not a URL.
    #[error("client.cmab.predictionEndpoint {endpoint:?} is invalid: {reason}")]
    InvalidEndpoint {
        /// The configured template.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot build the HTTP client for CMAB predictions")]
    HttpClient(#[source] reqwest::Error),
    /// The last attempt took longer than `client.cmab.requestTimeout`.
    #[error("CMAB prediction request to {url} timed out after {timeout:?} ({attempts} attempt(s))")]
    Timeout {
        /// The prediction URL.
        url: String,
        /// The per-attempt timeout.
        timeout: Duration,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The last attempt failed below HTTP: connection refused, reset, DNS, TLS.
    #[error("CMAB prediction request to {url} failed ({attempts} attempt(s)): {detail}")]
    Transport {
        /// The prediction URL.
        url: String,
        /// The error and its causes, on one line.
        detail: String,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The service answered with a status other than 2xx (4xx at once, 5xx after the
    /// retries).
    #[error("CMAB prediction service at {url} answered HTTP {status} ({attempts} attempt(s))")]
    Status {
        /// The prediction URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The service answered 2xx with a body that is not `{"predictions":[{"variation_id":"…"}]}`.
    #[error("malformed CMAB prediction reply from {url}: {reason}")]
    Malformed {
        /// The prediction URL.
        url: String,
        /// What is wrong with the reply.
        reason: String,
    },
}

/// Client of the CMAB prediction service. Cheap to clone (the HTTP connection pool
/// is shared).
#[derive(Debug, Clone)]
pub struct CmabClient {
    http: reqwest::Client,
    /// URL template; `%s` is replaced by the rule id.
    endpoint: String,
    request_timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
}

impl CmabClient {
    /// A client for the service configured in `client.cmab`, whose endpoint and
    /// back-off `config::validate` has already checked.
    ///
    /// # Errors
    ///
    /// [`CmabError::HttpClient`] when the HTTP client cannot be built.
    pub fn new(settings: &config::CmabSettings) -> Result<Self, CmabError> {
        let endpoint = &settings.prediction_endpoint;
        let retry = &settings.retry_config;
        crate::util::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .build()
            .map_err(CmabError::HttpClient)?;
        Ok(CmabClient {
            http,
            endpoint: endpoint.clone(),
            request_timeout: settings.request_timeout,
            max_retries: retry.max_retries,
            backoff: Backoff::new(retry.initial_backoff, retry.max_backoff)
                .with_multiplier(retry.backoff_multiplier),
        })
    }

    /// Asks the service which variation `user_id` gets in CMAB rule `rule_id`.
    ///
    /// POSTs `{"instances":[{"visitorId","experimentId","attributes":[{"id","value",
    /// "type":"custom_attribute"}],"cmabUUID"}]}` to the endpoint with `%s` replaced
    /// by `rule_id`, and returns `predictions[0].variation_id` of the reply.
    /// `attributes` are `(attribute id, value)` pairs, sent in the given order.
    ///
    /// Each attempt is bounded by `requestTimeout`. Connection failures, timeouts
    /// and 5xx replies are retried up to `maxRetries` times, pausing
    /// `initialBackoff × backoffMultiplier^n` (capped at `maxBackoff`) before retry
    /// `n + 1`; any other status and a malformed reply fail at once.
    ///
    /// # Errors
    ///
    /// [`CmabError::Timeout`], [`CmabError::Transport`] or [`CmabError::Status`]
    /// for the last failed attempt; [`CmabError::Malformed`] for a bad reply.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; nothing is left behind.
    pub async fn predict(
        &self,
        rule_id: &str,
        user_id: &str,
        attributes: &[(String, Value)],
        cmab_uuid: &str,
    ) -> Result<String, CmabError> {
        let url = self.url_for(rule_id)?;
        let body = Bytes::from(request_body(rule_id, user_id, attributes, cmab_uuid).to_string());
        let mut retries = 0;
        loop {
            match self.attempt(&url, body.clone()).await {
                Ok(variation_id) => return Ok(variation_id),
                Err(failure) if failure.is_retryable() && retries < self.max_retries => {
                    let delay = self.backoff.delay(retries);
                    retries += 1;
                    tracing::debug!(%url, retry = retries, ?delay, ?failure, "retrying CMAB prediction");
                    tokio::time::sleep(delay).await;
                }
                Err(failure) => return Err(self.error(failure, &url, retries + 1)),
            }
        }
    }

    /// The endpoint for `rule_id`, the id percent-encoded as one path segment.
    fn url_for(&self, rule_id: &str) -> Result<reqwest::Url, CmabError> {
        let raw = self.endpoint.replace("%s", &encode_segment(rule_id));
        reqwest::Url::parse(&raw).map_err(|err| CmabError::InvalidEndpoint {
            endpoint: self.endpoint.clone(),
            reason: format!("{raw:?} for rule {rule_id:?}: {err}"),
        })
    }

    async fn attempt(&self, url: &reqwest::Url, body: Bytes) -> Result<String, Failure> {
        let response = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(Failure::from_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Failure::Status(status.as_u16()));
        }
        let reply = response.bytes().await.map_err(Failure::from_reqwest)?;
        parse_reply(&reply).map_err(Failure::Malformed)
    }

    fn error(&self, failure: Failure, url: &reqwest::Url, attempts: u32) -> CmabError {
        let url = url.to_string();
        match failure {
            Failure::Timeout => CmabError::Timeout {
                url,
                timeout: self.request_timeout,
                attempts,
            },
            Failure::Transport(detail) => CmabError::Transport {
                url,
                detail,
                attempts,
            },
            Failure::Status(status) => CmabError::Status {
                url,
                status,
                attempts,
            },
            Failure::Malformed(reason) => CmabError::Malformed { url, reason },
        }
    }
}

/// What went wrong in one attempt.
#[derive(Debug)]
enum Failure {
    Timeout,
    Transport(String),
    Status(u16),
    Malformed(String),
}

impl Failure {
    fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Transport(error_chain(&err))
        }
    }

    /// Failures that may go away by themselves. A 4xx or a bad reply would repeat.
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Timeout | Failure::Transport(_) => true,
            Failure::Status(status) => *status >= 500,
            Failure::Malformed(_) => false,
        }
    }
}

fn request_body(
    rule_id: &str,
    user_id: &str,
    attributes: &[(String, Value)],
    cmab_uuid: &str,
) -> Value {
    let attributes: Vec<Value> = attributes
        .iter()
        .map(|(id, value)| json!({"id": id, "value": value, "type": "custom_attribute"}))
        .collect();
    json!({
        "instances": [{
            "visitorId": user_id,
            "experimentId": rule_id,
            "attributes": attributes,
            "cmabUUID": cmab_uuid,
        }]
    })
}

/// The variation id of a prediction reply.
fn parse_reply(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Reply {
        predictions: Vec<Prediction>,
    }
    #[derive(Deserialize)]
    struct Prediction {
        variation_id: String,
    }
    let reply: Reply = serde_json::from_slice(body).map_err(|err| err.to_string())?;
    match reply.predictions.into_iter().next() {
        None => Err("no predictions".to_owned()),
        Some(p) if p.variation_id.is_empty() => Err("empty variation_id".to_owned()),
        Some(p) => Ok(p.variation_id),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a rule id
/// stays one path segment whatever it contains.
fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A bounded LRU cache whose entries also expire `ttl` after insertion.
///
/// `size == 0` disables caching: nothing is stored and every lookup misses.
/// `ttl == 0` means entries never expire (they still fall out by LRU). Expired
/// entries are removed when looked up, or evicted as least recently used.
///
/// Every method takes a `std::sync::Mutex` for a few map operations and never
/// awaits, so it may be called from async code. The `*_at` variants take the
/// current time explicitly, which lets tests move the clock.
pub struct CmabCache<K, V> {
    /// `None` when caching is disabled.
    entries: Option<Mutex<LruCache<K, Entry<V>>>>,
    ttl: Duration,
}

struct Entry<V> {
    value: V,
    stored: Instant,
}

impl<K: Hash + Eq, V: Clone> CmabCache<K, V> {
    /// A cache of at most `size` entries living `ttl` each.
    pub fn new(size: usize, ttl: Duration) -> Self {
        CmabCache {
            entries: NonZeroUsize::new(size).map(|cap| Mutex::new(LruCache::new(cap))),
            ttl,
        }
    }

    /// The cache configured in `client.cmab.cache`. Only the in-memory kind exists;
    /// any other `type` is logged and served from memory too.
    pub fn from_settings(settings: &config::CmabCacheSettings) -> Self {
        if !settings.kind.is_empty() && !settings.kind.eq_ignore_ascii_case("memory") {
            tracing::warn!(
                kind = %settings.kind,
                "client.cmab.cache.type is not supported; using the in-memory cache"
            );
        }
        Self::new(settings.size, settings.ttl)
    }

    /// Whether anything is ever stored (`size > 0`).
    pub fn is_enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The live value for `key`, marking it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    /// [`get`](Self::get) with `now` as the current time.
    pub fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.guard()?;
        let entry = entries.get(key)?;
        if !self.expired(entry, now) {
            return Some(entry.value.clone());
        }
        entries.pop(key);
        None
    }

    /// Stores `value` for `key`, replacing any previous value and evicting the least
    /// recently used entry when full.
    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    /// [`insert`](Self::insert) with `now` as the current time.
    pub fn insert_at(&self, key: K, value: V, now: Instant) {
        if let Some(mut entries) = self.guard() {
            entries.put(key, Entry { value, stored: now });
        }
    }

    /// Removes `key`; returns its value if it was stored (expired or not).
    pub fn remove(&self, key: &K) -> Option<V> {
        self.guard()?.pop(key).map(|entry| entry.value)
    }

    /// Removes every entry (`RESET_CMAB_CACHE`).
    pub fn clear(&self) {
        if let Some(mut entries) = self.guard() {
            entries.clear();
        }
    }

    /// Entries stored, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.guard().map_or(0, |entries| entries.len())
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expired(&self, entry: &Entry<V>, now: Instant) -> bool {
        !self.ttl.is_zero() && now.saturating_duration_since(entry.stored) >= self.ttl
    }

    fn guard(&self) -> Option<MutexGuard<'_, LruCache<K, Entry<V>>>> {
        // A panic while holding the lock cannot leave the map half-updated in a way
        // that matters for a cache, so a poisoned lock is used as is.
        self.entries.as_ref().map(lock)
    }
}

impl<K: Hash + Eq + Clone, V: Clone> CmabCache<K, V> {
    /// Removes every entry whose key satisfies `matches`, e.g. one user's decisions
    /// for `INVALIDATE_USER_CMAB_CACHE`; returns how many were removed.
    pub fn remove_where(&self, mut matches: impl FnMut(&K) -> bool) -> usize {
        let Some(mut entries) = self.guard() else {
            return 0;
        };
        let doomed: Vec<K> = entries
            .iter()
            .filter(|(key, _)| matches(key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &doomed {
            entries.pop(key);
        }
        doomed.len()
    }
}

impl<K, V> std::fmt::Debug for CmabCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmabCache")
            .field("enabled", &self.entries.is_some())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use std::collections::VecDeque;
    use std::sync::Arc;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::post;

    /// A local prediction service: answers from a script (the last answer repeats)
    /// and records the rule id and body of every request.
    struct FakeService {
        script: Mutex<VecDeque<(StatusCode, String)>>,
        delay: Duration,
        requests: Mutex<Vec<(String, Value)>>,
    }

    impl FakeService {
        async fn start(script: &[(StatusCode, &str)], delay: Duration) -> (Arc<Self>, String) {
            let fake = Arc::new(FakeService {
                script: Mutex::new(script.iter().map(|(s, b)| (*s, (*b).to_owned())).collect()),
                delay,
                requests: Mutex::new(Vec::new()),
            });
            let app = Router::new()
                .route("/predict/{rule}", post(answer))
                .with_state(Arc::clone(&fake));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            (fake, base)
        }

        fn request_count(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    async fn answer(
        State(fake): State<Arc<FakeService>>,
        Path(rule): Path<String>,
        body: Bytes,
    ) -> (StatusCode, String) {
        let body: Value = serde_json::from_slice(&body).unwrap();
        fake.requests.lock().unwrap().push((rule, body));
        let reply = {
            let mut script = fake.script.lock().unwrap();
            if script.len() > 1 {
                script.pop_front().unwrap()
            } else {
                script.front().cloned().unwrap()
            }
        };
        tokio::time::sleep(fake.delay).await;
        reply
    }

    const OK_REPLY: &str = r#"{"predictions":[{"variation_id":"var_2"}]}"#;

    fn settings(base: &str, max_retries: u32) -> config::CmabSettings {
        config::CmabSettings {
            request_timeout: Duration::from_secs(5),
            prediction_endpoint: format!("{base}/predict/%s"),
            cache: config::CmabCacheSettings::default(),
            retry_config: config::CmabRetrySettings {
                max_retries,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                backoff_multiplier: 2.0,
            },
        }
    }

    fn attributes() -> Vec<(String, Value)> {
        vec![
            ("10001".to_owned(), json!("hola")),
            ("10002".to_owned(), json!(42)),
        ]
    }

    async fn predict(client: &CmabClient) -> Result<String, CmabError> {
        client
            .predict("rule_1", "matjaz", &attributes(), "uuid-1")
            .await
    }

    #[tokio::test]
    async fn success_returns_the_variation_and_sends_the_exact_body() {
        let (fake, base) = FakeService::start(&[(StatusCode::OK, OK_REPLY)], Duration::ZERO).await;
        let client = CmabClient::new(&settings(&base, 3)).unwrap();
        assert_eq!(predict(&client).await.unwrap(), "var_2");

        let requests = fake.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let (rule, body) = &requests[0];
        assert_eq!(rule, "rule_1");
        assert_eq!(
            body,
            &json!({"instances": [{
                "visitorId": "matjaz",
                "experimentId": "rule_1",
                "attributes": [
                    {"id": "10001", "value": "hola", "type": "custom_attribute"},
                    {"id": "10002", "value": 42, "type": "custom_attribute"},
                ],
                "cmabUUID": "uuid-1",
            }]})
        );
    }

    #[tokio::test]
    async fn a_server_error_is_retried() {
        let script = [
            (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            (StatusCode::OK, OK_REPLY),
        ];
        let (fake, base) = FakeService::start(&script, Duration::ZERO).await;
        let client = CmabClient::new(&settings(&base, 3)).unwrap();
        assert_eq!(predict(&client).await.unwrap(), "var_2");
        assert_eq!(fake.request_count(), 2);
    }

    #[tokio::test]
    async fn server_errors_fail_after_max_retries() {
        let script = [(StatusCode::INTERNAL_SERVER_ERROR, "down")];
        let (fake, base) = FakeService::start(&script, Duration::ZERO).await;
        let client = CmabClient::new(&settings(&base, 2)).unwrap();
        let err = predict(&client).await.unwrap_err();
        assert!(
            matches!(
                err,
                CmabError::Status {
                    status: 500,
                    attempts: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(fake.request_count(), 3);
    }

    #[tokio::test]
    async fn a_client_error_fails_without_retry() {
        let script = [(StatusCode::BAD_REQUEST, "bad"), (StatusCode::OK, OK_REPLY)];
        let (fake, base) = FakeService::start(&script, Duration::ZERO).await;
        let client = CmabClient::new(&settings(&base, 3)).unwrap();
        let err = predict(&client).await.unwrap_err();
        assert!(
            matches!(
                err,
                CmabError::Status {
                    status: 400,
                    attempts: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(fake.request_count(), 1);
    }

    #[tokio::test]
    async fn a_malformed_reply_fails_without_retry() {
        for reply in [
            "not json",
            "{}",
            r#"{"predictions":[]}"#,
            r#"{"predictions":[{"variation_id":""}]}"#,
            r#"{"predictions":[{"variation_id":7}]}"#,
        ] {
            let (fake, base) = FakeService::start(&[(StatusCode::OK, reply)], Duration::ZERO).await;
            let client = CmabClient::new(&settings(&base, 3)).unwrap();
            let err = predict(&client).await.unwrap_err();
            assert!(matches!(err, CmabError::Malformed { .. }), "{reply}: {err}");
            assert_eq!(fake.request_count(), 1, "{reply}");
        }
    }

    #[tokio::test]
    async fn connection_refused_fails_after_max_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = CmabClient::new(&settings(&base, 2)).unwrap();
        let err = predict(&client).await.unwrap_err();
        let CmabError::Transport {
            url,
            attempts,
            detail,
        } = &err
        else {
            panic!("expected a transport error, got {err}");
        };
        assert_eq!(*attempts, 3);
        assert_eq!(url, &format!("{base}/predict/rule_1"));
        assert!(
            detail.to_lowercase().contains("connect"),
            "cause not named: {detail}"
        );
        assert!(err.to_string().contains(&base), "{err}");
    }

    #[tokio::test]
    async fn a_slow_service_times_out() {
        let (fake, base) =
            FakeService::start(&[(StatusCode::OK, OK_REPLY)], Duration::from_secs(30)).await;
        let mut config = settings(&base, 1);
        config.request_timeout = Duration::from_millis(100);
        let client = CmabClient::new(&config).unwrap();
        let started = Instant::now();
        let err = predict(&client).await.unwrap_err();
        assert!(
            matches!(err, CmabError::Timeout { attempts: 2, .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(fake.request_count(), 2);
    }

    #[test]
    fn default_settings_build_a_client() {
        assert!(CmabClient::new(&config::CmabSettings::default()).is_ok());
    }

    #[test]
    fn backoff_grows_by_the_multiplier_up_to_the_cap() {
        let mut config = settings("http://127.0.0.1:1", 10);
        config.retry_config.initial_backoff = Duration::from_millis(100);
        config.retry_config.max_backoff = Duration::from_secs(1);
        config.retry_config.backoff_multiplier = 2.0;
        let client = CmabClient::new(&config).unwrap();
        let delays: Vec<u128> = (0..6)
            .map(|n| client.backoff.delay(n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(client.backoff.delay(u32::MAX), Duration::from_secs(1));

        config.retry_config.backoff_multiplier = 1.5;
        let client = CmabClient::new(&config).unwrap();
        assert_eq!(client.backoff.delay(1), Duration::from_millis(150));
    }

    #[test]
    fn rule_ids_are_one_encoded_path_segment() {
        let client = CmabClient::new(&settings("http://127.0.0.1:1", 1)).unwrap();
        assert_eq!(
            client.url_for("a/b c?").unwrap().as_str(),
            "http://127.0.0.1:1/predict/a%2Fb%20c%3F"
        );
        assert_eq!(
            client.url_for("1234_x-y.z~").unwrap().as_str(),
            "http://127.0.0.1:1/predict/1234_x-y.z~"
        );
    }

    // ---- cache ----

    const TTL: Duration = Duration::from_secs(60);

    fn key(user: &str, rule: &str) -> (String, String) {
        (user.to_owned(), rule.to_owned())
    }

    #[test]
    fn cache_hit_and_miss() {
        let cache = CmabCache::new(10, TTL);
        assert!(cache.is_enabled());
        assert_eq!(cache.get(&key("u1", "r1")), None);
        cache.insert(key("u1", "r1"), "v1".to_owned());
        assert_eq!(cache.get(&key("u1", "r1")).as_deref(), Some("v1"));
        assert_eq!(cache.get(&key("u1", "r2")), None);
        cache.insert(key("u1", "r1"), "v2".to_owned());
        assert_eq!(cache.get(&key("u1", "r1")).as_deref(), Some("v2"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_entries_expire_after_ttl() {
        let cache = CmabCache::new(10, TTL);
        let t0 = Instant::now();
        cache.insert_at("k", 1, t0);
        assert_eq!(
            cache.get_at(&"k", t0 + TTL - Duration::from_millis(1)),
            Some(1)
        );
        assert_eq!(cache.get_at(&"k", t0 + TTL), None);
        assert!(
            cache.is_empty(),
            "an expired entry is removed when looked up"
        );
    }

    #[test]
    fn cache_with_zero_ttl_never_expires() {
        let cache = CmabCache::new(10, Duration::ZERO);
        let t0 = Instant::now();
        cache.insert_at("k", 1, t0);
        assert_eq!(
            cache.get_at(&"k", t0 + Duration::from_secs(86_400)),
            Some(1)
        );
    }

    #[test]
    fn cache_evicts_the_least_recently_used() {
        let cache = CmabCache::new(2, TTL);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get(&"a"), Some(1)); // "b" is now the least recently used
        cache.insert("c", 3);
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"c"), Some(3));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn cache_of_size_zero_stores_nothing() {
        let cache = CmabCache::new(0, TTL);
        assert!(!cache.is_enabled());
        cache.insert("a", 1);
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.remove(&"a"), None);
        assert_eq!(cache.remove_where(|_| true), 0);
        cache.clear();
    }

    #[test]
    fn cache_remove_clear_and_remove_where() {
        let cache = CmabCache::new(10, TTL);
        for (user, rule) in [("u1", "r1"), ("u1", "r2"), ("u2", "r1"), ("u3", "r1")] {
            cache.insert(key(user, rule), format!("{user}/{rule}"));
        }
        assert_eq!(cache.remove_where(|(user, _)| user == "u1"), 2);
        assert_eq!(cache.get(&key("u1", "r1")), None);
        assert_eq!(cache.get(&key("u1", "r2")), None);
        assert_eq!(cache.get(&key("u2", "r1")).as_deref(), Some("u2/r1"));
        assert_eq!(cache.len(), 2);

        assert_eq!(cache.remove(&key("u2", "r1")).as_deref(), Some("u2/r1"));
        assert_eq!(cache.remove(&key("u2", "r1")), None);
        assert_eq!(cache.len(), 1);

        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_from_settings_uses_size_and_ttl() {
        let settings = config::CmabCacheSettings {
            kind: "memory".to_owned(),
            size: 1,
            ttl: TTL,
        };
        let cache = CmabCache::from_settings(&settings);
        let t0 = Instant::now();
        cache.insert_at(1, "a", t0);
        cache.insert_at(2, "b", t0);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get_at(&2, t0 + TTL), None);
        let disabled: CmabCache<u8, u8> = CmabCache::from_settings(&config::CmabCacheSettings {
            size: 0,
            ..settings
        });
        assert!(!disabled.is_enabled());
    }
}
