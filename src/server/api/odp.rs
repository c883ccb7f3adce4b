//! `/v1/send-odp-event`: validated as upstream does, then refused (no ODP here).

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::extract::RawBody;
use crate::server::error::ApiError;
use crate::server::projects::Project;

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
pub(super) async fn send_odp_event(
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
