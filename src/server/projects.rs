//! The datafiles this instance serves, one [`Project`] per SDK key.
//!
//! A datafile comes from `<datafiles dir>/<sdkKey>.json` when that file exists, else
//! from `client.datafileURLTemplate` (`http(s)://` or `file://`, `%s` = SDK key).
//! Each loaded project is re-read every `client.pollingInterval` and on a webhook
//! call; a new revision replaces the old one atomically (readers hold an
//! `Arc<ProjectConfig>` for the whole request) and emits a `datafile-update`
//! notification. A broken new revision is logged and the old one kept.
//!
//! Loading a key not loaded yet is single-flight: concurrent requests for it share
//! one fetch. A key whose fetch over HTTP failed (403, another status, timeout,
//! unreachable) is remembered with that error for `client.unknownSdkKeyTTL`, so a
//! flood of requests for an unknown key does not become a flood of fetches; a
//! broken datafile is not remembered (upstream does not cache failed loads). Each fetch is bounded by
//! `client.datafileRequestTimeout`.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use lru::LruCache;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::metrics::Metrics;
use crate::config::Settings;
use crate::decide::{CmabRequest, Overrides, ProjectConfig, UserProfile};
use crate::notify::{Hub, Notification};
use crate::outbound::cmab::CmabCache;
use crate::telemetry::TARGET;
use crate::util::{FastMap, lock, read, write};

/// Most SDK keys remembered as unknown at once (the least recently asked for are
/// forgotten first).
const UNKNOWN_KEYS: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// One load of a key's datafile, awaited by every request for that key meanwhile.
type SharedLoad = Shared<BoxFuture<'static, Result<Arc<Project>, LoadError>>>;

/// Why a datafile could not be loaded for an SDK key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// No source has a datafile for this key (answered like upstream's 403).
    #[error("no datafile for SDK key {sdk_key}: {reason}")]
    Unknown {
        /// The SDK key.
        sdk_key: String,
        /// Where we looked and what happened.
        reason: String,
    },
    /// The datafile URL could not be fetched for a reason other than a 403:
    /// unreachable, timed out, another status (answered with upstream's 500).
    #[error("datafile for SDK key {sdk_key}: {reason}")]
    Unavailable {
        /// The SDK key.
        sdk_key: String,
        /// The URL and what happened.
        reason: String,
    },
    /// A datafile was found but cannot be used (answered with upstream's 500).
    #[error("datafile for SDK key {sdk_key} from {origin}: {reason}")]
    Broken {
        /// The SDK key.
        sdk_key: String,
        /// File path or URL.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a project's datafile comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Url(url) => url.clone(),
        }
    }
}

/// The in-memory user profile service (`client.userProfileService` "in-memory").
pub struct MemoryUps {
    capacity: usize,
    evict_newest: bool,
    profiles: HashMap<String, UserProfile>,
    order: VecDeque<String>,
}

impl MemoryUps {
    /// `capacity` 0 means unlimited; `strategy` "lifo" evicts the newest user first,
    /// anything else the oldest (fifo).
    pub fn new(capacity: usize, strategy: &str) -> Self {
        MemoryUps {
            capacity,
            evict_newest: strategy.eq_ignore_ascii_case("lifo"),
            profiles: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The stored profile of `user_id`, if any.
    pub fn lookup(&self, user_id: &str) -> Option<UserProfile> {
        self.profiles.get(user_id).cloned()
    }

    /// Stores (replaces) the profile of `user_id`.
    pub fn save(&mut self, user_id: &str, profile: UserProfile) {
        if self.profiles.insert(user_id.to_owned(), profile).is_some() {
            return;
        }
        if self.capacity > 0 && self.order.len() >= self.capacity {
            let evicted = if self.evict_newest {
                self.order.pop_back()
            } else {
                self.order.pop_front()
            };
            if let Some(evicted) = evicted {
                self.profiles.remove(&evicted);
            }
        }
        self.order.push_back(user_id.to_owned());
    }
}

/// Agent overrides from `/v1/override`: (experiment key, user id) → variation key.
#[derive(Default)]
pub struct OverrideStore(Mutex<HashMap<(String, String), String>>);

impl OverrideStore {
    /// Sets an override; returns the previous variation key.
    pub fn set(&self, experiment_key: &str, user_id: &str, variation_key: &str) -> Option<String> {
        lock(&self.0).insert(
            (experiment_key.to_owned(), user_id.to_owned()),
            variation_key.to_owned(),
        )
    }

    /// Removes an override; returns the variation key it had.
    pub fn remove(&self, experiment_key: &str, user_id: &str) -> Option<String> {
        lock(&self.0).remove(&(experiment_key.to_owned(), user_id.to_owned()))
    }
}

impl Overrides for OverrideStore {
    fn variation_for(&self, experiment_key: &str, user_id: &str) -> Option<String> {
        lock(&self.0)
            .get(&(experiment_key.to_owned(), user_id.to_owned()))
            .cloned()
    }
}

/// A cached CMAB prediction: variation id and the prediction's uuid.
pub type CmabPrediction = (String, String);

/// One SDK key's datafile and the state upstream keeps per SDK client.
pub struct Project {
    /// The SDK key (without any `:token` part).
    pub sdk_key: String,
    source: Source,
    config: RwLock<Arc<ProjectConfig>>,
    /// Overrides set through `/v1/override`.
    pub overrides: OverrideStore,
    /// The user profile service, when one is configured.
    pub ups: Option<Mutex<MemoryUps>>,
    /// Cached CMAB predictions.
    pub cmab_cache: CmabCache<CmabRequest, CmabPrediction>,
    /// Stops this project's poller.
    cancel: CancellationToken,
}

impl Project {
    /// The current datafile; hold the `Arc` for a whole request so a concurrent
    /// update never mixes two revisions in one answer.
    pub fn config(&self) -> Arc<ProjectConfig> {
        Arc::clone(&read(&self.config))
    }

    fn replace(&self, config: Arc<ProjectConfig>) {
        *write(&self.config) = config;
    }
}

/// Settings of the registry, resolved from [`Settings`] and `serve`'s flags.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    /// Directory of `<sdkKey>.json` files.
    pub dir: PathBuf,
    /// `client.datafileURLTemplate`; empty: local files only.
    pub url_template: String,
    /// `client.pollingInterval`; zero: no polling.
    pub polling_interval: Duration,
    /// `(capacity, strategy)` of the in-memory UPS, when one is configured.
    pub ups: Option<(usize, String)>,
    /// CMAB cache size and lifetime.
    pub cmab_cache: (usize, Duration),
    /// `client.datafileRequestTimeout`; zero: no limit.
    pub fetch_timeout: Duration,
    /// `client.unknownSdkKeyTTL`; zero: unknown keys are not remembered.
    pub unknown_ttl: Duration,
}

impl ProjectSettings {
    /// Resolves the registry settings; `dir` comes from `--datafiles`.
    pub fn from_settings(settings: &Settings, dir: PathBuf) -> Self {
        let ups_settings = &settings.client.user_profile_service;
        let ups = match ups_settings.default.as_str() {
            "" => None,
            name => {
                let service = ups_settings
                    .services
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v);
                let field = |key: &str| {
                    service
                        .and_then(|v| v.as_mapping())
                        .and_then(|m| {
                            m.iter().find(|(k, _)| {
                                k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key))
                            })
                        })
                        .map(|(_, v)| v.clone())
                };
                if name.eq_ignore_ascii_case("in-memory") {
                    let capacity = field("capacity")
                        .and_then(|v| v.as_u64())
                        .and_then(|c| usize::try_from(c).ok())
                        .unwrap_or(0);
                    let strategy = field("storageStrategy")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "fifo".to_owned());
                    Some((capacity, strategy))
                } else if name.eq_ignore_ascii_case("redis") || name.eq_ignore_ascii_case("rest") {
                    // Shared services are built once for every project (`SharedUps`).
                    None
                } else {
                    tracing::warn!(
                        "client.userProfileService.default {name:?} is not supported \
                         (in-memory, redis or rest); no user profile service is used"
                    );
                    None
                }
            }
        };
        ProjectSettings {
            dir,
            url_template: settings.client.datafile_url_template.clone(),
            polling_interval: settings.client.polling_interval,
            ups,
            cmab_cache: (
                settings.client.cmab.cache.size,
                settings.client.cmab.cache.ttl,
            ),
            fetch_timeout: settings.client.datafile_request_timeout,
            unknown_ttl: settings.client.unknown_sdk_key_ttl,
        }
    }
}

/// Every project this instance serves.
pub struct Projects {
    settings: ProjectSettings,
    /// Read-mostly: a project is inserted once, then looked up by every request.
    map: RwLock<FastMap<String, Arc<Project>>>,
    /// Loads in flight, by SDK key.
    loading: Mutex<HashMap<String, SharedLoad>>,
    /// SDK keys whose fetch failed: until when, and the error to answer with.
    unknown: Mutex<LruCache<String, (Instant, LoadError)>>,
    http: reqwest::Client,
    hub: Hub,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Projects {
    /// An empty registry; pollers stop on `cancel`.
    pub fn new(
        settings: ProjectSettings,
        hub: Hub,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> Self {
        crate::util::ensure_tls_provider();
        let mut http = reqwest::Client::builder();
        if !settings.fetch_timeout.is_zero() {
            http = http.timeout(settings.fetch_timeout);
        }
        let http = http.build().unwrap_or_default();
        Projects {
            settings,
            map: RwLock::new(FastMap::default()),
            loading: Mutex::new(HashMap::new()),
            unknown: Mutex::new(LruCache::new(UNKNOWN_KEYS)),
            http,
            hub,
            metrics,
            cancel,
            tasks: TaskTracker::new(),
        }
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, FastMap<String, Arc<Project>>> {
        read(&self.map)
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, FastMap<String, Arc<Project>>> {
        write(&self.map)
    }

    /// The SDK keys that have a file in the datafiles directory.
    pub fn local_keys(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.settings.dir) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        keys.sort();
        keys
    }

    /// The project of `sdk_key`, loading it on first use (one load per key at a
    /// time, shared by every request for it).
    pub async fn get(self: &Arc<Self>, sdk_key: &str) -> Result<Arc<Project>, LoadError> {
        if let Some(project) = self.read_map().get(sdk_key) {
            return Ok(Arc::clone(project));
        }
        let load = {
            let mut loading = lock(&self.loading);
            // Checked under the `loading` lock: a load records its outcome before it
            // leaves `loading`, so either it is found here or its outcome is.
            if let Some(project) = self.read_map().get(sdk_key) {
                return Ok(Arc::clone(project));
            }
            if let Some(err) = self.remembered_unknown(sdk_key) {
                return Err(err);
            }
            loading
                .entry(sdk_key.to_owned())
                .or_insert_with(|| {
                    let registry = Arc::clone(self);
                    let sdk_key = sdk_key.to_owned();
                    async move { registry.load(sdk_key).await }.boxed().shared()
                })
                .clone()
        };
        load.await
    }

    /// The error a recent failed fetch of `sdk_key` gave, while it is remembered.
    fn remembered_unknown(&self, sdk_key: &str) -> Option<LoadError> {
        let mut unknown = lock(&self.unknown);
        match unknown.get(sdk_key) {
            Some((until, err)) if Instant::now() < *until => Some(err.clone()),
            Some(_) => {
                unknown.pop(sdk_key);
                None
            }
            None => None,
        }
    }

    /// Loads `sdk_key`, records the outcome (the project, or the key as unknown when
    /// its fetch over HTTP failed) and leaves the in-flight table.
    async fn load(self: Arc<Self>, sdk_key: String) -> Result<Arc<Project>, LoadError> {
        let result = match self.source_of(&sdk_key) {
            Err(err) => Err(err),
            Ok(source) => {
                let over_http = matches!(source, Source::Url(_));
                let result = self.load_from(&sdk_key, source).await;
                if let Err(err @ (LoadError::Unknown { .. } | LoadError::Unavailable { .. })) =
                    &result
                    && over_http
                    && !self.settings.unknown_ttl.is_zero()
                {
                    let until = Instant::now() + self.settings.unknown_ttl;
                    lock(&self.unknown).put(sdk_key.clone(), (until, err.clone()));
                }
                result
            }
        };
        lock(&self.loading).remove(&sdk_key);
        result
    }

    /// Reads `sdk_key`'s datafile from `source` and registers its project.
    async fn load_from(
        self: &Arc<Self>,
        sdk_key: &str,
        source: Source,
    ) -> Result<Arc<Project>, LoadError> {
        let config = self.fetch_traced(sdk_key, &source).await?;
        let project = Arc::new(Project {
            sdk_key: sdk_key.to_owned(),
            source,
            config: RwLock::new(Arc::new(config)),
            overrides: OverrideStore::default(),
            ups: self
                .settings
                .ups
                .as_ref()
                .map(|(capacity, strategy)| Mutex::new(MemoryUps::new(*capacity, strategy))),
            cmab_cache: CmabCache::new(self.settings.cmab_cache.0, self.settings.cmab_cache.1),
            cancel: self.cancel.child_token(),
        });
        let mut map = self.write_map();
        if let Some(existing) = map.get(sdk_key) {
            // Another request loaded it at the same time; keep the first.
            return Ok(Arc::clone(existing));
        }
        map.insert(sdk_key.to_owned(), Arc::clone(&project));
        drop(map);
        tracing::info!(
            sdk_key,
            revision = project.config().revision(),
            "loaded datafile from {}",
            project.source.describe()
        );
        self.start_polling(&project);
        Ok(project)
    }

    fn source_of(&self, sdk_key: &str) -> Result<Source, LoadError> {
        let file = self.settings.dir.join(format!("{sdk_key}.json"));
        if file.is_file() {
            return Ok(Source::File(file));
        }
        let template = &self.settings.url_template;
        if template.is_empty() {
            return Err(LoadError::Unknown {
                sdk_key: sdk_key.to_owned(),
                reason: format!("{} does not exist", file.display()),
            });
        }
        let url = template.replace("%s", sdk_key);
        Ok(match url.strip_prefix("file://") {
            Some(path) => Source::File(PathBuf::from(path)),
            None => Source::Url(url),
        })
    }

    /// [`Self::fetch`] as a `datafile fetch` span: a child of the request that needed
    /// the datafile (a root span for polling and webhook reloads), with the
    /// revision read, or marked as an error. The span names the kind of source,
    /// never its URL (it holds the SDK key).
    async fn fetch_traced(
        &self,
        sdk_key: &str,
        source: &Source,
    ) -> Result<ProjectConfig, LoadError> {
        let span = tracing::info_span!(
            target: TARGET,
            "datafile fetch",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            "datafile.source" = match source {
                Source::File(_) => "file",
                Source::Url(_) => "url",
            },
            "datafile.revision" = tracing::field::Empty,
        );
        let result = self.fetch(sdk_key, source).instrument(span.clone()).await;
        match &result {
            Ok(config) => span.record("datafile.revision", config.revision()),
            Err(_) => span.record("otel.status_code", "ERROR"),
        };
        result
    }

    async fn fetch(&self, sdk_key: &str, source: &Source) -> Result<ProjectConfig, LoadError> {
        let broken = |reason: String| LoadError::Broken {
            sdk_key: sdk_key.to_owned(),
            origin: source.describe(),
            reason,
        };
        let unknown = |reason: String| LoadError::Unknown {
            sdk_key: sdk_key.to_owned(),
            reason,
        };
        let bytes = match source {
            Source::File(path) => read_file(path)
                .await
                .map_err(|e| unknown(format!("{}: {e}", path.display())))?,
            Source::Url(url) => {
                // Only a 403 means "no such SDK key", as upstream reads the CDN.
                let unavailable = |reason: String| LoadError::Unavailable {
                    sdk_key: sdk_key.to_owned(),
                    reason,
                };
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| unavailable(format!("fetching {url}: {e}")))?;
                let status = response.status();
                if status == reqwest::StatusCode::FORBIDDEN {
                    return Err(unknown(format!("fetching {url}: status {status}")));
                }
                if !status.is_success() {
                    return Err(unavailable(format!("fetching {url}: status {status}")));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| unavailable(format!("reading {url}: {e}")))?
                    .to_vec()
            }
        };
        ProjectConfig::parse(&bytes).map_err(|e| broken(e.to_string()))
    }

    fn start_polling(self: &Arc<Self>, project: &Arc<Project>) {
        let interval = self.settings.polling_interval;
        if interval.is_zero() {
            return;
        }
        let registry = Arc::clone(self);
        let project = Arc::clone(project);
        let cancel = project.cancel.clone();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                registry.reload(&project).await;
            }
        });
    }

    /// Reads `project`'s source again; a new revision replaces the current one and
    /// is announced. Returns whether the revision changed.
    pub async fn reload(&self, project: &Project) -> bool {
        let config = match self.fetch_traced(&project.sdk_key, &project.source).await {
            Ok(config) => config,
            Err(err) => {
                tracing::warn!("keeping the current datafile: {err}");
                return false;
            }
        };
        let current = project.config();
        if config.revision() == current.revision() {
            return false;
        }
        let notification = Notification::datafile_update(config.revision(), config.project_id());
        tracing::info!(
            sdk_key = project.sdk_key,
            from = current.revision(),
            to = config.revision(),
            "datafile updated"
        );
        project.replace(Arc::new(config));
        super::publish::publish(&self.hub, &self.metrics, &project.sdk_key, notification);
        self.metrics.datafile_updated();
        true
    }

    /// Re-reads every loaded project whose SDK key starts with `prefix` (the
    /// webhook's rule). Returns how many changed revision.
    pub async fn refresh(&self, prefix: &str) -> usize {
        let matching: Vec<Arc<Project>> = self
            .read_map()
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(_, p)| Arc::clone(p))
            .collect();
        let mut changed = 0;
        for project in matching {
            if self.reload(&project).await {
                changed += 1;
            }
        }
        changed
    }

    /// Drops the project of `sdk_key` (its overrides, profiles and CMAB cache go with
    /// it); the next request loads it afresh.
    pub fn forget(&self, sdk_key: &str) {
        if let Some(project) = self.write_map().remove(sdk_key) {
            project.cancel.cancel();
        }
    }

    /// The loaded SDK keys and their revisions, sorted by key.
    pub fn loaded(&self) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = self
            .read_map()
            .iter()
            .map(|(k, p)| (k.clone(), p.config().revision().to_owned()))
            .collect();
        list.sort();
        list
    }

    /// Waits for the pollers to end (after cancel).
    pub async fn stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    tokio::fs::read(path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_ups_evicts_by_strategy() {
        let profile = |v: &str| UserProfile::from([("e".to_owned(), v.to_owned())]);
        let mut fifo = MemoryUps::new(2, "fifo");
        fifo.save("a", profile("1"));
        fifo.save("b", profile("2"));
        fifo.save("a", profile("3"));
        fifo.save("c", profile("4"));
        assert_eq!(fifo.lookup("a"), None);
        assert_eq!(fifo.lookup("b"), Some(profile("2")));
        let mut lifo = MemoryUps::new(2, "LIFO");
        lifo.save("a", profile("1"));
        lifo.save("b", profile("2"));
        lifo.save("c", profile("3"));
        assert_eq!(lifo.lookup("a"), Some(profile("1")));
        assert_eq!(lifo.lookup("b"), None);
        let mut unlimited = MemoryUps::new(0, "fifo");
        for n in 0..100 {
            unlimited.save(&n.to_string(), profile("x"));
        }
        assert_eq!(unlimited.lookup("0"), Some(profile("x")));
    }
}
