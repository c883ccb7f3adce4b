//! The one retry policy: exponential back-off from `retry_delay`, doubling,
//! capped at `max_retry_delay`, at most `max_retries` retries, and only for
//! errors that can go away by themselves.

use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::config::RedisSettings;
use crate::util::Backoff;

/// The least pause between attempts of an unbounded retry loop.
const MIN_PAUSE: Duration = Duration::from_millis(10);

/// When and how often to retry a Redis operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
}

impl RetryPolicy {
    /// The policy configured in `synchronization.pubsub.redis`.
    pub fn from_settings(settings: &RedisSettings) -> Self {
        Self {
            initial: settings.retry_delay,
            max: settings.max_retry_delay,
            max_retries: settings.max_retries,
        }
    }

    /// The delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`,
    /// capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        Backoff::new(self.initial, self.max).delay(attempt.saturating_sub(1))
    }

    /// The pause before attempt `attempt` (1-based) of a loop that retries for as
    /// long as it takes (a publisher or reader waiting out an outage): the
    /// [`RetryPolicy::delay`], but never below 10 ms, so a zero `retry_delay`
    /// cannot spin.
    pub fn pause(&self, attempt: u32) -> Duration {
        self.delay(attempt).max(MIN_PAUSE)
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the
    /// retries are used up; returns the last error then.
    ///
    /// # Errors
    ///
    /// The last error `op` returned.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, RedisError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(err) if attempt < self.max_retries && is_retryable(&err) => {
                    attempt += 1;
                    let delay = self.delay(attempt);
                    tracing::debug!(attempt, ?delay, error = %err, "retrying Redis operation");
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// Whether an error may go away by itself: connection refused/reset/dropped,
/// timeouts, and the server states `LOADING`, `READONLY`, `CLUSTERDOWN`,
/// `TRYAGAIN`, `MASTERDOWN`, and a cluster's `MOVED`/`ASK` that outlasted the
/// redis crate's own redirect (a fail-over or resharding under way: the cluster
/// connection refreshes its slot map, and the next attempt goes to the new
/// owner). Authentication errors, wrong types, unknown commands
/// and `OOM` are not retried.
pub fn is_retryable(err: &RedisError) -> bool {
    if err.is_connection_refusal() || err.is_timeout() || err.is_connection_dropped() {
        return true;
    }
    matches!(
        err.kind(),
        ErrorKind::Io
            | ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_retries: 3,
        }
    }

    #[test]
    fn unbounded_loops_never_spin() {
        let zero = RetryPolicy {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            max_retries: 0,
        };
        assert_eq!(zero.pause(1), MIN_PAUSE);
        assert_eq!(policy().pause(2), policy().delay(2));
    }

    #[test]
    fn schedule_doubles_and_caps() {
        let p = policy();
        let delays: Vec<_> = (1..=8).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.delay(200), Duration::from_secs(5));
    }

    fn io_error(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::new(kind, "test"))
    }

    #[test]
    fn classification() {
        assert!(is_retryable(&io_error(
            std::io::ErrorKind::ConnectionRefused
        )));
        assert!(is_retryable(&io_error(std::io::ErrorKind::ConnectionReset)));
        assert!(is_retryable(&io_error(std::io::ErrorKind::BrokenPipe)));
        assert!(is_retryable(&io_error(std::io::ErrorKind::TimedOut)));
        let server = |kind| RedisError::from((ErrorKind::Server(kind), "test"));
        for kind in [
            ServerErrorKind::BusyLoading,
            ServerErrorKind::ReadOnly,
            ServerErrorKind::ClusterDown,
            ServerErrorKind::TryAgain,
            ServerErrorKind::MasterDown,
            ServerErrorKind::Moved,
            ServerErrorKind::Ask,
        ] {
            assert!(is_retryable(&server(kind)), "{kind:?}");
        }
        assert!(!is_retryable(&server(ServerErrorKind::ResponseError)));
        assert!(!is_retryable(&server(ServerErrorKind::NoPerm)));
        assert!(!is_retryable(&RedisError::from((
            ErrorKind::AuthenticationFailed,
            "auth"
        ))));
        assert!(!is_retryable(&RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "type"
        ))));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_with_backoff_then_gives_up() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = policy()
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(io_error(std::io::ErrorKind::ConnectionRefused)) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(started.elapsed(), Duration::from_millis(100 + 200 + 400));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = policy()
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(RedisError::from((
                        ErrorKind::AuthenticationFailed,
                        "bad password",
                    )))
                }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
