//! Typed stream operations: XINFO, XPENDING, XLEN, XRANGE, XTRIM, XAUTOCLAIM,
//! XCLAIM, XACK, XADD, SCAN for stream keys. Each builds its exact argument vector
//! (unit-tested) and decodes the reply into plain structs.

use std::time::Duration;

use redis::{Cmd, Value};

use super::value::{Fields, array, decode_error, id, int, text};
use super::{Error, RedisVersion, Store, StreamId};

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

/// One line of XINFO GROUPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name.
    pub name: String,
    /// Consumers in the group.
    pub consumers: u64,
    /// Entries delivered but not acknowledged.
    pub pending: u64,
    /// The last entry id delivered to the group.
    pub last_delivered_id: StreamId,
    /// Logical read counter (Redis >= 7).
    pub entries_read: Option<u64>,
    /// Entries not yet delivered (Redis >= 7; nil when Redis cannot compute it).
    pub lag: Option<u64>,
}

/// One line of XINFO CONSUMERS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Consumer name.
    pub name: String,
    /// Entries pending for this consumer.
    pub pending: u64,
    /// Milliseconds since the consumer's last attempted interaction.
    pub idle_ms: u64,
    /// Milliseconds since its last successful interaction (Redis >= 7.2).
    pub inactive_ms: Option<i64>,
}

/// The XPENDING summary form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// Entries pending in the group.
    pub count: u64,
    /// Smallest pending id.
    pub smallest: Option<StreamId>,
    /// Largest pending id.
    pub largest: Option<StreamId>,
    /// Pending count per consumer.
    pub consumers: Vec<(String, u64)>,
}

/// One entry of the XPENDING extended form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// Entry id.
    pub id: StreamId,
    /// Owning consumer.
    pub consumer: String,
    /// Milliseconds since it was last delivered.
    pub idle_ms: u64,
    /// Times it was delivered.
    pub deliveries: u64,
}

/// Which pending entries to list (XPENDING extended form).
#[derive(Debug, Clone, Default)]
pub struct PendingQuery {
    /// Only entries idle at least this long (`IDLE`, Redis >= 6.2).
    pub min_idle: Option<Duration>,
    /// Smallest id (inclusive); `-` when `None`.
    pub start: Option<StreamId>,
    /// At most this many entries.
    pub count: u64,
    /// Only this consumer's entries.
    pub consumer: Option<String>,
}

/// What XTRIM keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    /// Keep the newest N entries.
    MaxLen(u64),
    /// Remove entries with an id lower than this.
    MinId(StreamId),
}

/// One XAUTOCLAIM step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next step starts; `0-0` when the pending list was fully visited.
    pub next: StreamId,
    /// Entries claimed in this step.
    pub claimed: Vec<StreamEntry>,
    /// Ids that were pending but no longer exist in the stream (Redis >= 7).
    pub deleted: Vec<StreamId>,
}

fn to_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `XPENDING key group [IDLE ms] start end count [consumer]`.
pub fn xpending_cmd(key: &str, group: &str, query: &PendingQuery) -> Cmd {
    let mut cmd = redis::cmd("XPENDING");
    cmd.arg(key).arg(group);
    if let Some(idle) = query.min_idle.filter(|d| !d.is_zero()) {
        cmd.arg("IDLE").arg(to_ms(idle));
    }
    match query.start {
        Some(start) => cmd.arg(start.to_string()),
        None => cmd.arg("-"),
    };
    cmd.arg("+").arg(query.count);
    if let Some(consumer) = &query.consumer {
        cmd.arg(consumer);
    }
    cmd
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

/// `XAUTOCLAIM key group consumer min-idle start COUNT n`.
pub fn xautoclaim_cmd(
    key: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    start: StreamId,
    count: u64,
) -> Cmd {
    let mut cmd = redis::cmd("XAUTOCLAIM");
    cmd.arg(key)
        .arg(group)
        .arg(consumer)
        .arg(to_ms(min_idle))
        .arg(start.to_string())
        .arg("COUNT")
        .arg(count);
    cmd
}

/// `XCLAIM key group consumer min-idle id…`.
pub fn xclaim_cmd(
    key: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    ids: &[StreamId],
) -> Cmd {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(key).arg(group).arg(consumer).arg(to_ms(min_idle));
    for id in ids {
        cmd.arg(id.to_string());
    }
    cmd
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

/// Entries fetched per XRANGE page when counting.
const RANGE_PAGE: u64 = 1000;

/// One entry as the notification readers take it: its id and its `data` field, not
/// copied. The field is `Some(None)` when the entry has no `data`, and the whole is
/// `None` when the entry was deleted while pending (XREADGROUP answers nil fields).
pub type DataEntry<'a> = (StreamId, Option<Option<&'a [u8]>>);

/// The entries of an XRANGE / XREVRANGE reply (RESP2 or RESP3), lenient: what is not
/// an entry with a readable id is left out.
pub fn range_data(value: &Value) -> Vec<DataEntry<'_>> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items.iter().filter_map(data_entry).collect()
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

fn data_entry(item: &Value) -> Option<DataEntry<'_>> {
    let Value::Array(parts) = item else {
        return None;
    };
    let id = id("stream entry", parts.first()?).ok()?;
    let is_data = |k: &Value| matches!(k, Value::BulkString(k) if k == b"data");
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

fn decode_entries(what: &str, value: Value) -> Result<Vec<StreamEntry>, Error> {
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

/// Decodes an XINFO GROUPS reply.
pub(crate) fn decode_groups(value: Value) -> Result<Vec<GroupInfo>, Error> {
    const WHAT: &str = "XINFO GROUPS";
    array(WHAT, value)?
        .into_iter()
        .map(|item| {
            let f = Fields::decode(WHAT, item)?;
            Ok(GroupInfo {
                name: f.string("name")?,
                consumers: f.count("consumers")?,
                pending: f.count("pending")?,
                last_delivered_id: f.opt_id("last-delivered-id")?.unwrap_or(StreamId::ZERO),
                entries_read: f.opt_count("entries-read")?,
                lag: f.opt_count("lag")?,
            })
        })
        .collect()
}

fn decode_consumers(value: Value) -> Result<Vec<ConsumerInfo>, Error> {
    const WHAT: &str = "XINFO CONSUMERS";
    array(WHAT, value)?
        .into_iter()
        .map(|item| {
            let f = Fields::decode(WHAT, item)?;
            Ok(ConsumerInfo {
                name: f.string("name")?,
                pending: f.count("pending")?,
                idle_ms: f.count("idle")?,
                inactive_ms: f.opt_int("inactive")?,
            })
        })
        .collect()
}

fn decode_pending_summary(value: Value) -> Result<PendingSummary, Error> {
    const WHAT: &str = "XPENDING";
    let mut parts = array(WHAT, value)?.into_iter();
    let count = parts
        .next()
        .as_ref()
        .and_then(int)
        .and_then(|v| u64::try_from(v).ok());
    let count = count.ok_or_else(|| decode_error(WHAT, "missing count".to_owned()))?;
    let opt_id = |v: Option<Value>| match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => id(WHAT, &v).map(Some),
    };
    let smallest = opt_id(parts.next())?;
    let largest = opt_id(parts.next())?;
    let consumers = match parts.next() {
        None | Some(Value::Nil) => Vec::new(),
        Some(list) => array(WHAT, list)?
            .into_iter()
            .map(|pair| {
                let mut pair = array(WHAT, pair)?.into_iter();
                let name = pair.next().as_ref().and_then(text);
                let n = pair
                    .next()
                    .as_ref()
                    .and_then(int)
                    .and_then(|v| u64::try_from(v).ok());
                name.zip(n)
                    .ok_or_else(|| decode_error(WHAT, "bad consumer pair".to_owned()))
            })
            .collect::<Result<_, Error>>()?,
    };
    Ok(PendingSummary {
        count,
        smallest,
        largest,
        consumers,
    })
}

fn decode_pending_entries(value: Value) -> Result<Vec<PendingEntry>, Error> {
    const WHAT: &str = "XPENDING";
    array(WHAT, value)?
        .into_iter()
        .map(|item| {
            let parts = array(WHAT, item)?;
            let [raw_id, consumer, idle, deliveries] =
                <[Value; 4]>::try_from(parts).map_err(|_| {
                    decode_error(WHAT, "expected [id, consumer, idle, deliveries]".to_owned())
                })?;
            let number = |v: &Value| int(v).and_then(|n| u64::try_from(n).ok());
            Ok(PendingEntry {
                id: id(WHAT, &raw_id)?,
                consumer: text(&consumer)
                    .ok_or_else(|| decode_error(WHAT, "consumer is not text".to_owned()))?,
                idle_ms: number(&idle).ok_or_else(|| decode_error(WHAT, "bad idle".to_owned()))?,
                deliveries: number(&deliveries)
                    .ok_or_else(|| decode_error(WHAT, "bad delivery count".to_owned()))?,
            })
        })
        .collect()
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

    /// The groups of a stream, failing unless `group` is one of them.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchGroup`] listing the groups that exist, or a Redis error.
    pub async fn require_group(&self, key: &str, group: &str) -> Result<GroupInfo, Error> {
        let groups = self.groups(key).await?;
        let names = groups.iter().map(|g| g.name.clone()).collect();
        groups
            .into_iter()
            .find(|g| g.name == group)
            .ok_or_else(|| Error::NoSuchGroup {
                key: key.to_owned(),
                group: group.to_owned(),
                existing: names,
            })
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

    /// XINFO GROUPS.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn groups(&self, key: &str) -> Result<Vec<GroupInfo>, Error> {
        decode_groups(
            self.query(redis::cmd("XINFO").arg("GROUPS").arg(key))
                .await?,
        )
    }

    /// XINFO CONSUMERS.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn consumers(&self, key: &str, group: &str) -> Result<Vec<ConsumerInfo>, Error> {
        decode_consumers(
            self.query(redis::cmd("XINFO").arg("CONSUMERS").arg(key).arg(group))
                .await?,
        )
    }

    /// XPENDING summary form.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn pending_summary(&self, key: &str, group: &str) -> Result<PendingSummary, Error> {
        decode_pending_summary(
            self.query(redis::cmd("XPENDING").arg(key).arg(group))
                .await?,
        )
    }

    /// XPENDING extended form.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn pending_entries(
        &self,
        key: &str,
        group: &str,
        query: &PendingQuery,
    ) -> Result<Vec<PendingEntry>, Error> {
        decode_pending_entries(self.query(&xpending_cmd(key, group, query)).await?)
    }

    /// Every pending entry matching `query` (ignoring its `count`), paging by id.
    ///
    /// # Errors
    ///
    /// As [`Store::pending_entries`].
    pub async fn all_pending_entries(
        &self,
        key: &str,
        group: &str,
        query: &PendingQuery,
    ) -> Result<Vec<PendingEntry>, Error> {
        let mut all = Vec::new();
        let mut page = PendingQuery {
            count: RANGE_PAGE,
            ..query.clone()
        };
        loop {
            let batch = self.pending_entries(key, group, &page).await?;
            let done = (batch.len() as u64) < RANGE_PAGE;
            page.start = batch.last().and_then(|e| e.id.successor());
            all.extend(batch);
            if done || page.start.is_none() {
                return Ok(all);
            }
        }
    }

    /// The stream keys matching `pattern`, sorted, found with SCAN (never KEYS).
    /// With Redis >= 6 the server filters by type; before that, keys of other types
    /// are dropped after a TYPE check.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn scan_streams(
        &self,
        pattern: &str,
        version: RedisVersion,
    ) -> Result<Vec<String>, Error> {
        let with_type = version.major >= 6;
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) =
                self.query(&scan_cmd(cursor, pattern, with_type)).await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        if !with_type && !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
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
        let reply = self
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(start)
                    .arg(end)
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
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
                .query(
                    redis::cmd("XRANGE")
                        .arg(key)
                        .arg(&start)
                        .arg(&end)
                        .arg("COUNT")
                        .arg(RANGE_PAGE),
                )
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
        let reply = self
            .query(
                redis::cmd("XREVRANGE")
                    .arg(key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(n),
            )
            .await?;
        let entries = decode_entries("XREVRANGE", reply)?;
        Ok(if (entries.len() as u64) < n {
            None
        } else {
            entries.last().map(|e| e.id)
        })
    }

    /// XTRIM; returns the number of entries removed.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn trim(&self, key: &str, to: TrimTo, exact: bool) -> Result<u64, Error> {
        self.query(&xtrim_cmd(key, to, exact)).await
    }

    /// One XAUTOCLAIM step.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn autoclaim(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        start: StreamId,
        count: u64,
    ) -> Result<AutoClaim, Error> {
        const WHAT: &str = "XAUTOCLAIM";
        let reply = self
            .query(&xautoclaim_cmd(
                key, group, consumer, min_idle, start, count,
            ))
            .await?;
        let mut parts = array(WHAT, reply)?.into_iter();
        let next = match parts.next() {
            Some(v) => id(WHAT, &v)?,
            None => return Err(decode_error(WHAT, "empty reply".to_owned())),
        };
        let claimed = decode_entries(WHAT, parts.next().unwrap_or(Value::Nil))?;
        let deleted = array(WHAT, parts.next().unwrap_or(Value::Nil))?
            .iter()
            .map(|v| id(WHAT, v))
            .collect::<Result<_, _>>()?;
        Ok(AutoClaim {
            next,
            claimed,
            deleted,
        })
    }

    /// XCLAIM of explicit ids; returns the entries claimed (ids that were not
    /// pending, not idle long enough, or deleted are absent).
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn claim_ids(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        ids: &[StreamId],
    ) -> Result<Vec<StreamEntry>, Error> {
        decode_entries(
            "XCLAIM",
            self.query(&xclaim_cmd(key, group, consumer, min_idle, ids))
                .await?,
        )
    }

    /// Copies `entries` to `dead_letter` (fields plus `origin_stream` and
    /// `origin_id`) and acknowledges them in `group`, in one MULTI/EXEC so an entry is
    /// never acknowledged without its copy.
    ///
    /// # Errors
    ///
    /// As [`Store::pipeline`].
    pub async fn dead_letter(
        &self,
        key: &str,
        group: &str,
        dead_letter: &str,
        entries: &[StreamEntry],
    ) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for entry in entries {
            let cmd = pipe.cmd("XADD").arg(dead_letter).arg("*");
            for (name, value) in &entry.fields {
                cmd.arg(name).arg(value);
            }
            cmd.arg("origin_stream")
                .arg(key)
                .arg("origin_id")
                .arg(entry.id.to_string());
        }
        let ack = pipe.cmd("XACK").arg(key).arg(group);
        for entry in entries {
            ack.arg(entry.id.to_string());
        }
        let _: Value = self.pipeline(&pipe).await?;
        Ok(())
    }

    /// XGROUP DELCONSUMER; returns the pending count the consumer had.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn delete_consumer(
        &self,
        key: &str,
        group: &str,
        consumer: &str,
    ) -> Result<u64, Error> {
        self.query(
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(key)
                .arg(group)
                .arg(consumer),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<cursor>".to_owned(),
            })
            .collect()
    }

    #[test]
    fn xpending_arguments() {
        let q = PendingQuery {
            min_idle: Some(Duration::from_secs(60)),
            start: None,
            count: 10,
            consumer: Some("c1".into()),
        };
        assert_eq!(
            args(&xpending_cmd("s", "g", &q)),
            ["XPENDING", "s", "g", "IDLE", "60000", "-", "+", "10", "c1"]
        );
        let q = PendingQuery {
            min_idle: Some(Duration::ZERO),
            start: Some(StreamId::new(5, 1)),
            count: 3,
            consumer: None,
        };
        assert_eq!(
            args(&xpending_cmd("s", "g", &q)),
            ["XPENDING", "s", "g", "5-1", "+", "3"]
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
    fn claim_and_scan_arguments() {
        assert_eq!(
            args(&xautoclaim_cmd(
                "s",
                "g",
                "c",
                Duration::from_secs(1),
                StreamId::ZERO,
                50
            )),
            ["XAUTOCLAIM", "s", "g", "c", "1000", "0-0", "COUNT", "50"]
        );
        assert_eq!(
            args(&xclaim_cmd(
                "s",
                "g",
                "c",
                Duration::ZERO,
                &[StreamId::new(1, 2), StreamId::new(3, 4)]
            )),
            ["XCLAIM", "s", "g", "c", "0", "1-2", "3-4"]
        );
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

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn decodes_resp2_groups_with_nil_lag() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("notifications"),
            bulk("consumers"),
            Value::Int(2),
            bulk("pending"),
            Value::Int(3),
            bulk("last-delivered-id"),
            bulk("10-1"),
            bulk("entries-read"),
            Value::Int(7),
            bulk("lag"),
            Value::Nil,
        ])]);
        let groups = decode_groups(reply).unwrap();
        assert_eq!(groups[0].name, "notifications");
        assert_eq!(groups[0].last_delivered_id, StreamId::new(10, 1));
        assert_eq!(groups[0].entries_read, Some(7));
        assert_eq!(groups[0].lag, None);
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
