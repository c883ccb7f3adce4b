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
