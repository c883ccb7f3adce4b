//! Stream entries: the entry and XINFO STREAM types, the lenient readers of the
//! `data` field used by the notification hubs, the strict decoders used by the
//! operator commands, and XADD / XREAD / XLEN / XRANGE / XREVRANGE / XTRIM / TYPE /
//! TIME.

use std::collections::BTreeSet;
use std::time::Duration;

use redis::{Cmd, Pipeline, Value};

use crate::config::RedisSettings;

use super::value::{Fields, array, decode_error, id, text};
use super::{Error, RANGE_PAGE, Store, StreamId};

/// One stream entry: its id and its field/value pairs in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry id.
    pub id: StreamId,
    /// Field/value pairs (values decoded as UTF-8, lossily).
    pub fields: Vec<(String, String)>,
}

/// XINFO STREAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Number of entries (XLEN).
    pub length: u64,
    /// Radix tree keys (macro nodes).
    pub radix_tree_keys: u64,
    /// Radix tree nodes.
    pub radix_tree_nodes: u64,
    /// The id of the newest entry ever added.
    pub last_generated_id: StreamId,
    /// Highest id deleted by XDEL/XTRIM (Redis >= 7).
    pub max_deleted_entry_id: Option<StreamId>,
    /// Entries ever added (Redis >= 7).
    pub entries_added: Option<u64>,
    /// First entry id recorded (Redis >= 7).
    pub recorded_first_entry_id: Option<StreamId>,
    /// Number of consumer groups.
    pub groups: u64,
    /// Oldest entry, when the stream is not empty.
    pub first_entry: Option<StreamEntry>,
    /// Newest entry, when the stream is not empty.
    pub last_entry: Option<StreamEntry>,
}

/// What XTRIM keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    /// Keep the newest N entries.
    MaxLen(u64),
    /// Remove entries with an id lower than this.
    MinId(StreamId),
}

/// `XTRIM key MAXLEN|MINID =|~ threshold`.
pub fn xtrim_cmd(key: &str, to: TrimTo, exact: bool) -> Cmd {
    let mut cmd = redis::cmd("XTRIM");
    cmd.arg(key);
    let op = if exact { "=" } else { "~" };
    match to {
        TrimTo::MaxLen(n) => cmd.arg("MAXLEN").arg(op).arg(n),
        TrimTo::MinId(id) => cmd.arg("MINID").arg(op).arg(id.to_string()),
    };
    cmd
}

/// `XRANGE key start end COUNT n` (`start`/`end` are ids, `-`/`+`, or `(id` for an
/// exclusive bound).
pub fn xrange_cmd(key: &str, start: &str, end: &str, count: u64) -> Cmd {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(key).arg(start).arg(end).arg("COUNT").arg(count);
    cmd
}

/// `XREVRANGE key end start COUNT n`: the newest entries first.
pub fn xrevrange_cmd(key: &str, end: &str, start: &str, count: u64) -> Cmd {
    let mut cmd = redis::cmd("XREVRANGE");
    cmd.arg(key).arg(end).arg(start).arg("COUNT").arg(count);
    cmd
}

/// `XREAD COUNT n BLOCK ms STREAMS key id`: the entries after `after`, waiting up
/// to `block_ms` for one. The connection's response timeout must exceed the block.
pub fn xread_cmd(key: &str, after: StreamId, count: u64, block_ms: u64) -> Cmd {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(block_ms)
        .arg("STREAMS")
        .arg(key)
        .arg(after.to_text());
    cmd
}

/// What every notification XADD carries to bound its stream: `max_len` and
/// `max_age` of `synchronization.pubsub.redis`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Keep about this many entries (`MAXLEN ~`); 0 for no length bound.
    pub max_len: usize,
    /// Drop entries older than this (`MINID ~`); zero for no age bound.
    pub max_age: Duration,
}

impl Retention {
    /// The retention the settings ask for.
    pub fn from_settings(settings: &RedisSettings) -> Self {
        Retention {
            max_len: settings.max_len,
            max_age: settings.max_age,
        }
    }
}

/// What a publisher waits for after each batch of XADDs (`WAIT`): `replicas`
/// replicas acknowledging the writes, for at most `timeout`
/// (`synchronization.pubsub.redis.wait_replicas` and `wait_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// Replicas that should acknowledge each batch (at least 1).
    pub replicas: u32,
    /// Longest wait for them (more than zero: `WAIT n 0` would block forever).
    pub timeout: Duration,
}

impl WaitFor {
    /// What the settings ask for; `None` when `wait_replicas` is 0 (off).
    pub fn from_settings(settings: &RedisSettings) -> Option<Self> {
        (settings.wait_replicas > 0).then(|| WaitFor {
            replicas: settings.wait_replicas,
            timeout: settings.wait_timeout.max(Duration::from_millis(1)),
        })
    }
}

/// `WAIT replicas timeout-ms`: replies with how many replicas acknowledged every
/// write this connection made before it. Ends a pipeline of writes; on a cluster
/// each primary's part of the pipeline ends with its own (the reply is the
/// fewest any primary got).
pub fn wait_cmd(wait: WaitFor) -> Cmd {
    let timeout = u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(wait.replicas).arg(timeout.max(1));
    cmd
}

/// One entry to append with [`xadd_pipeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The stream key.
    pub key: String,
    /// The `data` field (the notification envelope).
    pub data: String,
    /// The publisher's id of the notification, stored as field [`NID_FIELD`] so a
    /// resend after an ambiguous failure can tell whether it already landed.
    /// Readers that only read `data` (upstream Agents) ignore it.
    pub nid: Option<String>,
}

/// The entry field holding the publisher's notification id ([`NewEntry::nid`]).
pub const NID_FIELD: &str = "nid";

/// The pipeline appending `entries` as upstream-shaped entries (`data`, then
/// `timestamp` = unix seconds, then `nid` when given), bounded by `retention` at
/// `now_ms`: `MAXLEN ~` when `max_len` is set, else `MINID ~` when `max_age` is;
/// with both, age is one ignored `XTRIM … MINID ~` per key and batch. Only the
/// XADDs have replies, one per entry, in order.
pub fn xadd_pipeline(
    retention: Retention,
    now_ms: u64,
    entries: impl IntoIterator<Item = NewEntry>,
) -> Pipeline {
    let seconds = now_ms / 1000;
    let min_id = (!retention.max_age.is_zero()).then(|| {
        let age = u64::try_from(retention.max_age.as_millis()).unwrap_or(u64::MAX);
        format!("{}-0", now_ms.saturating_sub(age))
    });
    let mut pipe = redis::pipe();
    let mut trimmed: Vec<String> = Vec::new();
    for NewEntry { key, data, nid } in entries {
        let cmd = pipe.cmd("XADD").arg(&key);
        if retention.max_len > 0 {
            cmd.arg("MAXLEN").arg("~").arg(retention.max_len);
        } else if let Some(min_id) = &min_id {
            cmd.arg("MINID").arg("~").arg(min_id);
        }
        cmd.arg("*")
            .arg("data")
            .arg(data)
            .arg("timestamp")
            .arg(seconds);
        if let Some(nid) = nid {
            cmd.arg(NID_FIELD).arg(nid);
        }
        if retention.max_len > 0
            && let Some(min_id) = &min_id
            && !trimmed.contains(&key)
        {
            pipe.cmd("XTRIM")
                .arg(&key)
                .arg("MINID")
                .arg("~")
                .arg(min_id)
                .ignore();
            trimmed.push(key);
        }
    }
    pipe
}

/// One `XRANGE key id id COUNT 1` per id: each reply is empty unless the entry
/// exists.
fn exists_pipeline(key: &str, ids: &[StreamId]) -> Pipeline {
    let mut pipe = redis::pipe();
    for id in ids {
        let id = id.to_string();
        pipe.add_command(xrange_cmd(key, &id, &id, 1));
    }
    pipe
}

/// One entry as the notification readers take it: its id and its `data` field, not
/// copied. The field is `Some(None)` when the entry has no `data`, and the whole is
/// `None` when the entry was deleted while pending (XREADGROUP answers nil fields).
pub type DataEntry<'a> = (StreamId, Option<Option<&'a [u8]>>);

/// The entries of an XRANGE / XREVRANGE reply (RESP2 or RESP3), lenient: what is not
/// an entry with a readable id is left out.
pub fn range_data(value: &Value) -> Vec<DataEntry<'_>> {
    range_field(value, b"data")
}

/// The entries of an XRANGE / XREVRANGE reply with the value of `field`, as
/// [`range_data`] gives `data`.
fn range_field<'a>(value: &'a Value, field: &[u8]) -> Vec<DataEntry<'a>> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| field_entry(item, field))
        .collect()
}

/// The entries of every stream of an XREAD / XREADGROUP reply (RESP2 array of
/// `[key, entries]` or RESP3 map), as [`range_data`].
pub fn read_data(value: &Value) -> Vec<DataEntry<'_>> {
    match value {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) => pair.get(1).map(range_data),
                _ => None,
            })
            .flatten()
            .collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(_, v)| range_data(v)).collect(),
        _ => Vec::new(),
    }
}

fn bulk_bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        _ => None,
    }
}

fn field_entry<'a>(item: &'a Value, field: &[u8]) -> Option<DataEntry<'a>> {
    let Value::Array(parts) = item else {
        return None;
    };
    let id = id("stream entry", parts.first()?).ok()?;
    let is_data = |k: &Value| matches!(k, Value::BulkString(k) if k == field);
    let data = match parts.get(1) {
        Some(Value::Array(fields)) => Some(
            fields
                .chunks(2)
                .find(|pair| is_data(&pair[0]))
                .and_then(|pair| pair.get(1).and_then(bulk_bytes)),
        ),
        Some(Value::Map(fields)) => Some(
            fields
                .iter()
                .find(|(k, _)| is_data(k))
                .and_then(|(_, v)| bulk_bytes(v)),
        ),
        _ => None,
    };
    Some((id, data))
}

pub(crate) fn decode_entry(what: &str, value: Value) -> Result<StreamEntry, Error> {
    let mut parts = array(what, value)?.into_iter();
    let (Some(raw_id), Some(raw_fields)) = (parts.next(), parts.next()) else {
        return Err(decode_error(what, "expected [id, fields]".to_owned()));
    };
    let id = id(what, &raw_id)?;
    let flat = match raw_fields {
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => array(what, other)?,
    };
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut iter = flat.into_iter();
    while let (Some(name), Some(value)) = (iter.next(), iter.next()) {
        let name =
            text(&name).ok_or_else(|| decode_error(what, "field name is not text".to_owned()))?;
        fields.push((name, text(&value).unwrap_or_default()));
    }
    Ok(StreamEntry { id, fields })
}

pub(super) fn decode_entries(what: &str, value: Value) -> Result<Vec<StreamEntry>, Error> {
    array(what, value)?
        .into_iter()
        // XCLAIM on Redis 6 returns nil for entries deleted while pending.
        .filter(|v| !matches!(v, Value::Nil))
        .map(|v| decode_entry(what, v))
        .collect()
}

/// Decodes an XINFO STREAM reply.
pub(crate) fn decode_stream_info(value: Value) -> Result<StreamInfo, Error> {
    const WHAT: &str = "XINFO STREAM";
    let mut f = Fields::decode(WHAT, value)?;
    let entry = |v: Option<Value>| match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => decode_entry(WHAT, v).map(Some),
    };
    let first_entry = entry(f.take("first-entry"))?;
    let last_entry = entry(f.take("last-entry"))?;
    Ok(StreamInfo {
        length: f.count("length")?,
        radix_tree_keys: f.opt_count("radix-tree-keys")?.unwrap_or(0),
        radix_tree_nodes: f.opt_count("radix-tree-nodes")?.unwrap_or(0),
        last_generated_id: f.opt_id("last-generated-id")?.unwrap_or(StreamId::ZERO),
        max_deleted_entry_id: f.opt_id("max-deleted-entry-id")?,
        entries_added: f.opt_count("entries-added")?,
        recorded_first_entry_id: f.opt_id("recorded-first-entry-id")?,
        groups: f.opt_count("groups")?.unwrap_or(0),
        first_entry,
        last_entry,
    })
}

impl Store {
    /// Redis's own clock in milliseconds (`TIME`), so ages agree with entry ids.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn server_time_ms(&self) -> Result<u64, Error> {
        let (secs, micros): (u64, u64) = self.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// Fails unless `key` exists and is a stream.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchStream`], [`Error::WrongType`], or a Redis error.
    pub async fn require_stream(&self, key: &str) -> Result<(), Error> {
        let kind: String = self.query(redis::cmd("TYPE").arg(key)).await?;
        match kind.as_str() {
            "stream" => Ok(()),
            "none" => Err(Error::NoSuchStream {
                key: key.to_owned(),
            }),
            _ => Err(Error::WrongType {
                key: key.to_owned(),
                actual: kind,
            }),
        }
    }

    /// XLEN.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn stream_len(&self, key: &str) -> Result<u64, Error> {
        self.query(redis::cmd("XLEN").arg(key)).await
    }

    /// XINFO STREAM.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn stream_info(&self, key: &str) -> Result<StreamInfo, Error> {
        decode_stream_info(
            self.query(redis::cmd("XINFO").arg("STREAM").arg(key))
                .await?,
        )
    }

    /// What a reader that delivered up to `id` finds after its connection broke or
    /// was re-opened (a fail-over may have lost writes): the newest entry at or
    /// before `id`, and XINFO STREAM (`None` when it fails: no such stream). One
    /// round trip, without the retry policy (the reader retries).
    ///
    /// # Errors
    ///
    /// As [`Store::pipeline_replies`], or [`Error::Command`] when the XREVRANGE
    /// is refused, or [`Error::Decode`].
    pub async fn kept_through(
        &self,
        key: &str,
        id: StreamId,
    ) -> Result<(Option<StreamId>, Option<StreamInfo>), Error> {
        let mut pipe = redis::pipe();
        pipe.add_command(xrevrange_cmd(key, &id.to_string(), "-", 1));
        pipe.cmd("XINFO").arg("STREAM").arg(key);
        let mut replies = self.pipeline_replies(&pipe).await?.into_iter();
        let newest = match replies.next() {
            Some(Ok(value)) => range_data(&value).first().map(|(id, _)| *id),
            Some(Err(err)) => return Err(Error::command("XREVRANGE", self.address(), err)),
            None => None,
        };
        let info = match replies.next() {
            Some(Ok(value)) => Some(decode_stream_info(value)?),
            _ => None,
        };
        Ok((newest, info))
    }

    /// The ids among `ids` that still exist in the stream, in one round trip.
    ///
    /// # Errors
    ///
    /// As [`Store::pipeline`].
    pub async fn existing_ids(
        &self,
        key: &str,
        ids: &[StreamId],
    ) -> Result<BTreeSet<StreamId>, Error> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let found: Vec<Vec<Value>> = self.pipeline(&exists_pipeline(key, ids)).await?;
        Ok(ids
            .iter()
            .zip(found)
            .filter(|(_, hits)| !hits.is_empty())
            .map(|(id, _)| *id)
            .collect())
    }

    /// XRANGE with an exclusive or inclusive start.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn range(
        &self,
        key: &str,
        start: &str,
        end: &str,
        count: u64,
    ) -> Result<Vec<StreamEntry>, Error> {
        let reply = self.query(&xrange_cmd(key, start, end, count)).await?;
        decode_entries("XRANGE", reply)
    }

    /// The oldest entry with an id greater than `after`.
    ///
    /// # Errors
    ///
    /// As [`Store::range`].
    pub async fn first_after(
        &self,
        key: &str,
        after: StreamId,
    ) -> Result<Option<StreamEntry>, Error> {
        Ok(self
            .range(key, &format!("({after}"), "+", 1)
            .await?
            .into_iter()
            .next())
    }

    /// Counts the entries with `after < id < before` (either bound optional) by
    /// paging through XRANGE. Linear in the entries counted.
    ///
    /// # Errors
    ///
    /// As [`Store::range`].
    pub async fn count_between(
        &self,
        key: &str,
        after: Option<StreamId>,
        before: Option<StreamId>,
    ) -> Result<u64, Error> {
        let end = match before {
            Some(before) => format!("({before}"),
            None => "+".to_owned(),
        };
        let mut start = match after {
            Some(after) => format!("({after}"),
            None => "-".to_owned(),
        };
        let mut counted = 0;
        loop {
            let reply = self
                .query(&xrange_cmd(key, &start, &end, RANGE_PAGE))
                .await?;
            let items = array("XRANGE", reply)?;
            counted += items.len() as u64;
            if (items.len() as u64) < RANGE_PAGE {
                return Ok(counted);
            }
            let Some(last) = items.into_iter().last() else {
                return Ok(counted);
            };
            let last = decode_entry("XRANGE", last)?.id;
            start = format!("({last}");
        }
    }

    /// The id of the `n`-th newest entry (the first one MAXLEN n keeps).
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn nth_newest_id(&self, key: &str, n: u64) -> Result<Option<StreamId>, Error> {
        if n == 0 {
            return Ok(None);
        }
        let reply = self.query(&xrevrange_cmd(key, "+", "-", n)).await?;
        let entries = decode_entries("XREVRANGE", reply)?;
        Ok(if (entries.len() as u64) < n {
            None
        } else {
            entries.last().map(|e| e.id)
        })
    }

    /// Which of the `wanted` values of `field` occur in the entries of `key` with an
    /// id of at least `since`, scanning forward at most `cap` entries. The flag says
    /// whether the scan reached the end of the stream (or found everything): when
    /// it did not, a value not found may still be there.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn find_field_values(
        &self,
        key: &str,
        since: StreamId,
        field: &str,
        wanted: &BTreeSet<String>,
        cap: u64,
    ) -> Result<(BTreeSet<String>, bool), Error> {
        let mut found = BTreeSet::new();
        let mut start = since.to_string();
        let mut scanned = 0;
        while scanned < cap {
            let reply: Value = self
                .query(&xrange_cmd(key, &start, "+", RANGE_PAGE))
                .await?;
            let page = range_field(&reply, field.as_bytes());
            scanned += page.len() as u64;
            for (_, value) in &page {
                if let Some(value) = value.flatten().and_then(|v| std::str::from_utf8(v).ok())
                    && wanted.contains(value)
                {
                    found.insert(value.to_owned());
                }
            }
            let Some((last, _)) = page.last() else {
                return Ok((found, true));
            };
            if found.len() == wanted.len() || (page.len() as u64) < RANGE_PAGE {
                return Ok((found, true));
            }
            start = format!("({last}");
        }
        Ok((found, false))
    }

    /// XTRIM; returns the number of entries removed.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn trim(&self, key: &str, to: TrimTo, exact: bool) -> Result<u64, Error> {
        self.query(&xtrim_cmd(key, to, exact)).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::bulk;
    use super::super::groups::decode_groups;
    use super::super::{args, pipe_args};
    use super::*;

    #[test]
    fn range_and_read_arguments() {
        assert_eq!(
            args(&xrange_cmd("s", "(1-2", "+", 500)),
            ["XRANGE", "s", "(1-2", "+", "COUNT", "500"]
        );
        assert_eq!(
            args(&xrevrange_cmd("s", "+", "-", 1)),
            ["XREVRANGE", "s", "+", "-", "COUNT", "1"]
        );
        assert_eq!(
            args(&xread_cmd("s", StreamId::new(5, 1), 500, 2500)),
            [
                "XREAD", "COUNT", "500", "BLOCK", "2500", "STREAMS", "s", "5-1"
            ]
        );
        assert_eq!(
            pipe_args(&exists_pipeline(
                "s",
                &[StreamId::new(1, 0), StreamId::new(2, 3)]
            )),
            [
                vec!["XRANGE", "s", "1-0", "1-0", "COUNT", "1"],
                vec!["XRANGE", "s", "2-3", "2-3", "COUNT", "1"],
            ]
        );
    }

    #[test]
    fn xadd_arguments_bound_by_length_or_age() {
        let entries = || {
            [("a", "{1}"), ("b", "{2}"), ("a", "{3}")].map(|(k, d)| NewEntry {
                key: k.to_owned(),
                data: d.to_owned(),
                nid: None,
            })
        };
        let now = 1_700_000_123_456;
        let none = Retention {
            max_len: 0,
            max_age: Duration::ZERO,
        };
        assert_eq!(
            pipe_args(&xadd_pipeline(none, now, entries()))[0],
            ["XADD", "a", "*", "data", "{1}", "timestamp", "1700000123"]
        );
        let by_len = Retention {
            max_len: 100,
            ..none
        };
        assert_eq!(
            pipe_args(&xadd_pipeline(by_len, now, entries()))[1],
            [
                "XADD",
                "b",
                "MAXLEN",
                "~",
                "100",
                "*",
                "data",
                "{2}",
                "timestamp",
                "1700000123"
            ]
        );
        let by_age = Retention {
            max_age: Duration::from_secs(60),
            ..none
        };
        assert_eq!(
            pipe_args(&xadd_pipeline(by_age, now, entries()))[2],
            [
                "XADD",
                "a",
                "MINID",
                "~",
                "1700000063456-0",
                "*",
                "data",
                "{3}",
                "timestamp",
                "1700000123"
            ]
        );
        let both = Retention {
            max_len: 100,
            max_age: Duration::from_secs(60),
        };
        let got = pipe_args(&xadd_pipeline(both, now, entries()));
        assert_eq!(got.len(), 5, "one XTRIM per key: {got:?}");
        assert_eq!(got[0][..5], ["XADD", "a", "MAXLEN", "~", "100"]);
        assert_eq!(got[1], ["XTRIM", "a", "MINID", "~", "1700000063456-0"]);
        assert_eq!(got[2][..2], ["XADD", "b"]);
        assert_eq!(got[3], ["XTRIM", "b", "MINID", "~", "1700000063456-0"]);
        assert_eq!(got[4][..2], ["XADD", "a"]);
    }

    #[test]
    fn xadd_carries_the_notification_id_after_upstreams_fields() {
        let entry = NewEntry {
            key: "a".to_owned(),
            data: "{1}".to_owned(),
            nid: Some("p1.2".to_owned()),
        };
        let none = Retention {
            max_len: 0,
            max_age: Duration::ZERO,
        };
        assert_eq!(
            pipe_args(&xadd_pipeline(none, 5_000, [entry])),
            [[
                "XADD",
                "a",
                "*",
                "data",
                "{1}",
                "timestamp",
                "5",
                "nid",
                "p1.2"
            ]]
        );
    }

    #[test]
    fn xtrim_arguments() {
        assert_eq!(
            args(&xtrim_cmd("s", TrimTo::MaxLen(100), false)),
            ["XTRIM", "s", "MAXLEN", "~", "100"]
        );
        assert_eq!(
            args(&xtrim_cmd("s", TrimTo::MinId(StreamId::new(7, 0)), true)),
            ["XTRIM", "s", "MINID", "=", "7-0"]
        );
    }

    #[test]
    fn xread_replies_give_the_data_field_and_keep_deleted_entries_apart() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("stream:optimizely-sync-k"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("5-1"),
                    Value::Array(vec![bulk("data"), bulk("{}"), bulk("timestamp"), bulk("1")]),
                ]),
                Value::Array(vec![bulk("6-0"), Value::Nil]),
                Value::Array(vec![
                    bulk("7-0"),
                    Value::Array(vec![bulk("other"), bulk("x")]),
                ]),
                Value::Array(vec![
                    bulk("8-0"),
                    Value::Map(vec![(bulk("data"), bulk("[]"))]),
                ]),
            ]),
        ])]);
        let got = read_data(&reply);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (StreamId::new(5, 1), Some(Some(&b"{}"[..]))));
        assert_eq!(got[1], (StreamId::new(6, 0), None));
        assert_eq!(got[2], (StreamId::new(7, 0), Some(None)));
        assert_eq!(got[3], (StreamId::new(8, 0), Some(Some(&b"[]"[..]))));
        assert!(read_data(&Value::Nil).is_empty());
        let Value::Array(streams) = &reply else {
            unreachable!()
        };
        let Value::Array(pair) = &streams[0] else {
            unreachable!()
        };
        assert_eq!(range_data(&pair[1]), got);
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(decode_groups(Value::Int(3)).is_err());
        assert!(decode_stream_info(Value::Array(vec![bulk("length")])).is_err());
        assert!(
            decode_entry(
                "x",
                Value::Array(vec![bulk("not-an-id"), Value::Array(vec![])])
            )
            .is_err()
        );
    }
}
