//! ODP in `serve` (`client.odp.*`): qualified segments for decide's
//! `fetchSegments`, fetched from the datafile's ODP integration and kept in the
//! segments cache `client.odp.segmentsCache` selects (in memory, or in Redis in
//! upstream's layout), and the ODP event queue behind `/v1/send-odp-event`.
//!
//! Like upstream, every decide on an integrated project also queues an
//! `identified` event for its user id.
//!
//! The fetch follows upstream's segment manager: no integration is an error; a
//! datafile whose audiences ask about no segment needs no request (empty
//! segments); `RESET_CACHE` empties the cache first, `IGNORE_CACHE` neither reads
//! nor writes it; only a non-empty answer is cached. The in-memory cache keys by
//! SDK key and user id; the Redis one by user id only, as upstream's.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ServeError;
use super::metrics::Sample;
use crate::config::{SegmentsCacheChoice, Settings};
use crate::decide::ProjectConfig;
use crate::outbound::cmab::CmabCache;
use crate::outbound::odp::USER_ID_KEY;
use crate::outbound::odp::events::{
    self, Destination, OdpEvent, OdpEventQueue, OdpEventSettings, QueueFull,
};
use crate::outbound::odp::segments::SegmentsClient;
use crate::store::SegmentStore;

/// `fetchSegmentsOptions` value: do not read or write the cache.
pub(crate) const IGNORE_CACHE: &str = "IGNORE_CACHE";
/// `fetchSegmentsOptions` value: empty the cache before fetching.
pub(crate) const RESET_CACHE: &str = "RESET_CACHE";

/// The action of the event that ties a user id to ODP.
const IDENTIFIED: &str = "identified";

/// Upstream's error when ODP is turned off.
pub(crate) const NOT_ENABLED: &str = "ODP is not enabled";
/// Upstream's error when the datafile has no usable ODP integration.
pub(crate) const NOT_INTEGRATED: &str = "ODP is not integrated";

/// Where fetched segments are kept.
enum SegmentsCache {
    /// Keyed by (SDK key, user id).
    Memory(CmabCache<(String, String), Vec<String>>),
    Redis(Box<SegmentStore>),
}

#[derive(Default)]
struct SegmentStats {
    fetched: AtomicU64,
    cache_hits: AtomicU64,
    failed: AtomicU64,
}

/// What is enabled of ODP, shared by the handlers.
pub(crate) struct Odp {
    /// `None` when `client.odp.disable` is set.
    enabled: Option<Enabled>,
}

struct Enabled {
    client: SegmentsClient,
    cache: SegmentsCache,
    events: OdpEventQueue,
    stats: SegmentStats,
}

/// Why a segment fetch gave nothing (logged; the client sees upstream's text).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{NOT_ENABLED}")]
    NotEnabled,
    #[error("audience segments fetch failed (apiKey/apiHost not defined)")]
    NotIntegrated,
    #[error(transparent)]
    Fetch(#[from] crate::outbound::odp::segments::SegmentsError),
}

/// Why an event was not queued; the text is upstream's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("{NOT_ENABLED}")]
    NotEnabled,
    #[error("{NOT_INTEGRATED}")]
    NotIntegrated,
    #[error(transparent)]
    Full(#[from] QueueFull),
}

impl Odp {
    /// Builds what `client.odp` enables and starts the event dispatcher; await the
    /// handle after cancelling `cancel` to wait for its final flush.
    pub(super) fn start(
        settings: &Settings,
        cancel: CancellationToken,
    ) -> Result<(Odp, JoinHandle<()>), ServeError> {
        let odp = &settings.client.odp;
        if odp.disable {
            tracing::info!("client.odp.disable is set: ODP segments and events are off");
            return Ok((Odp { enabled: None }, tokio::spawn(async {})));
        }
        let invalid = |e: &dyn std::fmt::Display| ServeError::Settings(format!("client.odp: {e}"));
        let choice = odp
            .segments_cache_choice(&|var| std::env::var(var).ok())
            .map_err(|p| invalid(&format!("segmentsCache.{}: expected {}", p.key, p.expected)))?;
        let cache = match choice {
            SegmentsCacheChoice::InMemory { size, timeout } => {
                SegmentsCache::Memory(CmabCache::new(size, timeout))
            }
            SegmentsCacheChoice::Redis { redis, timeout } => {
                let store = SegmentStore::from_settings(&redis, timeout)
                    .map_err(|e| invalid(&format!("segmentsCache.services.redis: {e}")))?;
                tracing::info!(redis = store.address(), "ODP segments are cached in Redis");
                SegmentsCache::Redis(Box::new(store))
            }
        };
        let client = SegmentsClient::new(odp.segments_request_timeout).map_err(|e| invalid(&e))?;
        let (events, done) = events::start(
            OdpEventSettings {
                flush_interval: odp.events_flush_interval,
                request_timeout: odp.events_request_timeout,
                shutdown_timeout: settings.client.event_shutdown_timeout,
                data_source: (crate::decide::CLIENT_NAME, crate::decide::CLIENT_VERSION),
            },
            cancel,
        )
        .map_err(|e| invalid(&e))?;
        let enabled = Enabled {
            client,
            cache,
            events,
            stats: SegmentStats::default(),
        };
        Ok((
            Odp {
                enabled: Some(enabled),
            },
            done,
        ))
    }

    /// The segments of `user_id` that `config`'s audiences ask about and ODP says
    /// the user qualifies for, through the cache as `options`
    /// (`fetchSegmentsOptions`) allow.
    ///
    /// # Errors
    ///
    /// [`FetchError`] when ODP is off, not integrated, or the fetch failed.
    pub(crate) async fn qualified_segments(
        &self,
        sdk_key: &str,
        config: &ProjectConfig,
        user_id: &str,
        options: &[String],
    ) -> Result<Vec<String>, FetchError> {
        let odp = self.enabled.as_ref().ok_or(FetchError::NotEnabled)?;
        let integration = config.odp_integration().ok_or(FetchError::NotIntegrated)?;
        let wanted = config.odp_segments();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let ignore_cache = options.iter().any(|o| o == IGNORE_CACHE);
        if options.iter().any(|o| o == RESET_CACHE) {
            odp.cache.reset(sdk_key).await;
        }
        if !ignore_cache && let Some(segments) = odp.cache.lookup(sdk_key, user_id).await {
            odp.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(segments);
        }
        let fetched = odp
            .client
            .fetch(&integration.host, &integration.public_key, user_id, wanted)
            .await;
        match fetched {
            Ok(segments) => {
                odp.stats.fetched.fetch_add(1, Ordering::Relaxed);
                if !ignore_cache && !segments.is_empty() {
                    odp.cache.save(sdk_key, user_id, &segments).await;
                }
                Ok(segments)
            }
            Err(err) => {
                odp.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(err.into())
            }
        }
    }

    /// Whether ODP is on (`client.odp.disable` not set).
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    /// Queues `event` for `config`'s ODP integration.
    ///
    /// # Errors
    ///
    /// [`SendError`] when ODP is off, not integrated or the queue is full.
    pub(crate) fn send_event(
        &self,
        config: &ProjectConfig,
        event: OdpEvent,
    ) -> Result<(), SendError> {
        let odp = self.enabled.as_ref().ok_or(SendError::NotEnabled)?;
        let integration = config.odp_integration().ok_or(SendError::NotIntegrated)?;
        let destination = Destination {
            host: integration.host.clone(),
            api_key: integration.public_key.clone(),
        };
        Ok(odp.events.push(destination, event)?)
    }

    /// Queues upstream's `identified` event for `user_id` (identifier `fs_user_id`),
    /// which upstream sends whenever decide creates a user context, when ODP is on
    /// and `config` is integrated. A full queue only counts the drop, as upstream
    /// ignores it.
    pub(crate) fn identify(&self, config: &ProjectConfig, user_id: &str) {
        if self.enabled.is_none() || config.odp_integration().is_none() {
            return;
        }
        let event = OdpEvent {
            kind: events::DEFAULT_TYPE.to_owned(),
            action: IDENTIFIED.to_owned(),
            identifiers: [(USER_ID_KEY.to_owned(), user_id.to_owned())].into(),
            data: serde_json::Map::new(),
        };
        // The drop is counted in odp.events.dropped.
        let _ = self.send_event(config, event);
    }

    /// The ODP counters for `/metrics` (none when ODP is off).
    pub(super) fn samples(&self, out: &mut Vec<Sample>) {
        let Some(odp) = &self.enabled else {
            return;
        };
        let events = odp.events.stats();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "odp.segments.fetched",
                "Segment fetches ODP answered",
                load(&odp.stats.fetched),
            ),
            (
                "odp.segments.cache_hits",
                "Segment requests answered from the segments cache",
                load(&odp.stats.cache_hits),
            ),
            (
                "odp.segments.failed",
                "Segment fetches that failed (decide answered 500)",
                load(&odp.stats.failed),
            ),
            (
                "odp.events.queued",
                "ODP events accepted into the queue",
                events.queued,
            ),
            (
                "odp.events.sent",
                "ODP events delivered to the ODP events endpoint",
                events.sent,
            ),
            (
                "odp.events.failed",
                "ODP events dropped after their batch failed every attempt",
                events.failed,
            ),
            (
                "odp.events.dropped",
                "ODP events refused because the queue was full",
                events.dropped,
            ),
        ] {
            out.push(Sample::counter(name, help, value));
        }
    }
}

impl SegmentsCache {
    async fn lookup(&self, sdk_key: &str, user_id: &str) -> Option<Vec<String>> {
        match self {
            SegmentsCache::Memory(cache) => cache.get(&(sdk_key.to_owned(), user_id.to_owned())),
            SegmentsCache::Redis(store) => store.get(user_id).await.unwrap_or_else(|err| {
                tracing::warn!("ODP segments cache lookup failed, fetching: {err}");
                None
            }),
        }
    }

    async fn save(&self, sdk_key: &str, user_id: &str, segments: &[String]) {
        match self {
            SegmentsCache::Memory(cache) => {
                cache.insert((sdk_key.to_owned(), user_id.to_owned()), segments.to_vec());
            }
            SegmentsCache::Redis(store) => {
                if let Err(err) = store.set(user_id, segments).await {
                    tracing::warn!("ODP segments cache save failed: {err}");
                }
            }
        }
    }

    async fn reset(&self, sdk_key: &str) {
        match self {
            SegmentsCache::Memory(cache) => {
                cache.remove_where(|(key, _)| key == sdk_key);
            }
            SegmentsCache::Redis(store) => {
                if let Err(err) = store.reset().await {
                    tracing::warn!("ODP segments cache reset failed: {err}");
                }
            }
        }
    }
}
