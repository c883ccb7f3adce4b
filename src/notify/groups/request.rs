//! What a client asks a durable group subscription for (`?group=&consumer=&from=`),
//! why it can be refused, and the checks and defaults of its names and start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::StreamId;
use crate::util::now_ms;

/// Longest name of a group or consumer.
const MAX_NAME: usize = 64;

/// What a client asked for with `?group=NAME[&consumer=NAME][&from=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupRequest {
    /// The consumer group.
    pub group: String,
    /// The consumer name; `None` generates `consumer-<host>-<pid>-<unix ms>`.
    pub consumer: Option<String>,
    /// Where a group created by this request starts: `$` (new entries, the
    /// default), `0` (every retained entry) or an entry id. Ignored when the group
    /// exists.
    pub from: Option<String>,
    /// Longest a read may wait for new entries before [`super::GroupSubscription::next_batch`]
    /// returns empty (so the caller can send a keep-alive); `None` for the default.
    pub max_wait: Option<Duration>,
}

impl GroupRequest {
    /// A request for `group`, with a generated consumer name, starting a new group
    /// at new entries.
    pub fn new(group: impl Into<String>) -> Self {
        GroupRequest {
            group: group.into(),
            consumer: None,
            from: None,
            max_wait: None,
        }
    }

    /// Uses this consumer name (to get back its pending entries after a reconnect).
    #[must_use]
    pub fn consumer(mut self, consumer: Option<String>) -> Self {
        self.consumer = consumer;
        self
    }

    /// Where a group this request creates starts (`0`, `$` or an entry id).
    #[must_use]
    pub fn from(mut self, from: Option<String>) -> Self {
        self.from = from;
        self
    }

    /// Bounds how long one read waits for new entries.
    #[must_use]
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }
}

/// Why a group subscription cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The hub is not the Redis Streams one (memory, Pub/Sub).
    #[error(
        "durable groups need the Redis Streams hub (synchronization.notification.enable with Redis >= 5)"
    )]
    NeedsStreams,
    /// A group or consumer name breaks the naming rule.
    #[error(
        "invalid {what} {name:?}: names are 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'"
    )]
    InvalidName {
        /// `group` or `consumer`.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// `from` is not `0`, `$` or an entry id.
    #[error(
        "invalid from {0:?}: expected 0 (every retained entry), $ (new entries) or an entry id like 1700000000000-0"
    )]
    InvalidFrom(String),
    /// Creating the group would exceed `synchronization.pubsub.redis.max_groups`.
    #[error(
        "consumer group {group:?} cannot be created: stream {stream} already has {existing} \
         consumer groups, the most synchronization.pubsub.redis.max_groups ({max}) allows; \
         join an existing group, or have an operator delete idle ones \
         (agentctl claim --delete-idle-groups)"
    )]
    TooMany {
        /// The group asked for.
        group: String,
        /// The stream.
        stream: String,
        /// Groups the stream has now.
        existing: usize,
        /// The cap.
        max: usize,
    },
    /// Redis could not create or read the group.
    #[error("consumer group {group:?} is unavailable: {reason}")]
    Unavailable {
        /// The group.
        group: String,
        /// The Redis error.
        reason: String,
    },
}

impl GroupError {
    /// Whether the request itself is wrong (400) rather than refused by the group
    /// cap (409) or Redis failing (503).
    pub fn is_bad_request(&self) -> bool {
        !matches!(
            self,
            GroupError::Unavailable { .. } | GroupError::TooMany { .. }
        )
    }
}

/// Checks a group or consumer name: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
pub(super) fn validate_name(what: &'static str, name: &str) -> Result<(), GroupError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(GroupError::InvalidName {
            what,
            name: name.to_owned(),
        })
    }
}

/// The XGROUP CREATE start for `from`.
pub(super) fn start_id(from: Option<&str>) -> Result<String, GroupError> {
    match from.map(str::trim) {
        None | Some("") | Some("$") => Ok("$".to_owned()),
        Some("0") => Ok("0".to_owned()),
        Some(text) => text
            .parse::<StreamId>()
            .map(|id| id.to_string())
            .map_err(|_| GroupError::InvalidFrom(text.to_owned())),
    }
}

/// Upstream's consumer naming, `consumer-<host>-<pid>-<unix ms>`. The milliseconds
/// are made unique within the process (two connections in the same millisecond get
/// consecutive values), so generated names never collide here.
pub(super) fn generated_consumer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms();
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or_else(|last| last);
    let ms = now.max(previous.saturating_add(1));
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    let host = if host.is_empty() { "localhost" } else { &host };
    format!("consumer-{host}-{}-{ms}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert!(validate_name("group", "g-1_a.b:c").is_ok());
        assert!(validate_name("group", &"x".repeat(64)).is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65), "a/b"] {
            let err = validate_name("consumer", bad).unwrap_err();
            assert!(err.is_bad_request());
            assert!(err.to_string().contains("1 to 64 characters"), "{err}");
        }
        assert!(generated_consumer().starts_with("consumer-"));
        let (a, b) = (generated_consumer(), generated_consumer());
        assert_ne!(a, b);
        assert!(validate_name("consumer", &a).is_ok(), "{a}");
    }

    #[test]
    fn from_gives_the_group_start() {
        assert_eq!(start_id(None).unwrap(), "$");
        assert_eq!(start_id(Some("$")).unwrap(), "$");
        assert_eq!(start_id(Some("0")).unwrap(), "0");
        assert_eq!(start_id(Some("5-1")).unwrap(), "5-1");
        assert_eq!(start_id(Some("7")).unwrap(), "7-0");
        assert!(matches!(
            start_id(Some("x")),
            Err(GroupError::InvalidFrom(_))
        ));
    }
}
