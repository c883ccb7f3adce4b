//! Per-SDK-key client state: `/v1/override` (forced variations), `/v1/lookup` and
//! `/v1/save` (the user profile service) and `/v1/reset` (forget it all).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::RawBody;
use crate::decide::UserProfile;
use crate::server::Shared;
use crate::server::error::ApiError;
use crate::server::json::ok;
use crate::server::projects::{MemoryUps, Project};
use crate::server::state::SharedUps;
use crate::util::lock;

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

pub(super) async fn override_variation(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    body: RawBody,
) -> Result<Response, ApiError> {
    if !state.settings.api.enable_overrides {
        return Err(ApiError::Disabled("Overrides not enabled"));
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

/// A user profile service: this project's in-memory one, or the fleet's.
enum Ups<'a> {
    Local(&'a Mutex<MemoryUps>),
    Shared(&'a SharedUps),
}

impl Ups<'_> {
    async fn lookup(&self, user_id: &str) -> UserProfile {
        match self {
            Ups::Local(ups) => lock(ups).lookup(user_id).unwrap_or_default(),
            Ups::Shared(ups) => ups.lookup(user_id).await,
        }
    }

    async fn save(&self, user_id: &str, profile: UserProfile) {
        match self {
            Ups::Local(ups) => lock(ups).save(user_id, profile),
            Ups::Shared(ups) => ups.save(user_id, &profile).await,
        }
    }
}

/// The UPS the request may use: `X-Optimizely-UPS-Name`, when sent, must name the
/// configured one.
fn profile_service<'a>(
    state: &'a Shared,
    project: &'a Project,
    headers: &HeaderMap,
) -> Result<Ups<'a>, ApiError> {
    let none = || ApiError::internal("no user profile service found");
    let configured = &state.settings.client.user_profile_service.default;
    if let Some(name) = headers
        .get("x-optimizely-ups-name")
        .and_then(|v| v.to_str().ok())
        && !name.eq_ignore_ascii_case(configured)
    {
        return Err(none());
    }
    if let Some(shared) = &state.shared_ups {
        return Ok(Ups::Shared(shared));
    }
    project.ups.as_ref().map(Ups::Local).ok_or_else(none)
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
    state: &'a Shared,
    project: &'a Project,
    headers: &HeaderMap,
    body: &RawBody,
) -> Result<(Ups<'a>, ProfileBody), ApiError> {
    let ups = profile_service(state, project, headers)?;
    let body: ProfileBody = body.json()?;
    if body.user_id.is_empty() {
        return Err(ApiError::MissingUserId);
    }
    Ok((ups, body))
}

pub(super) async fn lookup(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let (ups, body) = profile_request(&state, &project, &headers, &body)?;
    let profile = ups.lookup(&body.user_id).await;
    Ok(ok(ProfileAnswer {
        user_id: body.user_id,
        experiment_bucket_map: profile
            .into_iter()
            .map(|(experiment, variation_id)| (experiment, BucketEntry { variation_id }))
            .collect(),
    }))
}

pub(super) async fn save(
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
    ups.save(&body.user_id, profile).await;
    Ok(StatusCode::OK.into_response())
}

#[derive(Serialize)]
struct ResetAnswer {
    result: bool,
}

/// Forgets the SDK key's client state (overrides, profiles, CMAB cache) and reloads
/// its datafile, as upstream's reset of the cached client does.
pub(super) async fn reset(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
) -> Response {
    state.projects.forget(&project.sdk_key);
    ok(ResetAnswer { result: true })
}
