//! Data shaped like what upstream Agents write: entries with `data` (the JSON
//! envelope) and `timestamp` fields, group `notifications`, consumers named
//! `consumer-<host>-<pid>-<ts>`.

use super::RedisServer;

/// An upstream-style consumer name.
pub const DEAD_CONSUMER: &str = "consumer-agent-1-4242-1759461274";
/// Another upstream-style consumer, still alive.
pub const LIVE_CONSUMER: &str = "consumer-agent-2-5151-1759461300";

/// The stream key for an SDK key.
pub fn stream(sdk_key: &str) -> String {
    format!("stream:optimizely-sync-{sdk_key}")
}

/// Appends `n` decision notifications; returns their ids.
pub fn add_decisions(redis: &RedisServer, key: &str, n: usize) -> Vec<String> {
    let mut conn = redis.conn();
    (0..n)
        .map(|i| {
            let data = format!(
                r#"{{"type":"decision","message":{{"Type":"flag","UserContext":{{"ID":"user-{i}","Attributes":{{}}}},"DecisionInfo":{{"flagKey":"f","enabled":true}}}}}}"#
            );
            redis::cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("data")
                .arg(data)
                .arg("timestamp")
                .arg(1_759_461_274 + i as u64)
                .query(&mut conn)
                .unwrap()
        })
        .collect()
}

/// Creates group `notifications` reading from the start.
pub fn create_group(redis: &RedisServer, key: &str, group: &str) {
    let _: String = redis.cmd(&["XGROUP", "CREATE", key, group, "0"]);
}

/// Delivers up to `count` new entries to `consumer` without acknowledging them.
pub fn read(
    redis: &RedisServer,
    key: &str,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<String> {
    let reply: redis::Value = redis.cmd(&[
        "XREADGROUP",
        "GROUP",
        group,
        consumer,
        "COUNT",
        &count.to_string(),
        "STREAMS",
        key,
        ">",
    ]);
    let mut ids = Vec::new();
    let redis::Value::Array(streams) = reply else {
        return ids;
    };
    for stream in streams {
        let redis::Value::Array(parts) = stream else {
            continue;
        };
        let Some(redis::Value::Array(entries)) = parts.get(1) else {
            continue;
        };
        for entry in entries {
            if let redis::Value::Array(kv) = entry
                && let Some(redis::Value::BulkString(id)) = kv.first()
            {
                ids.push(String::from_utf8_lossy(id).into_owned());
            }
        }
    }
    ids
}

/// Makes pending entries look old and retried: idle `idle_ms`, delivered `deliveries` times.
pub fn age_pending(
    redis: &RedisServer,
    key: &str,
    group: &str,
    consumer: &str,
    ids: &[String],
    idle_ms: u64,
    deliveries: u64,
) {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(key).arg(group).arg(consumer).arg(0);
    for id in ids {
        cmd.arg(id);
    }
    cmd.arg("IDLE")
        .arg(idle_ms)
        .arg("RETRYCOUNT")
        .arg(deliveries)
        .arg("JUSTID");
    let _: redis::Value = cmd.query(&mut redis.conn()).unwrap();
}

/// The upstream scene: 10 entries, group `notifications`; the dead consumer read 4
/// (pending, idle 10 minutes, delivered twice), the live one read 3 and acked 2.
pub struct Scene {
    /// Stream key.
    pub key: String,
    /// All entry ids, oldest first.
    pub ids: Vec<String>,
    /// Ids pending on the dead consumer.
    pub dead_pending: Vec<String>,
}

/// Builds [`Scene`] for SDK key `sdk`.
pub fn upstream_scene(redis: &RedisServer, sdk: &str) -> Scene {
    let key = stream(sdk);
    let ids = add_decisions(redis, &key, 10);
    create_group(redis, &key, "notifications");
    let dead_pending = read(redis, &key, "notifications", DEAD_CONSUMER, 4);
    age_pending(
        redis,
        &key,
        "notifications",
        DEAD_CONSUMER,
        &dead_pending,
        600_000,
        2,
    );
    let live = read(redis, &key, "notifications", LIVE_CONSUMER, 3);
    let _: i64 = redis.cmd(&["XACK", &key, "notifications", &live[0], &live[1]]);
    Scene {
        key,
        ids,
        dead_pending,
    }
}
