//! The errors of the Redis layer: one variant per cause a caller can act on.

use redis::RedisError;

/// What went wrong talking to Redis. Messages name the address, the key or the
/// command, and never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configured host or URL is not a valid Redis address.
    #[error("invalid Redis address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given (password removed).
        addr: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// Redis could not be reached or refused the connection (auth included).
    #[error("cannot connect to Redis at {addr}: {}", describe(source))]
    Connect {
        /// The address tried.
        addr: String,
        /// The underlying error.
        source: RedisError,
    },
    /// A command failed (after the retries the policy allows, when retryable).
    #[error("Redis {command} failed at {addr}: {}", describe(source))]
    Command {
        /// The command name, e.g. `XPENDING`.
        command: String,
        /// The address used.
        addr: String,
        /// The underlying error.
        source: RedisError,
    },
    /// The key does not exist.
    #[error("stream {key:?} does not exist")]
    NoSuchStream {
        /// The key asked for.
        key: String,
    },
    /// The key exists but holds another type.
    #[error("key {key:?} is a {actual}, not a stream")]
    WrongType {
        /// The key asked for.
        key: String,
        /// The type Redis reports (`string`, `hash`, …).
        actual: String,
    },
    /// The stream has no such consumer group.
    #[error(
        "stream {key:?} has no consumer group {group:?} (groups: {})",
        list_or_none(existing)
    )]
    NoSuchGroup {
        /// The stream.
        key: String,
        /// The group asked for.
        group: String,
        /// The groups the stream does have.
        existing: Vec<String>,
    },
    /// A reply did not have the shape this version of agentctl understands.
    #[error("unexpected reply to {what}: {reason}")]
    Decode {
        /// The command or field being decoded.
        what: String,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// The Redis error code of a command Redis refused (`BUSYGROUP`, `NOGROUP`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Command { source, .. } => source.code(),
            _ => None,
        }
    }

    pub(crate) fn command(command: &str, addr: &str, source: RedisError) -> Self {
        if source.is_connection_refusal() || source.is_connection_dropped() || source.is_timeout() {
            return Self::Connect {
                addr: addr.to_owned(),
                source,
            };
        }
        Self::Command {
            command: command.to_owned(),
            addr: addr.to_owned(),
            source,
        }
    }

    /// Whether the cause is that Redis is unreachable (as opposed to a bad request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

/// The redis crate's message, without its debug decorations.
fn describe(err: &RedisError) -> String {
    let text = err.to_string();
    text.trim_end_matches('.').to_owned()
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
