//! The Optimizely Data Platform clients of `serve`: [`segments`] asks ODP which
//! audience segments a user qualifies for (`fetchSegments` in decide), and
//! [`events`] sends `/v1/send-odp-event` events in batches, off the request path.
//! Both talk to the host and public key of the datafile's ODP integration, so the
//! caller passes them in; the segments cache (memory or Redis) is the server's.
//!
//! Like the rest of [`crate::outbound`], this imports nothing from `server`.

pub mod events;
pub mod segments;

use std::time::Duration;

/// The header carrying the integration's public key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The ODP identifier of a Feature Experimentation user id.
pub const USER_ID_KEY: &str = "fs_user_id";

/// Why an ODP client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OdpError {
    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot build the HTTP client for ODP")]
    HttpClient(#[source] reqwest::Error),
}

/// The HTTP client of ODP requests, each bounded by `timeout` (0 = no limit).
fn http_client(timeout: Duration) -> Result<reqwest::Client, OdpError> {
    crate::util::ensure_tls_provider();
    let mut builder = reqwest::Client::builder();
    if !timeout.is_zero() {
        builder = builder.timeout(timeout);
    }
    builder.build().map_err(OdpError::HttpClient)
}
