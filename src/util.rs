//! Small policies every long-lived layer shares, each written once: the wall clock
//! in milliseconds, locks that survive poisoning, capped exponential back-off, an
//! error and its causes on one line, the TLS provider set-up, base64 secrets, and
//! the hash map of the per-request lookups.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `HashMap` with foldhash's fast hasher (seeded at random per process), for the
/// maps every request looks up: the datafile's indexes by key and id, the projects
/// by SDK key, the notification channels. Their keys come from datafiles and
/// configuration, and a request only looks them up; SipHash cost about 150
/// instructions per lookup there.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `text` decoded as standard base64, padded or not (the auth settings' secrets:
/// upstream's generator pads them, its documentation's examples do not).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .ok()
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: callers keep
/// their data consistent between statements, so what a panic left behind is usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Read-locks an `RwLock`, recovering from poisoning as [`lock`] does.
pub fn read<T>(rwlock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    rwlock
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Write-locks an `RwLock`, recovering from poisoning as [`lock`] does.
pub fn write<T>(rwlock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    rwlock
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs ring as rustls's process-wide crypto provider unless one is installed:
/// reqwest is built without a bundled provider and panics without one. Call it
/// before building any HTTP client. Losing a race with another installer is fine.
pub fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `err` and its sources on one line (`outer: cause: root`): reqwest's and hyper's
/// own messages hide the cause, which is what an operator needs to read.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Capped exponential back-off: the pause before retry `n` (0-based) is
/// `initial × multiplier^n`, capped at `max`. One type for every retry loop, so
/// each states its numbers and none re-derives the formula.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The pause before the first retry.
    pub initial: Duration,
    /// Growth per retry; 2.0 doubles. Must be finite and `>= 0` (callers validate
    /// configured values); 0 means "no pause after the first".
    pub multiplier: f64,
    /// The longest pause, whatever the retry number.
    pub max: Duration,
}

impl Backoff {
    /// Doubling back-off from `initial`, capped at `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            multiplier: 2.0,
            max,
        }
    }

    /// The same back-off growing by `multiplier` per retry instead.
    #[must_use]
    pub const fn with_multiplier(self, multiplier: f64) -> Self {
        Backoff { multiplier, ..self }
    }

    /// The pause before retry `attempt + 1` (0-based `attempt`):
    /// `initial × multiplier^attempt`, capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        // In nanoseconds, so that whole multiples of whole nanoseconds stay exact.
        let nanos = self.initial.as_nanos() as f64 * self.multiplier.powi(exponent);
        // Overflow (infinity) and 0 × ∞ (NaN) both mean "very long": use the cap.
        if nanos.is_nan() || nanos >= self.max.as_nanos() as f64 {
            return self.max;
        }
        if nanos < u64::MAX as f64 {
            // Below the cap and below u64::MAX (and >= 0 for a valid multiplier).
            Duration::from_nanos(nanos.round() as u64)
        } else {
            Duration::try_from_secs_f64(nanos / 1e9).map_or(self.max, |d| d.min(self.max))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_the_multiplier_up_to_the_cap() {
        let doubling = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (0..6).map(|n| doubling.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(doubling.delay(u32::MAX), Duration::from_secs(1));
        let slower = doubling.with_multiplier(1.5);
        assert_eq!(slower.delay(1), Duration::from_millis(150));
        assert_eq!(slower.delay(2), Duration::from_millis(225));
    }

    #[test]
    fn backoff_edge_cases_use_the_cap_or_zero() {
        let max = Duration::from_secs(5);
        // 0 × ∞ is NaN: the cap.
        let zero = Backoff::new(Duration::ZERO, max).with_multiplier(f64::MAX);
        assert_eq!(zero.delay(0), Duration::ZERO);
        assert_eq!(zero.delay(10), max);
        let flat = Backoff::new(Duration::from_millis(7), max).with_multiplier(0.0);
        assert_eq!(flat.delay(0), Duration::from_millis(7));
        assert_eq!(flat.delay(3), Duration::ZERO);
        let uncapped = Backoff::new(Duration::from_secs(1), Duration::MAX);
        assert_eq!(uncapped.delay(40), Duration::from_secs(1 << 40));
        assert_eq!(uncapped.delay(u32::MAX), Duration::MAX);
    }

    #[test]
    fn error_chain_joins_the_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::other("root cause"));
        assert_eq!(error_chain(&err), "outer: root cause");
    }
}
