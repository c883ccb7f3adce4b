//! `/v1/config` and `/v1/datafile`: the SDK key's current datafile, as the
//! OptimizelyConfig view and as the raw datafile.

use std::sync::Arc;

use axum::response::Response;

use crate::server::json::ok;
use crate::server::projects::Project;

pub(super) async fn config(axum::Extension(project): axum::Extension<Arc<Project>>) -> Response {
    ok(project.config().optimizely_config())
}

pub(super) async fn datafile(axum::Extension(project): axum::Extension<Arc<Project>>) -> Response {
    ok(project.config().datafile_json())
}
