//! Which notification backend a Redis supports, decided from `INFO server`.

use std::fmt;

/// A Redis (or Valkey) server version as `INFO server` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisVersion {
    /// Major version: Streams need 5 or more.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Finds `redis_version:X.Y.Z` in an `INFO` reply.
pub fn parse_info_version(info: &str) -> Option<RedisVersion> {
    let value = info
        .lines()
        .find_map(|line| line.trim().strip_prefix("redis_version:"))?
        .trim();
    let mut parts = value.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next().flatten()?;
    Some(RedisVersion {
        major,
        minor: parts.next().flatten().unwrap_or(0),
        patch: parts.next().flatten().unwrap_or(0),
    })
}

/// The notification transport chosen for a Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Redis Streams (Redis >= 5): persistent, resumable.
    Streams,
    /// Redis Pub/Sub: fire-and-forget.
    PubSub,
}

/// What a failed version detection says about the Redis asked (issue 11 item 1):
/// only a definite answer may pick the Pub/Sub fallback for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Redis answered but refused `INFO` (e.g. `NOPERM`, a renamed command) or gave
    /// a reply without a version: a definite answer, so Pub/Sub as the seeds say.
    Refused,
    /// Redis refused the credentials (`WRONGPASS`, `NOAUTH`): not transient, but
    /// an operator can fix it without a restart; retried, and logged as an error.
    Auth,
    /// Redis could not be reached (refused, reset, timed out, TLS failed) or is not
    /// ready (`LOADING`, …): retried with the policy's back-off.
    Unreachable,
}

impl super::Error {
    /// How a failed [`super::Store::detect_version`] is to be treated; classified by
    /// the redis crate's error kinds, and by the reply code for the auth codes the
    /// crate has no kind for.
    pub fn detection(&self) -> Detection {
        let source = match self {
            Self::Decode { .. } => return Detection::Refused,
            Self::Connect { source, .. } | Self::Command { source, .. } => source,
            Self::InvalidAddress { .. } => return Detection::Unreachable,
            _ => return Detection::Refused,
        };
        if source.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(source.code(), Some("NOAUTH" | "WRONGPASS"))
        {
            Detection::Auth
        } else if super::is_retryable(source) {
            Detection::Unreachable
        } else if source.code().is_some() || source.kind() == redis::ErrorKind::UnexpectedReturnType
        {
            Detection::Refused
        } else {
            Detection::Unreachable
        }
    }
}

/// The first major version with Streams.
const STREAMS_MIN_MAJOR: u32 = 5;

/// Picks the backend from a version-detection result and logs the decision with
/// the lines operators know from the upstream Agent.
pub fn choose_backend<E: fmt::Display>(detected: Result<RedisVersion, E>) -> Backend {
    tracing::info!("Auto-detecting Redis version to choose best notification implementation...");
    match detected {
        Ok(version) if version.major >= STREAMS_MIN_MAJOR => {
            tracing::info!(
                redis_version = version.major,
                "Redis Streams supported - will use Streams for notifications"
            );
            Backend::Streams
        }
        Ok(version) => {
            tracing::info!(
                redis_version = version.major,
                min_required = STREAMS_MIN_MAJOR,
                "Redis Streams not supported - will use Pub/Sub for notifications"
            );
            Backend::PubSub
        }
        Err(error) => {
            tracing::warn!(
                error = %error,
                "Could not detect Redis version - will use Pub/Sub as safe fallback"
            );
            Backend::PubSub
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO_7: &str = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";

    #[test]
    fn only_a_definite_answer_is_a_refusal() {
        use super::super::Error;
        let command = |source: redis::RedisError| Error::Command {
            command: "INFO".into(),
            addr: "a".into(),
            source,
        };
        let io = |kind| redis::RedisError::from(std::io::Error::new(kind, "x"));
        let code = |code: &str| redis::make_extension_error(code.to_owned(), None);
        let cases = [
            (
                command(io(std::io::ErrorKind::ConnectionRefused)),
                Detection::Unreachable,
            ),
            (
                command(io(std::io::ErrorKind::TimedOut)),
                Detection::Unreachable,
            ),
            (
                command(redis::RedisError::from((
                    redis::ErrorKind::AuthenticationFailed,
                    "auth",
                ))),
                Detection::Auth,
            ),
            (command(code("WRONGPASS")), Detection::Auth),
            (command(code("NOAUTH")), Detection::Auth),
            (command(code("ERR")), Detection::Refused),
            (
                command(redis::RedisError::from((
                    redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm),
                    "no",
                ))),
                Detection::Refused,
            ),
            (
                command(redis::RedisError::from((
                    redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading),
                    "loading",
                ))),
                Detection::Unreachable,
            ),
            (
                Error::Decode {
                    what: "INFO".into(),
                    reason: "none".into(),
                },
                Detection::Refused,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.detection(), want, "{err}");
        }
    }

    #[test]
    fn parses_versions() {
        let v = parse_info_version(INFO_7).unwrap();
        assert_eq!(
            v,
            RedisVersion {
                major: 7,
                minor: 0,
                patch: 15
            }
        );
        assert_eq!(v.to_string(), "7.0.15");
        let rc = parse_info_version("redis_version:8.4.0-rc1\n").unwrap();
        assert_eq!((rc.major, rc.minor), (8, 4));
        assert_eq!(parse_info_version("redis_version:4.0.14").unwrap().major, 4);
        assert!(parse_info_version("# Server\nvalkey_version:8.0.1\n").is_none());
        assert!(parse_info_version("redis_version:abc").is_none());
    }

    #[test]
    fn picks_streams_from_five() {
        let v = |major| {
            Ok::<_, String>(RedisVersion {
                major,
                minor: 0,
                patch: 0,
            })
        };
        assert_eq!(choose_backend(v(5)), Backend::Streams);
        assert_eq!(choose_backend(v(7)), Backend::Streams);
        assert_eq!(choose_backend(v(4)), Backend::PubSub);
        assert_eq!(
            choose_backend(Err::<RedisVersion, _>("NOPERM")),
            Backend::PubSub
        );
    }
}
