//! The Redis side, shared by every subcommand, and the only place Redis commands
//! are written: connections built from the settings ([`Connector`]), the one retry
//! policy, version detection, and typed operations with exact argument builders.
//!
//! - `connect`: where to connect (auth priority, TLS, database) and the
//!   [`Connector`] that opens every connection and counts reconnects;
//! - `entries`: XADD / XREAD / XRANGE / XREVRANGE / XLEN / XTRIM and entry decoders;
//! - `groups`: XGROUP / XREADGROUP / XACK / XINFO GROUPS and CONSUMERS;
//! - `pending`: XPENDING / XAUTOCLAIM / XCLAIM and dead-lettering;
//! - `scan`: SCAN for streams and the pipelined overview of many streams;
//! - `profiles`: GET / SET of user profiles in upstream's key and JSON layout;
//! - `segments`: GET / SET / reset of cached ODP segments in upstream's layout;
//! - `pubsub`: PUBLISH pipelines and PSUBSCRIBE;
//! - `error`, `retry`, `version`, `id`, `value`: error causes, retry policy, INFO
//!   parsing, stream ids, reply decoding helpers.
//!
//! This module depends only on [`crate::config`] (and [`crate::util`]); it never
//! prints (callers decide how to show results) and never lets a password reach a
//! log line or an error. Every operation names a single key, so a cluster
//! connection can replace the multiplexed one later without touching callers.

mod connect;
mod entries;
mod error;
mod groups;
mod id;
mod pending;
mod profiles;
mod pubsub;
mod retry;
mod scan;
mod segments;
/// The integration tests' Redis harness, shared with the unit tests that need a
/// real server (one way to start a test Redis).
#[cfg(test)]
#[allow(clippy::unwrap_used, dead_code)]
#[path = "../../tests/harness/redis_server.rs"]
pub(crate) mod testing;
mod value;
mod version;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::util::lock;

use connect::Conn;
pub use connect::{Connector, Target};
pub use entries::{
    DataEntry, NID_FIELD, NewEntry, Retention, StreamEntry, StreamInfo, TrimTo, WaitFor,
    range_data, read_data, wait_cmd, xadd_pipeline, xrange_cmd, xread_cmd, xrevrange_cmd,
};
pub use error::Error;
pub use groups::{ConsumerInfo, GroupInfo, IdleGroup, group_idle_ms, xreadgroup_cmd};
pub use id::StreamId;
pub use pending::{AutoClaim, PendingEntry, PendingQuery, PendingSummary};
pub use profiles::{
    Profile, ProfileStore, decode_profile, encode_profile, profile_get_cmd, profile_set_cmd,
};
pub use pubsub::publish_pipeline;
pub use retry::{RetryPolicy, is_retryable};
pub use scan::StreamOverview;
pub use segments::{SegmentStore, segments_get_cmd, segments_key, segments_set_cmd};
pub use version::{Backend, Detection, RedisVersion, choose_backend, parse_info_version};

/// The stream key upstream Agents (and `agentctl serve`) use for an SDK key.
pub fn stream_key(sdk_key: &str) -> String {
    format!("{STREAM_PREFIX}{sdk_key}")
}

/// The SDK key of a notification stream key, when it follows the naming scheme.
pub fn sdk_key_of(stream: &str) -> Option<&str> {
    stream
        .strip_prefix(STREAM_PREFIX)
        .filter(|key| !key.is_empty())
}

const STREAM_PREFIX: &str = "stream:optimizely-sync-";

/// Entries fetched per XRANGE / XPENDING page when counting or listing everything.
const RANGE_PAGE: u64 = 1000;

/// A connection to one Redis, with the retry policy applied to every command.
///
/// Commands go through one multiplexed connection (cheap to clone, pipelining
/// concurrent callers): to the one server, to the primary a sentinel set names,
/// or a cluster connection routing each key to its slot's primary. When it
/// breaks, the next attempt reconnects (asking the sentinels again). Stores are
/// made by a [`Connector`].
pub struct Store {
    connector: Connector,
    conn: Mutex<Option<Conn>>,
    /// Set when a broken connection was dropped: the next one opened is a reconnect.
    broken: AtomicBool,
    /// Reconnects of this store (the connector counts those of all its stores).
    reconnects: AtomicU64,
}

impl Store {
    fn new(connector: Connector) -> Self {
        Self {
            connector,
            conn: Mutex::new(None),
            broken: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Opens the connection now, retrying refused/reset/timed-out connections per
    /// the policy.
    async fn connect(&self) -> Result<(), Error> {
        self.policy()
            .run(|| self.connection())
            .await
            .map_err(|source| Error::Connect {
                addr: self.address().to_owned(),
                source,
            })?;
        Ok(())
    }

    /// The retry policy every command runs with.
    pub fn policy(&self) -> RetryPolicy {
        self.connector.policy()
    }

    /// How many times this store's connection was re-opened after breaking (also
    /// inside a command's retries): a caller that must notice a change of server
    /// (a fail-over) compares it before and after its commands.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// The address being used, safe to print.
    pub fn address(&self) -> &str {
        self.connector.address()
    }

    /// The current connection, opening one when there is none (or it broke).
    async fn connection(&self) -> redis::RedisResult<Conn> {
        if let Some(conn) = lock(&self.conn).clone() {
            return Ok(conn);
        }
        let conn = self.connector.connection().await?;
        if self.broken.swap(false, Ordering::Relaxed) {
            self.connector.count_reconnect();
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        *lock(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one command with the retry policy; a dropped connection is replaced
    /// before the next attempt.
    ///
    /// # Errors
    ///
    /// [`Error::Command`] naming the command when Redis answers with an error that
    /// is not retryable or retries are exhausted.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let name = command_name(cmd);
        self.run(
            &name,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Sends a pipeline in one round trip, with the same retry rules as [`Store::query`].
    ///
    /// # Errors
    ///
    /// As [`Store::query`]; an error reply to any command fails the whole pipeline.
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, Error> {
        self.run("pipeline", |mut conn| async move {
            pipe.query_async(&mut conn).await
        })
        .await
    }

    /// Runs one command once, without the retry policy, for callers that run their
    /// own loop (the hub's probe and version detection). A broken connection is
    /// still replaced before the next call.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], after the one attempt.
    pub async fn query_once<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let name = command_name(cmd);
        self.attempt(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
            .map_err(|err| Error::command(&name, self.address(), err))
    }

    /// One `PING`, without the retry policy: whether Redis answers right now (the
    /// readiness probe).
    ///
    /// # Errors
    ///
    /// As [`Store::query_once`].
    pub async fn ping(&self) -> Result<(), Error> {
        self.query_once::<String>(&redis::cmd("PING"))
            .await
            .map(drop)
    }

    /// Sends a pipeline once, without the retry policy, and gives every command's
    /// own reply: an error reply to one command does not hide the others' results
    /// (commands marked `ignore` are left out). For a publisher that must know
    /// exactly which commands Redis executed, and never resend one that it did.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], when no reply at all came back (connection refused or
    /// lost, timeout): then any of the commands may or may not have run.
    pub async fn pipeline_replies(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<redis::RedisResult<redis::Value>>, Error> {
        let mut pipe = pipe.clone();
        pipe.ignore_errors();
        let pipe = &pipe;
        self.attempt(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
            .map_err(|err| Error::command("pipeline", self.address(), err))
    }

    async fn run<T, F, Fut>(&self, name: &str, op: F) -> Result<T, Error>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.policy()
            .run(|| self.attempt(&op))
            .await
            .map_err(|err| Error::command(name, self.address(), err))
    }

    /// One attempt of `op` on the current connection; a broken connection is
    /// dropped so the next attempt opens a new one, and so is one to a server
    /// that turned replica (`READONLY`: a fail-over demoted it), so the next
    /// attempt finds the new primary.
    async fn attempt<T, F, Fut>(&self, op: F) -> redis::RedisResult<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let result = op(self.connection().await?).await;
        if let Err(err) = &result
            && (err.is_unrecoverable_error()
                || err.is_connection_dropped()
                || err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly))
        {
            *lock(&self.conn) = None;
            self.broken.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Reads the server version with `INFO server`: on a cluster, of every node
    /// (primaries and replicas), the lowest, so no feature is used that one node
    /// lacks.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`] when a reply has no `redis_version`.
    pub async fn version(&self) -> Result<RedisVersion, Error> {
        let cmd = &info_server();
        let replies = self
            .run(
                "INFO",
                |mut conn| async move { conn.on_every_node(cmd).await },
            )
            .await?;
        lowest_version(replies)
    }

    /// [`Store::version`] tried once, without the retry policy: one attempt of a
    /// detection loop that does its own back-off (see [`Error::detection`]).
    ///
    /// # Errors
    ///
    /// As [`Store::version`].
    pub async fn detect_version(&self) -> Result<RedisVersion, Error> {
        let cmd = &info_server();
        let replies = self
            .attempt(|mut conn| async move { conn.on_every_node(cmd).await })
            .await
            .map_err(|err| Error::command("INFO", self.address(), err))?;
        lowest_version(replies)
    }

    /// The primaries holding keys, each to be scanned on its own: `None` alone for
    /// one server (or a sentinel set's primary).
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    async fn primaries(&self) -> Result<Vec<Option<String>>, Error> {
        self.run("PING", |mut conn| async move { conn.primaries().await })
            .await
    }

    /// Runs one command with the retry policy on `node` (one of
    /// [`Store::primaries`]).
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    async fn query_on<T: redis::FromRedisValue>(
        &self,
        node: Option<&str>,
        cmd: &redis::Cmd,
    ) -> Result<T, Error> {
        let name = command_name(cmd);
        let value = self
            .run(
                &name,
                |mut conn| async move { conn.on_node(node, cmd).await },
            )
            .await?;
        redis::from_redis_value(value)
            .map_err(|err| Error::command(&name, self.address(), err.into()))
    }
}

/// `INFO server`.
fn info_server() -> redis::Cmd {
    let mut cmd = redis::cmd("INFO");
    cmd.arg("server");
    cmd
}

/// The lowest version of the `INFO server` replies of every node.
fn lowest_version(replies: Vec<redis::Value>) -> Result<RedisVersion, Error> {
    let mut lowest: Option<RedisVersion> = None;
    for reply in replies {
        let info: String = redis::from_redis_value(reply).map_err(|err| Error::Decode {
            what: "INFO server".to_owned(),
            reason: err.to_string(),
        })?;
        let version = version_of(&info)?;
        lowest = Some(lowest.map_or(version, |l| l.min(version)));
    }
    lowest.ok_or_else(|| Error::Decode {
        what: "INFO server".to_owned(),
        reason: "no node answered".to_owned(),
    })
}

/// The version in an `INFO server` reply.
fn version_of(info: &str) -> Result<RedisVersion, Error> {
    parse_info_version(info).ok_or_else(|| Error::Decode {
        what: "INFO server".to_owned(),
        reason: "no redis_version field".to_owned(),
    })
}

/// The command's name for error messages (never its arguments, which may hold data).
fn command_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .next()
        .and_then(|arg| match arg {
            redis::Arg::Simple(bytes) => {
                std::str::from_utf8(bytes).ok().map(str::to_ascii_uppercase)
            }
            _ => None,
        })
        .unwrap_or_else(|| "command".to_owned())
}

/// A command's arguments as text, for tests asserting exact argument vectors.
#[cfg(test)]
fn args(cmd: &redis::Cmd) -> Vec<String> {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            _ => "<cursor>".to_owned(),
        })
        .collect()
}

/// The arguments of each command of a pipeline, as [`args`].
#[cfg(test)]
fn pipe_args(pipe: &redis::Pipeline) -> Vec<Vec<String>> {
    pipe.cmd_iter().map(args).collect()
}

/// A bulk string reply, for decoder tests.
#[cfg(test)]
fn bulk(s: &str) -> redis::Value {
    redis::Value::BulkString(s.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys() {
        assert_eq!(stream_key("abc"), "stream:optimizely-sync-abc");
        assert_eq!(sdk_key_of("stream:optimizely-sync-abc"), Some("abc"));
        assert_eq!(sdk_key_of("stream:other"), None);
    }
}
