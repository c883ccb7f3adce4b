//! HTTP delivery of one sealed batch: the POST, which failures are retried and
//! with what pause, and the booking of each outcome in [`EventStats`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::dispatch::Sealed;
use super::{EventError, EventStats, FAILURE_LOG_EVERY};
use crate::util::{Backoff, error_chain};

/// The `Content-Type` of every batch. Built once: a value given as a string is
/// checked and copied into a new allocation on every request.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The HTTP client batches are POSTed with, each POST bounded by `timeout`.
///
/// reqwest's defaults are kept on purpose. Most of a POST's CPU cost is in
/// reqwest's own layers, and no builder option removes it: the redirect layer
/// is always there and turns the request URI back into a `Url` once on the way
/// out and once on the way back, whatever `redirect::Policy` says. The options
/// that would save a little more change what goes out: `no_proxy` ignores the
/// proxy variables, and `retry(never())` stops the immediate resend of a request
/// an HTTP/2 server refused (`REFUSED_STREAM`) or dropped in a graceful shutdown.
pub(super) fn http_client(timeout: Duration) -> Result<reqwest::Client, EventError> {
    crate::util::ensure_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(EventError::HttpClient)
}

/// Sends batches; shared by the send tasks.
#[derive(Debug)]
pub(super) struct Poster {
    pub(super) http: reqwest::Client,
    pub(super) url: reqwest::Url,
    pub(super) max_attempts: u32,
    pub(super) backoff: Backoff,
    pub(super) stats: Arc<EventStats>,
}

/// Why one POST did not succeed.
struct PostFailure {
    retryable: bool,
    detail: String,
}

impl Poster {
    /// Sends one batch with bounded retries, then books the outcome.
    pub(super) async fn deliver(self: Arc<Self>, batch: Sealed) {
        let Sealed { body, events } = batch;
        let events = events as u64;
        let mut attempt = 1;
        loop {
            match self.post(body.clone()).await {
                Ok(()) => {
                    self.stats.sent.fetch_add(events, Ordering::Relaxed);
                    self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(failure) if failure.retryable && attempt < self.max_attempts => {
                    let delay = self.backoff.delay(attempt - 1);
                    tracing::debug!(attempt, ?delay, error = %failure.detail, "retrying event batch");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(failure) => {
                    self.book_failure(events, attempt, &failure.detail);
                    return;
                }
            }
        }
    }

    async fn post(&self, body: Bytes) -> Result<(), PostFailure> {
        let response = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, JSON)
            .body(body)
            .send()
            .await
            .map_err(|err| PostFailure {
                // Builder errors repeat identically; anything on the wire may not.
                retryable: !err.is_builder(),
                detail: error_chain(&err),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(PostFailure {
            // Other 4xx mean the request itself is wrong; sending it again won't help.
            retryable: status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT,
            detail: format!("HTTP {status}"),
        })
    }

    fn book_failure(&self, events: u64, attempts: u32, detail: &str) {
        self.stats.failed.fetch_add(events, Ordering::Relaxed);
        let before = self.stats.batches_failed.fetch_add(1, Ordering::Relaxed);
        if before.is_multiple_of(FAILURE_LOG_EVERY) {
            tracing::warn!(
                url = %self.url,
                events,
                attempts,
                failed_batches = before + 1,
                "event batch not delivered: {detail} (logged once per {FAILURE_LOG_EVERY} failed batches)"
            );
        }
    }
}

/// The batch retry schedule: `first`, doubled for each further retry. The cap is
/// where the doubling always stopped (`first × (2^32 - 1)`), far beyond any
/// configured attempt count.
pub(super) fn retry_backoff(first: Duration) -> Backoff {
    Backoff::new(first, first.saturating_mul(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles() {
        let base = Duration::from_millis(100);
        let backoff = retry_backoff(base);
        assert_eq!(backoff.delay(0), base);
        assert_eq!(backoff.delay(1), base * 2);
        assert_eq!(backoff.delay(2), base * 4);
        assert_eq!(backoff.delay(99), base.saturating_mul(u32::MAX));
    }
}
