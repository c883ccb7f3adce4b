//! `/v1/send-odp-event`: validated as upstream does, then queued for the ODP
//! events endpoint of the SDK key's integration (see [`crate::server::odp`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extract::RawBody;
use crate::outbound::odp::events::OdpEvent;
use crate::server::Shared;
use crate::server::error::ApiError;
use crate::server::json::ok;
use crate::server::projects::Project;

#[derive(Deserialize)]
struct OdpEventBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    identifiers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

#[derive(Serialize)]
struct Sent {
    success: bool,
}

/// Validates in upstream's order and with its messages, then queues the event;
/// delivery happens later, off the request path.
pub(super) async fn send_odp_event(
    State(state): State<Shared>,
    axum::Extension(project): axum::Extension<Arc<Project>>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body: OdpEventBody = body.json()?;
    let action = body.action.unwrap_or_default();
    if action.is_empty() {
        return Err(ApiError::bad_request(
            "missing \"action\" in request payload",
        ));
    }
    let identifiers = body.identifiers.unwrap_or_default();
    if identifiers.is_empty() {
        return Err(ApiError::bad_request(
            "missing or empty \"identifiers\" in request payload",
        ));
    }
    if !state.odp.is_enabled() {
        return Err(ApiError::internal(crate::server::odp::NOT_ENABLED));
    }
    let config = project.config();
    if config.odp_integration().is_none() {
        return Err(ApiError::internal(crate::server::odp::NOT_INTEGRATED));
    }
    let data = body.data.unwrap_or_default();
    let primitive = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
    if !data.values().all(primitive) {
        return Err(ApiError::internal("ODP data is not valid"));
    }
    let event = OdpEvent {
        kind: body.kind.unwrap_or_default(),
        action,
        identifiers,
        data,
    };
    state
        .odp
        .send_event(&config, event)
        .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(ok(Sent { success: true }))
}
