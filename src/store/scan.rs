//! Stream discovery: SCAN for stream keys (never KEYS), with a TYPE check on
//! servers too old to filter by type, and the pipelined overview of many streams
//! (XINFO STREAM, XINFO GROUPS, MEMORY USAGE per key).

use redis::{Cmd, Pipeline, Value};

use super::entries::{StreamInfo, decode_stream_info};
use super::groups::{GroupInfo, decode_groups};
use super::{Error, RedisVersion, Store};

/// Streams examined per pipelined round trip by [`Store::stream_overviews`].
const OVERVIEW_BATCH: usize = 500;

/// One stream as `inspect streams` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOverview {
    /// The stream key.
    pub key: String,
    /// Its XINFO STREAM.
    pub info: StreamInfo,
    /// Its XINFO GROUPS.
    pub groups: Vec<GroupInfo>,
    /// MEMORY USAGE in bytes (`None` when the server does not permit it).
    pub memory_bytes: Option<u64>,
}

/// `XINFO STREAM key`, `XINFO GROUPS key`, `MEMORY USAGE key` per key, each reply
/// kept apart (an error answers one command, not the pipeline).
fn overview_pipeline(keys: &[String]) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for key in keys {
        pipe.cmd("XINFO").arg("STREAM").arg(key);
        pipe.cmd("XINFO").arg("GROUPS").arg(key);
        pipe.cmd("MEMORY").arg("USAGE").arg(key);
    }
    pipe
}

/// `SCAN cursor MATCH pattern COUNT n [TYPE stream]` (TYPE needs Redis >= 6).
pub fn scan_cmd(cursor: u64, pattern: &str, with_type: bool) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    if with_type {
        cmd.arg("TYPE").arg("stream");
    }
    cmd
}

/// Keys examined per SCAN step: large enough that 10,000 streams need few round trips.
const SCAN_COUNT: u64 = 1000;

impl Store {
    /// XINFO STREAM, XINFO GROUPS and MEMORY USAGE of each key, pipelined in
    /// batches. A key deleted (or retyped) since it was listed is left out.
    ///
    /// # Errors
    ///
    /// As [`Store::pipeline`], or [`Error::Decode`].
    pub async fn stream_overviews(&self, keys: &[String]) -> Result<Vec<StreamOverview>, Error> {
        let mut overviews = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(OVERVIEW_BATCH) {
            let replies: Vec<redis::RedisResult<Value>> =
                self.pipeline(&overview_pipeline(chunk)).await?;
            let mut replies = replies.into_iter();
            for key in chunk {
                let (Some(info), Some(groups), Some(memory)) =
                    (replies.next(), replies.next(), replies.next())
                else {
                    break;
                };
                let (Ok(info), Ok(groups)) = (info, groups) else {
                    continue;
                };
                overviews.push(StreamOverview {
                    key: key.clone(),
                    info: decode_stream_info(info)?,
                    groups: decode_groups(groups)?,
                    memory_bytes: memory
                        .ok()
                        .and_then(|v| redis::from_redis_value::<u64>(v).ok()),
                });
            }
        }
        Ok(overviews)
    }

    /// The stream keys matching `pattern`, sorted, found with SCAN (never KEYS)
    /// on every primary. With Redis >= 6 the server filters by type; before that,
    /// keys of other types are dropped after a TYPE check.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn scan_streams(
        &self,
        pattern: &str,
        version: RedisVersion,
    ) -> Result<Vec<String>, Error> {
        let streams = self.scan_streams_by_node(pattern, version).await?;
        Ok(streams.into_iter().map(|(key, _)| key).collect())
    }

    /// [`Store::scan_streams`], each key with the node holding it: its primary's
    /// `host:port` on a cluster (each primary is scanned on its own: SCAN sees
    /// only the keys of the node it runs on), else the address in use.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn scan_streams_by_node(
        &self,
        pattern: &str,
        version: RedisVersion,
    ) -> Result<Vec<(String, String)>, Error> {
        let with_type = version.major >= 6;
        let mut keys = Vec::new();
        for node in self.primaries().await? {
            let shown = node.clone().unwrap_or_else(|| self.address().to_owned());
            let mut cursor = 0u64;
            loop {
                let (next, batch): (u64, Vec<String>) = self
                    .query_on(node.as_deref(), &scan_cmd(cursor, pattern, with_type))
                    .await?;
                keys.extend(batch.into_iter().map(|key| (key, shown.clone())));
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        keys.sort();
        keys.dedup_by(|a, b| a.0 == b.0);
        if !with_type && !keys.is_empty() {
            let mut pipe = redis::pipe();
            for (key, _) in &keys {
                pipe.cmd("TYPE").arg(key);
            }
            let types: Vec<String> = self.pipeline(&pipe).await?;
            keys = keys
                .into_iter()
                .zip(types)
                .filter(|(_, t)| t == "stream")
                .map(|(k, _)| k)
                .collect();
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{args, pipe_args};
    use super::*;

    #[test]
    fn scan_arguments() {
        assert_eq!(
            args(&scan_cmd(0, "p*", true)),
            [
                "SCAN", "0", "MATCH", "p*", "COUNT", "1000", "TYPE", "stream"
            ]
        );
        assert_eq!(
            args(&scan_cmd(42, "p*", false)),
            ["SCAN", "42", "MATCH", "p*", "COUNT", "1000"]
        );
    }

    #[test]
    fn overview_arguments() {
        assert_eq!(
            pipe_args(&overview_pipeline(&["a".to_owned(), "b".to_owned()])),
            [
                ["XINFO", "STREAM", "a"],
                ["XINFO", "GROUPS", "a"],
                ["MEMORY", "USAGE", "a"],
                ["XINFO", "STREAM", "b"],
                ["XINFO", "GROUPS", "b"],
                ["MEMORY", "USAGE", "b"],
            ]
        );
    }
}
