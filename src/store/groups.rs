//! Consumer groups: XGROUP CREATE / DELCONSUMER, XREADGROUP, XACK, and XINFO
//! GROUPS / CONSUMERS with their decoders.

use redis::{Cmd, ToRedisArgs, Value};

use super::value::{Fields, array};
use super::{Error, Store, StreamId};

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

/// `XGROUP CREATE key group start MKSTREAM`.
pub fn xgroup_create_cmd(key: &str, group: &str, start: &str) -> Cmd {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(key)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM");
    cmd
}

/// `XGROUP DESTROY key group`: the group and its pending entries list go.
pub fn xgroup_destroy_cmd(key: &str, group: &str) -> Cmd {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("DESTROY").arg(key).arg(group);
    cmd
}

/// `XINFO GROUPS key`.
pub fn xinfo_groups_cmd(key: &str) -> Cmd {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("GROUPS").arg(key);
    cmd
}

/// `XINFO CONSUMERS key group`.
pub fn xinfo_consumers_cmd(key: &str, group: &str) -> Cmd {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("CONSUMERS").arg(key).arg(group);
    cmd
}

/// A consumer group nobody has used for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleGroup {
    /// The group as XINFO GROUPS describes it.
    pub group: GroupInfo,
    /// How long it has been idle (see [`group_idle_ms`]).
    pub idle_ms: u64,
}

/// How long nobody has used `group`, at Redis time `now_ms`: the idle time of its
/// least idle consumer (Redis resets it at every read attempt, blocked reads
/// included). A group without consumers has no such clock: its age is taken from
/// its position instead (the time part of `last-delivered-id`, which is at most its
/// creation time for a group that never delivered; `0-0` counts as old).
pub fn group_idle_ms(group: &GroupInfo, consumers: &[ConsumerInfo], now_ms: u64) -> u64 {
    match consumers.iter().map(|c| c.idle_ms).min() {
        Some(idle) => idle,
        None => now_ms.saturating_sub(group.last_delivered_id.ms),
    }
}

/// `XREADGROUP GROUP group consumer COUNT n [BLOCK ms] STREAMS key id`: `id` is `>`
/// for new entries, or an id to re-read this consumer's pending entries after it.
/// With a block, the connection's response timeout must exceed it.
pub fn xreadgroup_cmd(
    key: &str,
    group: &str,
    consumer: &str,
    id: &str,
    count: u64,
    block_ms: Option<u64>,
) -> Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(key).arg(id);
    cmd
}

/// `XACK key group id…`.
pub fn xack_cmd<I: ToRedisArgs>(key: &str, group: &str, ids: impl IntoIterator<Item = I>) -> Cmd {
    let mut cmd = redis::cmd("XACK");
    cmd.arg(key).arg(group);
    for id in ids {
        cmd.arg(id);
    }
    cmd
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

impl Store {
    /// Creates consumer group `group` on `key` at `start` (the stream too, when
    /// missing); true when created, false when it already existed.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], except that an existing group (`BUSYGROUP`) is no error.
    pub async fn create_group(&self, key: &str, group: &str, start: &str) -> Result<bool, Error> {
        match self
            .query::<Value>(&xgroup_create_cmd(key, group, start))
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// XACK; returns how many of `ids` were pending and are acknowledged now.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn ack(&self, key: &str, group: &str, ids: &[String]) -> Result<u64, Error> {
        self.query(&xack_cmd(key, group, ids)).await
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

    /// XINFO GROUPS.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn groups(&self, key: &str) -> Result<Vec<GroupInfo>, Error> {
        decode_groups(self.query(&xinfo_groups_cmd(key)).await?)
    }

    /// XINFO GROUPS, or no groups when the stream does not exist yet.
    ///
    /// # Errors
    ///
    /// [`Error::WrongType`] when `key` is no stream, a Redis error, or
    /// [`Error::Decode`].
    pub async fn groups_if_stream(&self, key: &str) -> Result<Vec<GroupInfo>, Error> {
        match self.require_stream(key).await {
            Ok(()) => self.groups(key).await,
            Err(Error::NoSuchStream { .. }) => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }

    /// XINFO CONSUMERS.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn consumers(&self, key: &str, group: &str) -> Result<Vec<ConsumerInfo>, Error> {
        decode_consumers(self.query(&xinfo_consumers_cmd(key, group)).await?)
    }

    /// The groups of `key` nobody has used for at least `min_idle` (see
    /// [`group_idle_ms`]), with their figures.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`].
    pub async fn idle_groups(
        &self,
        key: &str,
        min_idle: std::time::Duration,
    ) -> Result<Vec<IdleGroup>, Error> {
        let min_idle = u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX);
        let now = self.server_time_ms().await?;
        let mut idle = Vec::new();
        for group in self.groups(key).await? {
            let consumers = self.consumers(key, &group.name).await?;
            let idle_ms = group_idle_ms(&group, &consumers, now);
            if idle_ms >= min_idle {
                idle.push(IdleGroup { group, idle_ms });
            }
        }
        Ok(idle)
    }

    /// XGROUP DESTROY; true when the group existed.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn destroy_group(&self, key: &str, group: &str) -> Result<bool, Error> {
        let destroyed: u64 = self.query(&xgroup_destroy_cmd(key, group)).await?;
        Ok(destroyed > 0)
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
    use super::super::{args, bulk};
    use super::*;

    #[test]
    fn group_command_arguments() {
        assert_eq!(
            args(&xgroup_create_cmd("s", "g", "$")),
            ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]
        );
        assert_eq!(
            args(&xreadgroup_cmd("s", "g", "c", ">", 100, Some(2500))),
            [
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "COUNT",
                "100",
                "BLOCK",
                "2500",
                "STREAMS",
                "s",
                ">"
            ]
        );
        assert_eq!(
            args(&xreadgroup_cmd("s", "g", "c", "0-0", 100, None)),
            [
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "COUNT",
                "100",
                "STREAMS",
                "s",
                "0-0"
            ]
        );
        assert_eq!(
            args(&xack_cmd("s", "g", ["1-0", "2-5"])),
            ["XACK", "s", "g", "1-0", "2-5"]
        );
        assert_eq!(
            args(&xgroup_destroy_cmd("s", "g")),
            ["XGROUP", "DESTROY", "s", "g"]
        );
        assert_eq!(args(&xinfo_groups_cmd("s")), ["XINFO", "GROUPS", "s"]);
        assert_eq!(
            args(&xinfo_consumers_cmd("s", "g")),
            ["XINFO", "CONSUMERS", "s", "g"]
        );
    }

    #[test]
    fn a_group_is_as_idle_as_its_least_idle_consumer_or_its_position() {
        let group = GroupInfo {
            name: "g".to_owned(),
            consumers: 2,
            pending: 0,
            last_delivered_id: StreamId::new(1_000, 0),
            entries_read: None,
            lag: None,
        };
        let consumer = |idle_ms| ConsumerInfo {
            name: "c".to_owned(),
            pending: 0,
            idle_ms,
            inactive_ms: None,
        };
        assert_eq!(
            group_idle_ms(&group, &[consumer(5_000), consumer(70)], 9_000),
            70
        );
        assert_eq!(group_idle_ms(&group, &[], 9_000), 8_000);
        let never = GroupInfo {
            last_delivered_id: StreamId::ZERO,
            ..group
        };
        assert_eq!(group_idle_ms(&never, &[], 9_000), 9_000);
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
}
