//! The ODP segments cache in Redis (`client.odp.segmentsCache` "redis"), in
//! upstream's layout so a fleet mixing upstream Agents and `serve` shares it: the
//! key is `fs_user_id-$-<user id>` (the ODP user-id key, `-$-`, the user id, with
//! no prefix of ours), the value the JSON array of the user's qualified segment
//! names, written with the configured expiry.
//!
//! Resetting the cache deletes the keys of that layout (found with `SCAN MATCH`),
//! where upstream flushes the whole database: a database shared with user profiles
//! or notification streams keeps them.

use std::time::Duration;

use super::{Connector, Error, Store};
use crate::config::RedisSettings;

/// The ODP identifier the segments are fetched for, and the first part of each key.
const SEGMENTS_USER_KEY: &str = "fs_user_id";

/// The key of `user_id`'s segments: `fs_user_id-$-<user id>`.
pub fn segments_key(user_id: &str) -> String {
    format!("{SEGMENTS_USER_KEY}-$-{user_id}")
}

/// `GET fs_user_id-$-<user id>`.
pub fn segments_get_cmd(user_id: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(segments_key(user_id));
    cmd
}

/// `SET fs_user_id-$-<user id> <json> [PX <ttl ms>]`; a zero `ttl` never expires.
pub fn segments_set_cmd(user_id: &str, json: &str, ttl: Duration) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(segments_key(user_id)).arg(json);
    if !ttl.is_zero() {
        // At least 1 ms: a sub-millisecond expiry must not become "no expiry".
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        cmd.arg("PX").arg(ms);
    }
    cmd
}

/// Keys deleted per `DEL` while resetting.
const RESET_BATCH: usize = 500;

/// Typed segment reads and writes on one Redis.
pub struct SegmentStore {
    store: Store,
    ttl: Duration,
}

impl SegmentStore {
    /// A store that connects on first use, so `serve` starts while Redis is down;
    /// entries it writes expire after `ttl` (0 = never).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] or [`Error::Connect`] when the settings name no Redis.
    pub fn from_settings(settings: &RedisSettings, ttl: Duration) -> Result<Self, Error> {
        Ok(Self {
            store: Connector::from_settings(settings)?.store(),
            ttl,
        })
    }

    /// The address used, safe to print.
    pub fn address(&self) -> &str {
        self.store.address()
    }

    /// The cached segments of `user_id`; `None` when none are stored.
    ///
    /// # Errors
    ///
    /// As [`Store::query`], or [`Error::Decode`] for a value that is not a JSON
    /// array of strings.
    pub async fn get(&self, user_id: &str) -> Result<Option<Vec<String>>, Error> {
        let value: Option<String> = self.store.query(&segments_get_cmd(user_id)).await?;
        value
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| Error::Decode {
                    what: "cached ODP segments".to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Stores (replaces) the segments of `user_id`.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn set(&self, user_id: &str, segments: &[String]) -> Result<(), Error> {
        let json = serde_json::to_string(segments).unwrap_or_else(|_| "[]".to_owned());
        self.store
            .query::<()>(&segments_set_cmd(user_id, &json, self.ttl))
            .await
    }

    /// Deletes every cached user's segments; returns how many keys were deleted.
    ///
    /// # Errors
    ///
    /// As [`Store::query`].
    pub async fn reset(&self) -> Result<usize, Error> {
        let pattern = format!("{SEGMENTS_USER_KEY}-$-*");
        let mut cursor = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .store
                .query(&super::scan::scan_cmd(cursor, &pattern, false))
                .await?;
            for chunk in keys.chunks(RESET_BATCH) {
                let mut del = redis::cmd("DEL");
                del.arg(chunk);
                deleted += self.store.query::<usize>(&del).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::super::args;
    use super::super::testing::RedisServer;
    use super::*;

    #[test]
    fn commands_use_upstreams_key() {
        assert_eq!(segments_key("u1"), "fs_user_id-$-u1");
        assert_eq!(args(&segments_get_cmd("u1")), ["GET", "fs_user_id-$-u1"]);
        assert_eq!(
            args(&segments_set_cmd("u1", r#"["a"]"#, Duration::ZERO)),
            ["SET", "fs_user_id-$-u1", r#"["a"]"#]
        );
        assert_eq!(
            args(&segments_set_cmd("u1", "[]", Duration::from_secs(600))),
            ["SET", "fs_user_id-$-u1", "[]", "PX", "600000"]
        );
        assert_eq!(
            args(&segments_set_cmd("u1", "[]", Duration::from_micros(10))),
            ["SET", "fs_user_id-$-u1", "[]", "PX", "1"]
        );
    }

    #[tokio::test]
    async fn round_trip_expiry_and_reset_against_real_redis() {
        let redis = RedisServer::start();
        let settings = RedisSettings {
            host: redis.addr(),
            ..RedisSettings::default()
        };
        let store = SegmentStore::from_settings(&settings, Duration::from_secs(60)).unwrap();
        assert_eq!(store.get("u1").await.unwrap(), None);
        store.set("u1", &["a".into(), "b".into()]).await.unwrap();
        let raw: String = redis.cmd(&["GET", "fs_user_id-$-u1"]);
        assert_eq!(raw, r#"["a","b"]"#);
        let ttl: i64 = redis.cmd(&["PTTL", "fs_user_id-$-u1"]);
        assert!(ttl > 50_000 && ttl <= 60_000, "ttl {ttl}");
        assert_eq!(
            store.get("u1").await.unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );

        // What an upstream Agent wrote is read, and a foreign key survives a reset.
        let _: () = redis.cmd(&["SET", "fs_user_id-$-u2", r#"["c"]"#]);
        let _: () = redis.cmd(&["SET", "profile-user", "{}"]);
        assert_eq!(store.get("u2").await.unwrap(), Some(vec!["c".to_owned()]));
        let _: () = redis.cmd(&["SET", "fs_user_id-$-bad", "{}"]);
        assert!(store.get("bad").await.is_err());
        assert_eq!(store.reset().await.unwrap(), 3);
        assert_eq!(store.get("u1").await.unwrap(), None);
        let kept: Option<String> = redis.cmd(&["GET", "profile-user"]);
        assert_eq!(kept.as_deref(), Some("{}"));
    }
}
