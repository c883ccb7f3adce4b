//! The `/v1/*` handlers (except the SSE stream, in `sse.rs`) and the SDK-key
//! check: extractors in [`extract`], one file per resource. Shapes, statuses
//! and error strings are upstream's (`reference/decision-facts.md` §4-§5).

mod batch;
mod config;
mod decide;
mod engine;
mod extract;
mod odp;
mod profiles;

use axum::Router;
use axum::routing::{get, post};

pub(crate) use extract::{RawBody, with_project};

use super::Shared;

/// Routes of the API listener that answer promptly (the write timeout applies).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/decide", post(decide::decide))
        .route("/v1/activate", post(decide::activate))
        .route("/v1/track", post(decide::track))
        .route("/v1/config", get(config::config))
        .route("/v1/datafile", get(config::datafile))
        .route("/v1/override", post(profiles::override_variation))
        .route("/v1/lookup", post(profiles::lookup))
        .route("/v1/save", post(profiles::save))
        .route("/v1/reset", post(profiles::reset))
        .route("/v1/send-odp-event", post(odp::send_odp_event))
}

/// Prompt routes that need no SDK key: `/v1/batch` (each of its operations passes
/// the SDK-key middleware on its own).
pub(crate) fn keyless_routes() -> Router<Shared> {
    Router::new().route(batch::BATCH_PATH, post(batch::batch))
}
