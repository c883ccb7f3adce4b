//! The datafile webhook: `POST /webhooks/optimizely`, signed with HMAC-SHA1 per
//! `webhook.projects`, refreshes the project's SDK keys (statuses and bodies as
//! upstream, `reference/decision-facts.md` §7).
//!
//! Replay protection ([`Replays`], `webhook.replayWindow`): the timestamp source is
//! the payload's `timestamp` (unix seconds), which the signature covers, so it
//! cannot be changed without the secret. A signed call further than the window
//! from the server's clock is refused, and a signature accepted within the window
//! is refused when it comes again; it is remembered only as long as its timestamp
//! keeps it acceptable. The memory is per instance. A body over the size limit is
//! a 413, as on the API.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use tower::Layer;

use super::Shared;
use super::api::RawBody;
use super::error::ApiError;
use super::middleware::{Gate, GateLayer};
use crate::util::{lock, now_ms};

/// The webhook service: its router behind the content-type check.
pub(crate) fn router(state: Shared) -> Gate<Router> {
    let router = Router::new()
        .route("/webhooks/optimizely", post(webhook))
        .route("/health", get(super::admin::health))
        .with_state(state);
    GateLayer::webhook().layer(router)
}

#[derive(Deserialize)]
struct Message {
    project_id: i64,
    /// Unix seconds when the call was sent.
    timestamp: Option<i64>,
}

/// Why a signed call is refused as a possible replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// The timestamp is missing or too far from the clock.
    Stale,
    /// The signature was accepted before.
    Seen,
}

impl Replay {
    fn message(self) -> &'static str {
        match self {
            Replay::Stale => {
                "Webhook message timestamp is missing or outside the accepted window. Ignoring message."
            }
            Replay::Seen => "Webhook message was already received. Ignoring message.",
        }
    }
}

/// The signatures of accepted signed calls, each remembered until its timestamp
/// leaves the replay window.
pub(crate) struct Replays {
    window_ms: u64,
    /// Lower-case signature → unix milliseconds until which it is remembered.
    seen: Mutex<HashMap<String, u64>>,
}

impl Replays {
    /// Replay protection with `window` (`webhook.replayWindow`; zero: off).
    pub(crate) fn new(window: Duration) -> Self {
        Replays {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts (and remembers) a correctly signed call sent at `timestamp` (unix
    /// seconds) with `signature`, or says why it is refused.
    fn accept(&self, timestamp: Option<i64>, signature: &str, now_ms: u64) -> Result<(), Replay> {
        if self.window_ms == 0 {
            return Ok(());
        }
        let sent_ms = timestamp
            .and_then(|t| u64::try_from(t).ok())
            .map(|t| t.saturating_mul(1000))
            .ok_or(Replay::Stale)?;
        if now_ms.abs_diff(sent_ms) > self.window_ms {
            return Err(Replay::Stale);
        }
        let mut seen = lock(&self.seen);
        seen.retain(|_, until| *until >= now_ms);
        let key = signature.to_ascii_lowercase();
        if seen.contains_key(&key) {
            return Err(Replay::Seen);
        }
        seen.insert(key, sent_ms.saturating_add(self.window_ms));
        Ok(())
    }
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
    let body = match body {
        Ok(RawBody(body)) => body,
        Err(err @ ApiError::BodyTooLarge) => return err.into_response(),
        Err(_) => {
            return ApiError::bad_request("Unable to read webhook message body.").into_response();
        }
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
        if let Err(replay) = state
            .webhook_replays
            .accept(message.timestamp, signature, now_ms())
        {
            tracing::warn!(
                project_id = message.project_id,
                timestamp = message.timestamp,
                "webhook refused: {replay:?}"
            );
            return ApiError::bad_request(replay.message()).into_response();
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

    #[test]
    fn replays_refuse_stale_and_repeated_signatures() {
        let replays = Replays::new(Duration::from_secs(300));
        let now = 1_700_000_000_000;
        assert_eq!(replays.accept(Some(1_700_000_000), "sha1=ab", now), Ok(()));
        assert_eq!(
            replays.accept(Some(1_700_000_000), "sha1=AB", now + 1000),
            Err(Replay::Seen)
        );
        assert_eq!(replays.accept(Some(1_700_000_001), "sha1=cd", now), Ok(()));
        assert_eq!(
            replays.accept(Some(1_700_000_000 - 301), "sha1=ef", now),
            Err(Replay::Stale)
        );
        assert_eq!(
            replays.accept(Some(1_700_000_000 + 301), "sha1=ef", now),
            Err(Replay::Stale)
        );
        assert_eq!(replays.accept(None, "sha1=ef", now), Err(Replay::Stale));
        assert_eq!(replays.accept(Some(-5), "sha1=ef", now), Err(Replay::Stale));
        // Forgotten once its timestamp left the window (and then refused as stale).
        let later = now + 301_000;
        assert_eq!(
            replays.accept(Some(1_700_000_000), "sha1=ab", later),
            Err(Replay::Stale)
        );
        assert_eq!(
            replays.accept(Some(1_700_000_301), "sha1=gh", later),
            Ok(())
        );
        assert_eq!(lock(&replays.seen).len(), 2);
        let off = Replays::new(Duration::ZERO);
        assert_eq!(off.accept(None, "sha1=ab", now), Ok(()));
        assert_eq!(off.accept(None, "sha1=ab", now), Ok(()));
    }
}
