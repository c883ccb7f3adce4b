//! Pending entries: XPENDING (summary and extended forms), XAUTOCLAIM, XCLAIM,
//! and dead-lettering (XADD copy + XACK in one MULTI/EXEC).

use std::time::Duration;

use redis::{Cmd, Pipeline, Value};

use super::entries::{StreamEntry, decode_entries};
use super::groups::xack_cmd;
use super::value::{array, decode_error, id, int, text};
use super::{Error, RANGE_PAGE, Store, StreamId};

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

/// `MULTI`, one `XADD dead_letter * fields… origin_stream key origin_id id` per
/// entry, `XACK key group ids…`, `EXEC`.
fn dead_letter_pipeline(
    key: &str,
    group: &str,
    dead_letter: &str,
    entries: &[StreamEntry],
) -> Pipeline {
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
    pipe.add_command(xack_cmd(
        key,
        group,
        entries.iter().map(|e| e.id.to_string()),
    ));
    pipe
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
        let pipe = dead_letter_pipeline(key, group, dead_letter, entries);
        let _: Value = self.pipeline(&pipe).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{args, pipe_args};
    use super::*;

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
    fn claim_arguments() {
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
    }

    #[test]
    fn dead_letter_arguments() {
        let entries = [
            StreamEntry {
                id: StreamId::new(1, 0),
                fields: vec![("data".into(), "{}".into())],
            },
            StreamEntry {
                id: StreamId::new(2, 0),
                fields: vec![],
            },
        ];
        assert_eq!(
            pipe_args(&dead_letter_pipeline("s", "g", "dl", &entries)),
            [
                vec![
                    "XADD",
                    "dl",
                    "*",
                    "data",
                    "{}",
                    "origin_stream",
                    "s",
                    "origin_id",
                    "1-0"
                ],
                vec!["XADD", "dl", "*", "origin_stream", "s", "origin_id", "2-0"],
                vec!["XACK", "s", "g", "1-0", "2-0"],
            ]
        );
    }
}
