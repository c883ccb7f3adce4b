//! The state every handler shares ([`AppState`]) and how `serve` builds it: the
//! settings checks `serve` alone makes, the three bound listeners, the notification
//! hub, the datafile registry, the event dispatcher, the CMAB client and datafile
//! sync between instances.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::listen;
use super::metrics::Metrics;
use super::projects::{ProjectSettings, Projects};
use super::{ServeError, ServeOptions, Server, Shared};
use crate::config::Settings;
use crate::notify::Hub;
use crate::outbound::cmab;
use crate::outbound::events::{self, EventQueue};

/// What every handler shares.
pub(crate) struct AppState {
    pub(super) settings: Settings,
    pub(super) projects: Arc<Projects>,
    pub(super) hub: Hub,
    /// Datafile sync between instances (`synchronization.datafile.enable`).
    pub(super) datafile_sync: Option<Arc<crate::notify::PubSubHub>>,
    pub(super) events: EventQueue,
    pub(super) cmab: cmab::CmabClient,
    /// The user profile service every instance shares (`redis`, `rest`), when one
    /// is selected; `in-memory` profiles live in each project.
    pub(super) shared_ups: Option<SharedUps>,
    pub(super) odp: super::odp::Odp,
    pub(super) metrics: Arc<Metrics>,
    pub(super) sdk_key_regex: regex::Regex,
    pub(super) allowed_hosts: Vec<String>,
    /// Signatures of accepted webhook calls (`webhook.replayWindow`).
    pub(super) webhook_replays: super::webhook::Replays,
    pub(super) cancel: CancellationToken,
    pub(super) started: Instant,
}

impl Server {
    /// Checks the settings, binds the three listeners and prepares the shared state
    /// (the event dispatcher starts here). Nothing is served until [`Server::run`].
    pub async fn bind(settings: Settings, options: ServeOptions) -> Result<Server, ServeError> {
        // `config::validate` already checked the regex and the certificate pair.
        let sdk_key_regex = regex::Regex::new(&settings.client.sdk_key_regex)
            .map_err(|e| ServeError::Settings(format!("client.sdkKeyRegex: {e}")))?;
        let tls = match (
            settings.server.cert_file.as_str(),
            settings.server.key_file.as_str(),
        ) {
            ("", _) | (_, "") => None,
            (cert, key) => Some(listen::tls_config(
                cert,
                key,
                &settings.server.disabled_ciphers,
            )?),
        };
        let bind = |listener, addr| {
            listen::bind(addr).map_err(|source| ServeError::Bind {
                listener,
                addr,
                source,
            })
        };
        let nofile = listen::raise_open_file_limit();
        let caps = listen::ConnectionCaps::for_limit(nofile, settings.api.max_conns);
        tracing::info!(
            open_file_limit = nofile,
            api = caps.api,
            admin = caps.admin,
            webhook = caps.webhook,
            "connection caps"
        );
        let api = bind("api", options.api)?;
        let admin = bind("admin", options.admin)?;
        let webhook = bind("webhook", options.webhook)?;

        let cancel = CancellationToken::new();
        // Like the event dispatcher, the hub outlives the listeners to flush.
        let hub_cancel = CancellationToken::new();
        let hub = Hub::from_settings(&settings, hub_cancel.clone())
            .await
            .map_err(|e| ServeError::Settings(format!("notification hub: {e}")))?;
        tracing::info!(hub = hub.name(), "notification hub ready");
        let metrics = Arc::new(Metrics::default());
        let projects = Arc::new(Projects::new(
            ProjectSettings::from_settings(&settings, options.datafiles.clone()),
            hub.clone(),
            Arc::clone(&metrics),
            cancel.clone(),
        ));
        // The dispatcher outlives the listeners so that events of the last requests
        // are flushed: it has its own token, cancelled after the listeners stop.
        let events_cancel = CancellationToken::new();
        let (events, events_done) = events::start(
            events::EventSettings::from_client(&settings.client),
            events_cancel.clone(),
        )
        .map_err(|e| ServeError::Settings(format!("client.eventURL: {e}")))?;
        let (odp, odp_done) = super::odp::Odp::start(&settings, events_cancel.clone())?;
        let cmab = cmab::CmabClient::new(&settings.client.cmab)
            .map_err(|e| ServeError::Settings(format!("client.cmab: {e}")))?;
        let shared_ups = SharedUps::from_settings(&settings.client.user_profile_service)?;
        let mut allowed_hosts = settings.server.allowed_hosts.clone();
        allowed_hosts.push(settings.server.host.clone());
        allowed_hosts.push(options.api.ip().to_string());
        let datafile_sync = start_datafile_sync(&settings, &projects, &cancel, &hub_cancel)?;
        let webhook_replays = super::webhook::Replays::new(settings.webhook.replay_window);
        let state = Arc::new(AppState {
            settings,
            webhook_replays,
            projects,
            hub,
            datafile_sync,
            events,
            cmab,
            shared_ups,
            odp,
            metrics,
            sdk_key_regex,
            allowed_hosts,
            cancel,
            started: Instant::now(),
        });
        Ok(Server {
            state,
            api,
            admin,
            webhook,
            tls,
            caps,
            events_done,
            odp_done,
            events_cancel,
            hub_cancel,
        })
    }
}

/// A user profile service shared by the fleet. Its failures never fail a request:
/// they are logged, and the decision goes on with an empty profile.
pub(crate) enum SharedUps {
    /// `client.userProfileService` "redis".
    Redis(Box<crate::store::ProfileStore>),
    /// `client.userProfileService` "rest".
    Rest(crate::outbound::ups::RestUps),
}

impl SharedUps {
    fn from_settings(
        settings: &crate::config::UserProfileServiceSettings,
    ) -> Result<Option<Self>, ServeError> {
        if let Some(redis) = settings.redis() {
            let store = crate::store::ProfileStore::from_settings(&redis).map_err(|e| {
                ServeError::Settings(format!("client.userProfileService.services.redis: {e}"))
            })?;
            tracing::info!(redis = store.address(), "user profiles are kept in Redis");
            return Ok(Some(SharedUps::Redis(Box::new(store))));
        }
        let rest = crate::outbound::ups::RestUps::from_settings(settings)
            .map_err(|e| ServeError::Settings(e.to_string()))?;
        Ok(rest.map(SharedUps::Rest))
    }

    /// The stored profile of `user_id`; empty when there is none or on failure.
    pub(crate) async fn lookup(&self, user_id: &str) -> crate::decide::UserProfile {
        let result = match self {
            SharedUps::Redis(store) => store
                .get(user_id)
                .await
                .map(Option::unwrap_or_default)
                .map_err(|e| e.to_string()),
            SharedUps::Rest(rest) => rest.lookup(user_id).await.map_err(|e| e.to_string()),
        };
        result.unwrap_or_else(|err| {
            tracing::warn!("user profile lookup failed, deciding without one: {err}");
            crate::decide::UserProfile::new()
        })
    }

    /// Stores (replaces) the profile of `user_id`; a failure is logged.
    pub(crate) async fn save(&self, user_id: &str, profile: &crate::decide::UserProfile) {
        let result = match self {
            SharedUps::Redis(store) => store.set(user_id, profile).await.map_err(|e| e.to_string()),
            SharedUps::Rest(rest) => rest.save(user_id, profile).await.map_err(|e| e.to_string()),
        };
        if let Err(err) = result {
            tracing::warn!("user profile save failed: {err}");
        }
    }
}

/// Loads `sdkKeys` and every datafile of the datafiles directory at start, so a
/// broken file is reported now, naming the file, rather than on first use.
pub(super) async fn prefetch(state: &Shared) {
    let mut keys = state.projects.local_keys();
    for key in &state.settings.sdk_keys {
        let key = key.split(':').next().unwrap_or(key).to_owned();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        if let Err(err) = state.projects.get(&key).await {
            tracing::error!("{err}");
        }
    }
}

/// With `synchronization.datafile.enable`, listens for datafile changes announced by
/// other instances and re-reads those datafiles here; the hub it returns announces
/// this instance's webhook refreshes.
fn start_datafile_sync(
    settings: &Settings,
    projects: &Arc<Projects>,
    cancel: &CancellationToken,
    hub_cancel: &CancellationToken,
) -> Result<Option<Arc<crate::notify::PubSubHub>>, ServeError> {
    if !settings.synchronization.datafile.enable {
        return Ok(None);
    }
    let sync = crate::notify::PubSubHub::start(
        &settings.synchronization.pubsub.redis,
        // Only the datafile channel matters here; notifications, if any
        // arrive, have no subscribers in this fan-out.
        Arc::new(crate::notify::Fanout::new(1)),
        hub_cancel.clone(),
    )
    .map_err(|e| ServeError::Settings(format!("datafile sync: {e}")))?;
    let mut changes = sync.datafile_changes();
    let registry = Arc::clone(projects);
    let stop = cancel.clone();
    tokio::spawn(async move {
        loop {
            let sdk_key = tokio::select! {
                () = stop.cancelled() => return,
                next = changes.recv() => match next {
                    Ok(key) => key,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            };
            let changed = registry.refresh(&sdk_key).await;
            tracing::info!(sdk_key, changed, "datafile change announced by an instance");
        }
    });
    Ok(Some(sync))
}
