//! `/v1/decide`, `/v1/activate` and `/v1/track`: parse the request, run the engine
//! (see [`super::engine`]), queue events, notify, answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::Instrument;

use super::engine::{decision_span, dispatch_then_notify, run_engine};
use super::extract::{RawBody, query_value, query_values};
use crate::decide::{self, ActivateQuery, DecideOptions, ForcedDecision, TrackOutcome, User};
use crate::notify::Kind;
use crate::server::Shared;
use crate::server::error::ApiError;
use crate::server::json::ok;
use crate::server::projects::Project;
use crate::util::now_ms;

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
    /// `IGNORE_CACHE` / `RESET_CACHE`; other values are ignored, as upstream does.
    #[serde(default)]
    fetch_segments_options: Vec<String>,
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

pub(super) async fn decide(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    uri: Uri,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body: DecideBody = body.json()?;
    if body.user_id.is_empty() {
        return Err(ApiError::MissingUserId);
    }
    let options = DecideOptions::parse(body.decide_options.iter().map(String::as_str))?;
    // Upstream identifies the user to ODP when it creates the user context.
    let config = project.config();
    state.odp.identify(&config, &body.user_id);
    let segments = if body.fetch_segments {
        // Boxed: the rare ODP request would otherwise make every decide's future
        // larger (see `run_engine`).
        let fetched = Box::pin(state.odp.qualified_segments(
            &project.sdk_key,
            &config,
            &body.user_id,
            &body.fetch_segments_options,
        ))
        .await;
        match fetched {
            Ok(segments) => Some(segments),
            Err(err) => {
                tracing::warn!(user_id = %body.user_id, "fetchQualifiedSegments failed: {err}");
                return Err(ApiError::internal("failed to fetch qualified segments"));
            }
        }
    } else {
        None
    };
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
        segments,
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
    .instrument(decision_span(&project, "decide"))
    .await;
    let mut decisions = outcome.decisions;
    for decision in &mut decisions {
        let impression = decision.take_impression();
        dispatch_then_notify(
            &state,
            &project.sdk_key,
            Kind::Decision,
            impression,
            decision.impression_due(),
            |dispatched| decision.notification(dispatched),
        );
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

pub(super) async fn activate(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
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
    )?;
    if body.user_id.is_empty() {
        return Err(ApiError::MissingUserId);
    }
    let user = User {
        id: body.user_id,
        attributes: body.user_attributes,
        segments: None,
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
    .instrument(decision_span(&project, "activate"))
    .await;
    // Activate's messages are published whether or not its impressions were queued.
    dispatch_then_notify(
        &state,
        &project.sdk_key,
        Kind::Decision,
        outcome.events,
        false,
        |_| &outcome.notifications,
    );
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

pub(super) async fn track(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
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
        Some(_) => return Err(ApiError::UnparsableBody),
    };
    let object = |name| match field(&body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(ApiError::UnparsableBody),
    };
    let user = User {
        id: user_id,
        attributes: object("userAttributes")?,
        segments: None,
    };
    let tags = object("eventTags")?;
    let config = project.config();
    let error = match decide::track(&config, &user, &event_key, tags.as_ref(), now_ms()) {
        TrackOutcome::Tracked {
            event,
            notification,
        } => {
            // Upstream notifies only for events its queue accepted.
            dispatch_then_notify(
                &state,
                &project.sdk_key,
                Kind::Track,
                Some(event),
                true,
                |dispatched| dispatched.then_some(notification),
            );
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
