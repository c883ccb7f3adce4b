//! The `/v1/*` handlers (except the SSE stream, in `sse.rs`) and the SDK-key
//! middleware. Shapes, statuses and error strings are upstream's
//! (`reference/decision-facts.md` §4-§5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower::ServiceExt;

use super::error::ApiError;
use super::json::ok;
use super::projects::{CmabPrediction, LoadError, Project};
use super::{MAX_BODY_BYTES, Shared};
use crate::decide::{
    self, ActivateQuery, CmabAnswer, CmabRequest, Context, DecideOptions, ForcedDecision, NeedCmab,
    TrackOutcome, User, UserEvent, UserProfile,
};
use crate::notify::{Kind, Notification};
use crate::util::{lock, now_ms};

/// The SDK key a request was made for (without `:token`), set by [`sdk_key`].
#[derive(Clone)]
pub(crate) struct SdkKey(pub String);

/// Routes of the API listener that answer promptly (the write timeout applies).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/activate", post(activate))
        .route("/v1/track", post(track))
        .route("/v1/config", get(config))
        .route("/v1/datafile", get(datafile))
        .route("/v1/override", post(override_variation))
        .route("/v1/lookup", post(lookup))
        .route("/v1/save", post(save))
        .route("/v1/reset", post(reset))
        .route("/v1/batch", post(batch))
        .route("/v1/send-odp-event", post(send_odp_event))
}

/// The upstream body for an SDK key no datafile can be found for.
const UNKNOWN_SDK_KEY: &str =
    "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden";

/// Validates `X-Optimizely-SDK-Key` and loads its datafile before the route runs.
pub(crate) async fn sdk_key(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get("x-optimizely-sdk-key")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        .unwrap_or_default();
    if header.is_empty() {
        return ApiError::bad_request("missing required X-Optimizely-SDK-Key header")
            .into_response();
    }
    if !state.sdk_key_regex.is_match(&header) {
        return ApiError::bad_request("sdkKey failed validation").into_response();
    }
    let key = header.split(':').next().unwrap_or(&header).to_owned();
    match state.projects.get(&key).await {
        Ok(project) => {
            request.extensions_mut().insert(project);
            request.extensions_mut().insert(SdkKey(key));
            next.run(request).await
        }
        Err(err @ LoadError::Unknown { .. }) => {
            tracing::debug!("{err}");
            ApiError::Json(StatusCode::FORBIDDEN, UNKNOWN_SDK_KEY.to_owned()).into_response()
        }
        Err(err @ LoadError::Broken { .. }) => {
            tracing::error!("{err}");
            ApiError::internal(format!(
                "failed to instantiate Optimizely for SDK Key: {key}"
            ))
            .into_response()
        }
    }
}

/// The request body, at most [`MAX_BODY_BYTES`]; larger bodies get 413.
pub(crate) struct RawBody(pub Bytes);

impl FromRequest<Shared> for RawBody {
    type Rejection = ApiError;

    /// Reads the body within `server.readTimeout` (408 past it).
    async fn from_request(request: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES);
        let Ok(limited) = super::lazy_timeout(state.settings.server.read_timeout, read).await
        else {
            return Err(ApiError::Json(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received within server.readTimeout".to_owned(),
            ));
        };
        match limited {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(err) => {
                let too_large = std::error::Error::source(&err)
                    .is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
                    || err.to_string().contains("length limit");
                if too_large {
                    Err(ApiError::Json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                    ))
                } else {
                    Err(ApiError::unparsable_body())
                }
            }
        }
    }
}

impl RawBody {
    /// Parses the body as `T`; an empty body parses as `{}`.
    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ApiError> {
        let bytes: &[u8] = if self.0.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.0
        };
        serde_json::from_slice(bytes).map_err(|e| {
            tracing::debug!("request body: {e}");
            ApiError::unparsable_body()
        })
    }
}

/// The repeated values of query parameter `name`, in order.
fn query_values(uri: &Uri, name: &str) -> Vec<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    query_values(uri, name).into_iter().next()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecideBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user_attributes: Option<Map<String, Value>>,
    #[serde(default)]
    decide_options: Vec<String>,
    #[serde(default)]
    forced_decisions: Vec<ForcedBody>,
    #[serde(default)]
    fetch_segments: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForcedBody {
    #[serde(default)]
    flag_key: String,
    #[serde(default)]
    rule_key: Option<String>,
    #[serde(default)]
    variation_key: String,
}

const MISSING_USER_ID: &str = "missing \"userId\" in request payload";

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

/// Runs an engine call against the project's current datafile: it is repeated after
/// fetching each CMAB prediction it asks for, and the user profile is saved when the
/// outcome says it changed.
async fn run_engine<T>(
    state: &Shared,
    project: &Project,
    user: &User,
    ignore_profile: bool,
    use_cmab_cache: bool,
    call: impl Fn(&mut Context<'_>) -> Result<T, NeedCmab>,
    profile_changed: impl Fn(&T) -> bool,
) -> T {
    let config = project.config();
    let mut profile = load_profile(project, &user.id, ignore_profile);
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
            Err(need) => answers.fetch(state, need).await,
        }
    };
    if profile_changed(&outcome) {
        save_profile(project, &user.id, profile);
    }
    outcome
}

/// Queues an engine event for the event endpoint; returns whether it was accepted.
fn queue_event(state: &Shared, event: UserEvent) -> bool {
    let header = match serde_json::to_value(&event.context) {
        Ok(Value::Object(map)) => map,
        _ => return false,
    };
    state.events.push(super::events::QueuedEvent {
        header,
        visitor: event.visitor,
    })
}

/// Hands a notification to the hub.
pub(crate) fn publish(state: &Shared, sdk_key: &str, kind: Kind, message: &impl Serialize) {
    match Notification::new(kind, message) {
        Ok(notification) => {
            if state.hub.publish(sdk_key, notification) {
                state.metrics.published(kind);
            } else {
                state.metrics.notification_dropped();
            }
        }
        Err(err) => {
            state.metrics.notification_dropped();
            tracing::error!("encoding a {kind} notification: {err}");
        }
    }
}

/// The profile to decide with: `None` without a UPS or when told to ignore it.
fn load_profile(project: &Project, user_id: &str, ignore: bool) -> Option<UserProfile> {
    let ups = project.ups.as_ref().filter(|_| !ignore)?;
    Some(lock(ups).lookup(user_id).unwrap_or_default())
}

fn save_profile(project: &Project, user_id: &str, profile: Option<UserProfile>) {
    if let (Some(ups), Some(profile)) = (project.ups.as_ref(), profile) {
        lock(ups).save(user_id, profile);
    }
}

async fn decide(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    axum::Extension(SdkKey(sdk_key)): axum::Extension<SdkKey>,
    uri: Uri,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body: DecideBody = body.json()?;
    if body.user_id.is_empty() {
        return Err(ApiError::bad_request(MISSING_USER_ID));
    }
    let options = DecideOptions::parse(body.decide_options.iter().map(String::as_str))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.fetch_segments {
        // No ODP segment service is reachable from here: upstream's answer when the
        // fetch fails.
        return Err(ApiError::internal("failed to fetch qualified segments"));
    }
    let keys = query_values(&uri, "keys");
    let single = keys.len() == 1;
    let forced: Vec<ForcedDecision> = body
        .forced_decisions
        .into_iter()
        .map(|f| ForcedDecision {
            flag_key: f.flag_key,
            rule_key: f.rule_key.filter(|r| !r.is_empty()),
            variation_key: f.variation_key,
        })
        .collect();
    let user = User {
        id: body.user_id,
        attributes: body.user_attributes,
    };
    if options.reset_cmab_cache {
        project.cmab_cache.clear();
    }
    if options.invalidate_user_cmab_cache {
        project.cmab_cache.remove_where(|k| k.user_id == user.id);
    }
    let keys = if keys.is_empty() { None } else { Some(keys) };
    let outcome = run_engine(
        &state,
        &project,
        &user,
        options.ignore_user_profile_service,
        !options.ignore_cmab_cache,
        |ctx| decide::decide(ctx, keys.as_deref(), &forced, &options),
        |outcome| outcome.profile_changed,
    )
    .await;
    let mut decisions = outcome.decisions;
    for decision in &mut decisions {
        let dispatched = if state.events.is_enabled() {
            decision
                .take_impression()
                .is_some_and(|event| queue_event(&state, event))
        } else {
            // Dispatch is off (empty client.eventURL): the impression counts as
            // dispatched, as a queued-then-discarded one would, without being built.
            let due = decision.impression_due();
            if due {
                state.events.discard();
            }
            due
        };
        if let Some(message) = decision.notification(dispatched) {
            publish(&state, &sdk_key, Kind::Decision, &message);
        }
    }
    if single {
        match decisions.into_iter().next() {
            Some(decision) => Ok(ok(decision)),
            None => Err(ApiError::internal("no decision was made")),
        }
    } else {
        Ok(ok(decisions))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivateBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user_attributes: Option<Map<String, Value>>,
}

async fn activate(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    axum::Extension(SdkKey(sdk_key)): axum::Extension<SdkKey>,
    uri: Uri,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body: ActivateBody = body.json()?;
    let query = ActivateQuery::from_params(
        &query_values(&uri, "type"),
        &query_values(&uri, "experimentKey"),
        &query_values(&uri, "featureKey"),
        query_value(&uri, "disableTracking").as_deref(),
        query_value(&uri, "enabled").as_deref(),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.user_id.is_empty() {
        return Err(ApiError::bad_request(MISSING_USER_ID));
    }
    let user = User {
        id: body.user_id,
        attributes: body.user_attributes,
    };
    let outcome = run_engine(
        &state,
        &project,
        &user,
        false,
        true,
        |ctx| decide::activate(ctx, &query),
        |outcome| outcome.profile_changed,
    )
    .await;
    for event in outcome.events {
        queue_event(&state, event);
    }
    for message in &outcome.notifications {
        publish(&state, &sdk_key, Kind::Decision, message);
    }
    Ok(ok(outcome.results))
}

/// Upstream's track body has no JSON tags, so Go matches field names ignoring case.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).or_else(|| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrackAnswer {
    user_id: String,
    event_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn track(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    axum::Extension(SdkKey(sdk_key)): axum::Extension<SdkKey>,
    uri: Uri,
    body: RawBody,
) -> Result<Response, ApiError> {
    let event_key = query_value(&uri, "eventKey").unwrap_or_default();
    if event_key.is_empty() {
        return Err(ApiError::bad_request(
            "missing required path parameter: eventKey",
        ));
    }
    let body: Map<String, Value> = body.json()?;
    let user_id = match field(&body, "userId") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::unparsable_body()),
    };
    let object = |name| match field(&body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(ApiError::unparsable_body()),
    };
    let user = User {
        id: user_id,
        attributes: object("userAttributes")?,
    };
    let tags = object("eventTags")?;
    let config = project.config();
    let error = match decide::track(&config, &user, &event_key, tags.as_ref(), now_ms()) {
        TrackOutcome::Tracked {
            event,
            notification,
        } => {
            // Upstream notifies only for events its queue accepted.
            if queue_event(&state, event) {
                publish(&state, &sdk_key, Kind::Track, &notification);
            }
            None
        }
        TrackOutcome::UnknownEvent => Some(format!("event with key \"{event_key}\" not found")),
    };
    Ok(ok(TrackAnswer {
        user_id: user.id,
        event_key,
        error,
    }))
}

async fn config(axum::Extension(project): axum::Extension<Arc<Project>>) -> Response {
    ok(project.config().optimizely_config())
}

async fn datafile(axum::Extension(project): axum::Extension<Arc<Project>>) -> Response {
    ok(project.config().datafile_json())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverrideBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    experiment_key: String,
    #[serde(default)]
    variation_key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OverrideAnswer {
    user_id: String,
    experiment_key: String,
    variation_key: String,
    prev_variation_key: String,
    messages: Option<Vec<&'static str>>,
}

async fn override_variation(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    body: RawBody,
) -> Result<Response, ApiError> {
    if !state.settings.api.enable_overrides {
        return Err(ApiError::Text(
            StatusCode::FORBIDDEN,
            "Overrides not enabled",
        ));
    }
    let body: OverrideBody = body.json()?;
    if body.user_id.is_empty() {
        return Err(ApiError::bad_request("userId cannot be empty"));
    }
    if body.experiment_key.is_empty() {
        return Err(ApiError::bad_request("experimentKey cannot be empty"));
    }
    let mut messages = Vec::new();
    let previous = if body.variation_key.is_empty() {
        let previous = project
            .overrides
            .remove(&body.experiment_key, &body.user_id);
        messages.push(if previous.is_some() {
            "removing previous override"
        } else {
            "no pre-existing override"
        });
        previous
    } else {
        let config = project.config();
        if !config.has_experiment(&body.experiment_key) {
            messages.push("experimentKey not found in configuration");
        } else if !config.has_variation(&body.experiment_key, &body.variation_key) {
            messages.push("variationKey not found in configuration");
        }
        let previous =
            project
                .overrides
                .set(&body.experiment_key, &body.user_id, &body.variation_key);
        if previous.is_some() {
            messages.push("updating previous override");
        }
        previous
    };
    Ok(ok(OverrideAnswer {
        user_id: body.user_id,
        experiment_key: body.experiment_key,
        variation_key: body.variation_key,
        prev_variation_key: previous.unwrap_or_default(),
        messages: if messages.is_empty() {
            None
        } else {
            Some(messages)
        },
    }))
}

/// The UPS the request may use: `X-Optimizely-UPS-Name`, when sent, must name the
/// configured one.
fn profile_service<'a>(
    state: &Shared,
    project: &'a Project,
    headers: &HeaderMap,
) -> Result<&'a std::sync::Mutex<super::projects::MemoryUps>, ApiError> {
    let none = || ApiError::internal("no user profile service found");
    let configured = &state.settings.client.user_profile_service.default;
    if let Some(name) = headers
        .get("x-optimizely-ups-name")
        .and_then(|v| v.to_str().ok())
        && !name.eq_ignore_ascii_case(configured)
    {
        return Err(none());
    }
    project.ups.as_ref().ok_or_else(none)
}

#[derive(Deserialize, Serialize, Default)]
struct BucketEntry {
    #[serde(default)]
    variation_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    experiment_bucket_map: HashMap<String, BucketEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileAnswer {
    user_id: String,
    experiment_bucket_map: std::collections::BTreeMap<String, BucketEntry>,
}

/// The UPS and the parsed body of a `/v1/lookup` or `/v1/save` request.
fn profile_request<'a>(
    state: &Shared,
    project: &'a Project,
    headers: &HeaderMap,
    body: &RawBody,
) -> Result<
    (
        &'a std::sync::Mutex<super::projects::MemoryUps>,
        ProfileBody,
    ),
    ApiError,
> {
    let ups = profile_service(state, project, headers)?;
    let body: ProfileBody = body.json()?;
    if body.user_id.is_empty() {
        return Err(ApiError::bad_request(MISSING_USER_ID));
    }
    Ok((ups, body))
}

async fn lookup(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let (ups, body) = profile_request(&state, &project, &headers, &body)?;
    let profile = lock(ups).lookup(&body.user_id).unwrap_or_default();
    Ok(ok(ProfileAnswer {
        user_id: body.user_id,
        experiment_bucket_map: profile
            .into_iter()
            .map(|(experiment, variation_id)| (experiment, BucketEntry { variation_id }))
            .collect(),
    }))
}

async fn save(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let (ups, body) = profile_request(&state, &project, &headers, &body)?;
    let profile: UserProfile = body
        .experiment_bucket_map
        .into_iter()
        .map(|(experiment, entry)| (experiment, entry.variation_id))
        .collect();
    lock(ups).save(&body.user_id, profile);
    Ok(StatusCode::OK.into_response())
}

#[derive(Serialize)]
struct ResetAnswer {
    result: bool,
}

/// Forgets the SDK key's client state (overrides, profiles, CMAB cache) and reloads
/// its datafile, as upstream's reset of the cached client does.
async fn reset(
    State(state): State<Shared>,
    axum::Extension(SdkKey(sdk_key)): axum::Extension<SdkKey>,
) -> Response {
    state.projects.forget(&sdk_key);
    ok(ResetAnswer { result: true })
}

#[derive(Deserialize)]
struct BatchBody {
    #[serde(default)]
    operations: Vec<Operation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default, rename = "operationID")]
    operation_id: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    params: HashMap<String, String>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

#[derive(Serialize)]
struct OperationAnswer {
    status: u16,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "operationID")]
    operation_id: String,
    method: String,
    url: String,
    body: Value,
    #[serde(rename = "startedAt")]
    started_at: String,
    #[serde(rename = "endedAt")]
    ended_at: String,
}

#[derive(Serialize)]
struct BatchAnswer {
    #[serde(rename = "startedAt")]
    started_at: String,
    #[serde(rename = "endedAt")]
    ended_at: String,
    #[serde(rename = "errorCount")]
    error_count: usize,
    response: Vec<OperationAnswer>,
}

fn timestamp() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Runs each operation through the API router (with the batch request's headers,
/// overridden by the operation's), at most `server.batchRequests.maxConcurrency`
/// at a time.
async fn batch(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let started_at = timestamp();
    let body: BatchBody = body.json()?;
    let limit = state.settings.server.batch_requests.operations_limit;
    if body.operations.len() > limit {
        return Err(ApiError::Json(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("too many operations, exceeding {limit} operations"),
        ));
    }
    let router = super::api_router(Arc::clone(&state));
    let permits = Arc::new(tokio::sync::Semaphore::new(
        state.settings.server.batch_requests.max_concurrency.max(1),
    ));
    let runs = body.operations.into_iter().map(|operation| {
        let router = router.clone();
        let permits = Arc::clone(&permits);
        let headers = headers.clone();
        async move {
            let _permit = permits.acquire().await.ok();
            run_operation(router, &headers, operation).await
        }
    });
    let response = futures_util::future::join_all(runs).await;
    let error_count = response.iter().filter(|r| r.status != 200).count();
    Ok(ok(BatchAnswer {
        started_at,
        ended_at: timestamp(),
        error_count,
        response,
    }))
}

async fn run_operation(
    router: Router,
    headers: &HeaderMap,
    operation: Operation,
) -> OperationAnswer {
    let started_at = timestamp();
    let mut uri = operation.url.clone();
    if !operation.params.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &operation.params {
            query.append_pair(k, v);
        }
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(&query.finish());
    }
    let mut builder = Request::builder()
        .method(operation.method.to_uppercase().as_str())
        .uri(uri.as_str());
    for (name, value) in headers {
        if name != axum::http::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    for (name, value) in &operation.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request_id = operation
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let body = match &operation.body {
        Some(value) => Body::from(serde_json::to_vec(value).unwrap_or_default()),
        None => Body::empty(),
    };
    let (status, body) = match builder.body(body) {
        Ok(request) => match router.oneshot(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).trim_end().to_owned())
                });
                (status, body)
            }
            Err(never) => match never {},
        },
        Err(err) => (400, Value::String(format!("invalid operation: {err}"))),
    };
    OperationAnswer {
        status,
        request_id,
        operation_id: operation.operation_id,
        method: operation.method,
        url: operation.url,
        body,
        started_at,
        ended_at: timestamp(),
    }
}

#[derive(Deserialize)]
struct OdpEventBody {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    identifiers: Option<HashMap<String, String>>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

/// ODP is not in scope: the validation order and messages are upstream's, and a
/// valid event is refused with a clear 500 since nothing could send it.
async fn send_odp_event(
    axum::Extension(project): axum::Extension<Arc<Project>>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body: OdpEventBody = body.json()?;
    if body.action.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(
            "missing \"action\" in request payload",
        ));
    }
    if body.identifiers.as_ref().is_none_or(HashMap::is_empty) {
        return Err(ApiError::bad_request(
            "missing or empty \"identifiers\" in request payload",
        ));
    }
    if !project.config().has_odp() {
        return Err(ApiError::internal("ODP is not integrated"));
    }
    let primitive = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
    if !body.data.iter().flat_map(|d| d.values()).all(primitive) {
        return Err(ApiError::internal("ODP data is not valid"));
    }
    Err(ApiError::internal(
        "sending ODP events is not supported by agentctl serve",
    ))
}
