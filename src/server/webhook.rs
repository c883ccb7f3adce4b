//! The datafile webhook: `POST /webhooks/optimizely`, signed with HMAC-SHA1 per
//! `webhook.projects`, refreshes the project's SDK keys (statuses and bodies as
//! upstream, `reference/decision-facts.md` §7).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::Shared;
use super::api::RawBody;
use super::error::ApiError;

/// The webhook router.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/webhooks/optimizely", post(webhook))
        .route("/health", get(super::admin::health))
        .layer(middleware::from_fn(super::content_type))
        .with_state(state)
}

#[derive(Deserialize)]
struct Message {
    project_id: i64,
}

/// Whether `signature` (`sha1=<hex>`) is the HMAC-SHA1 of `body` under `secret`,
/// compared in constant time.
pub(crate) fn signature_matches(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn webhook(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<RawBody, ApiError>,
) -> Response {
    let Ok(RawBody(body)) = body else {
        return ApiError::bad_request("Unable to read webhook message body.").into_response();
    };
    let Ok(message) = serde_json::from_slice::<Message>(&body) else {
        return ApiError::bad_request("Unable to parse webhook message.").into_response();
    };
    let Some(project) = state.settings.webhook.projects.get(&message.project_id) else {
        tracing::info!(
            project_id = message.project_id,
            "webhook for an unconfigured project ignored"
        );
        return StatusCode::NO_CONTENT.into_response();
    };
    if !project.skip_signature_check {
        let signature = headers
            .get("x-hub-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !signature_matches(&project.secret, &body, signature) {
            tracing::warn!(
                project_id = message.project_id,
                "webhook signature mismatch"
            );
            return ApiError::bad_request(
                "Computed signature does not match signature in request. Ignoring message.",
            )
            .into_response();
        }
    }
    for sdk_key in &project.sdk_keys {
        let changed = state.projects.refresh(sdk_key).await;
        tracing::info!(
            project_id = message.project_id,
            changed,
            "webhook refreshed datafiles"
        );
        // Every other instance re-reads too (synchronization.datafile.enable).
        if let Some(sync) = &state.datafile_sync {
            sync.publish_datafile_change(sdk_key);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha1_hex() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog"), RFC 2104 example.
        let body = b"The quick brown fox jumps over the lazy dog";
        let good = "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9";
        assert!(signature_matches("key", body, good));
        assert!(!signature_matches("other", body, good));
        assert!(!signature_matches(
            "key",
            body,
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        ));
        assert!(!signature_matches("key", body, "sha1=zz"));
    }
}
