//! The glue between the handlers of decide, activate and track and the rest of the
//! service: running an engine call (fetching CMAB predictions it asks for, loading
//! and saving the user profile), queueing its events and publishing notifications.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::decide::{
    self, CmabAnswer, CmabRequest, Context, NeedCmab, User, UserEvent, UserProfile,
};
use crate::notify::Kind;
use crate::server::Shared;
use crate::server::projects::{CmabPrediction, Project};
use crate::server::publish::publish_message;
use crate::telemetry::TARGET;
use crate::util::{lock, now_ms};

/// CMAB answers for one request: this request's fresh answers first, then the
/// project's cache of successful predictions.
struct CmabAnswers<'a> {
    project: &'a Project,
    fresh: HashMap<CmabRequest, CmabAnswer>,
    use_cache: bool,
}

impl decide::Cmab for CmabAnswers<'_> {
    fn lookup(&self, request: &CmabRequest) -> Option<CmabAnswer> {
        if let Some(answer) = self.fresh.get(request) {
            return Some(answer.clone());
        }
        if !self.use_cache {
            return None;
        }
        self.project
            .cmab_cache
            .get(request)
            .map(|(variation_id, cmab_uuid)| CmabAnswer::Variation {
                variation_id,
                cmab_uuid,
            })
    }
}

impl CmabAnswers<'_> {
    /// Asks the prediction service for what the engine needs; a failure is an answer
    /// too (the engine turns it into upstream's CMAB error decision).
    async fn fetch(&mut self, state: &Shared, NeedCmab(request): NeedCmab) {
        let uuid = uuid::Uuid::new_v4().to_string();
        let attributes: Vec<(String, Value)> = request
            .attributes
            .iter()
            .map(|a| (a.id.clone(), a.value()))
            .collect();
        let answer = match state
            .cmab
            .predict(&request.rule_id, &request.user_id, &attributes, &uuid)
            .await
        {
            Ok(variation_id) => {
                let prediction: CmabPrediction = (variation_id.clone(), uuid.clone());
                self.project.cmab_cache.insert(request.clone(), prediction);
                CmabAnswer::Variation {
                    variation_id,
                    cmab_uuid: uuid,
                }
            }
            Err(err) => {
                tracing::warn!(rule = request.rule_id, "CMAB prediction failed: {err}");
                CmabAnswer::Failed
            }
        };
        self.fresh.insert(request, answer);
    }
}

/// The span of one decision (decide or activate): what [`run_engine`] runs inside,
/// a child of the request span.
pub(super) fn decision_span(project: &Project, name: &'static str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "decision",
        otel.name = name,
        datafile.revision = project.config().revision(),
    )
}

/// Runs an engine call against the project's current datafile: it is repeated after
/// fetching each CMAB prediction it asks for, and the user profile is saved when the
/// outcome says it changed.
pub(super) async fn run_engine<T>(
    state: &Shared,
    project: &Project,
    user: &User,
    ignore_profile: bool,
    use_cmab_cache: bool,
    call: impl Fn(&mut Context<'_>) -> Result<T, NeedCmab>,
    profile_changed: impl Fn(&T) -> bool,
) -> T {
    let config = project.config();
    let mut profile = load_profile(state, project, &user.id, ignore_profile).await;
    let mut answers = CmabAnswers {
        project,
        fresh: HashMap::new(),
        use_cache: use_cmab_cache,
    };
    let outcome = loop {
        // The context holds non-Send references: end it before awaiting a fetch.
        let attempt = {
            let mut ctx = Context {
                config: &config,
                user,
                overrides: &project.overrides,
                cmab: &answers,
                profile: profile.as_mut(),
                now_ms: now_ms(),
                build_events: state.events.is_enabled(),
            };
            call(&mut ctx)
        };
        match attempt {
            Ok(outcome) => break outcome,
            // Boxed, as is every rare await here: the handler's future then holds a
            // pointer instead of the HTTP client's state, and moving it (it is moved
            // into its box and on each wrapper) copies a fraction of the bytes.
            Err(need) => Box::pin(answers.fetch(state, need)).await,
        }
    };
    if profile_changed(&outcome) {
        save_profile(state, project, &user.id, profile).await;
    }
    outcome
}

/// The one rule of decide, activate and track: queue the engine's impressions (or
/// conversion), then publish the notifications `notifications` builds knowing
/// whether they were dispatched. Returns whether they were.
///
/// An outcome is dispatched when every event it built was accepted. With dispatch
/// off (empty `client.eventURL`) decide builds no impression; a `due` one counts
/// as dispatched, as a queued-then-discarded one would, without being built.
pub(super) fn dispatch_then_notify<N>(
    state: &Shared,
    sdk_key: &str,
    kind: Kind,
    events: impl IntoIterator<Item = UserEvent>,
    due: bool,
    notifications: impl FnOnce(bool) -> N,
) -> bool
where
    N: IntoIterator,
    N::Item: Serialize,
{
    let mut built = false;
    let mut dispatched = true;
    for event in events {
        built = true;
        dispatched &= queue_event(state, event);
    }
    if !built {
        dispatched = due && !state.events.is_enabled();
        if dispatched {
            state.events.discard();
        }
    }
    for message in notifications(dispatched) {
        publish_message(&state.hub, &state.metrics, sdk_key, kind, &message);
    }
    dispatched
}

/// Queues an engine event for the event endpoint; returns whether it was accepted.
fn queue_event(state: &Shared, event: UserEvent) -> bool {
    state.events.push(crate::outbound::events::QueuedEvent {
        header: event.header,
        visitor: event.visitor,
    })
}

/// The profile to decide with: `None` without a UPS or when told to ignore it; a
/// shared (Redis, REST) service that fails gives an empty profile.
async fn load_profile(
    state: &Shared,
    project: &Project,
    user_id: &str,
    ignore: bool,
) -> Option<UserProfile> {
    if ignore {
        return None;
    }
    if let Some(shared) = &state.shared_ups {
        return Some(Box::pin(shared.lookup(user_id)).await);
    }
    let ups = project.ups.as_ref()?;
    Some(lock(ups).lookup(user_id).unwrap_or_default())
}

async fn save_profile(
    state: &Shared,
    project: &Project,
    user_id: &str,
    profile: Option<UserProfile>,
) {
    let Some(profile) = profile else { return };
    if let Some(shared) = &state.shared_ups {
        Box::pin(shared.save(user_id, &profile)).await;
    } else if let Some(ups) = project.ups.as_ref() {
        lock(ups).save(user_id, profile);
    }
}
