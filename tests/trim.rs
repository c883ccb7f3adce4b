//! `agentctl trim`: every mode, checked against XLEN and the entries left.

use crate::harness::fixtures;
use crate::harness::{Agentctl, RedisServer};

fn xlen(redis: &RedisServer, key: &str) -> u64 {
    redis.cmd(&["XLEN", key])
}

fn first_id(redis: &RedisServer, key: &str) -> String {
    let reply: Vec<(String, Vec<(String, String)>)> =
        redis.cmd(&["XRANGE", key, "-", "+", "COUNT", "1"]);
    reply[0].0.clone()
}

#[test]
fn exact_maxlen_reports_before_after_removed() {
    let redis = RedisServer::start();
    let key = fixtures::stream("T1");
    fixtures::add_decisions(&redis, &key, 50);
    let cli = Agentctl::new();

    let dry = cli
        .redis(
            &redis,
            &[
                "trim",
                &key,
                "--maxlen",
                "20",
                "--exact",
                "--dry-run",
                "--json",
            ],
        )
        .ok()
        .json();
    let row = &dry["streams"][0];
    assert_eq!(
        (
            row["length_before"].as_u64(),
            row["removed"].as_u64(),
            row["length_after"].as_u64()
        ),
        (Some(50), Some(30), Some(20))
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(xlen(&redis, &key), 50, "dry run removed entries");

    let run = cli
        .redis(
            &redis,
            &["trim", &key, "--maxlen", "20", "--exact", "--json"],
        )
        .ok()
        .json();
    let row = &run["streams"][0];
    assert_eq!(row["command"], "MAXLEN = 20");
    assert_eq!(
        (
            row["length_before"].as_u64(),
            row["removed"].as_u64(),
            row["length_after"].as_u64()
        ),
        (Some(50), Some(30), Some(20))
    );
    assert_eq!(xlen(&redis, &key), 20);
}

#[test]
fn approximate_trim_removes_whole_nodes_only() {
    // Small nodes so that approximate trimming has something to remove.
    let redis = RedisServer::start_with(&["--stream-node-max-entries", "10"]);
    let key = fixtures::stream("T2");
    fixtures::add_decisions(&redis, &key, 100);
    let cli = Agentctl::new();
    let out = cli
        .redis(&redis, &["trim", "--sdk-key", "T2", "--maxlen", "25"])
        .ok()
        .stdout;
    assert!(out.contains("MAXLEN ~ 25"), "{out}");
    let left = xlen(&redis, &key);
    assert!((25..=35).contains(&left), "approximate trim left {left}");
    assert!(out.contains(&format!(" {left} ")), "{out}");
    assert!(
        out.contains(&format!("removed {} entries from 1 stream(s)", 100 - left)),
        "{out}"
    );
}

#[test]
fn minid_and_max_age() {
    let redis = RedisServer::start();
    let key = fixtures::stream("T3");
    let ids = fixtures::add_decisions(&redis, &key, 10);
    let cli = Agentctl::new();
    let run = cli
        .redis(
            &redis,
            &["trim", &key, "--minid", &ids[4], "--exact", "--json"],
        )
        .ok()
        .json();
    assert_eq!(run["streams"][0]["removed"], 4);
    assert_eq!(first_id(&redis, &key), ids[4]);

    // Everything is younger than an hour: nothing goes. Older than 1ms: all but
    // entries added in the current millisecond go.
    let run = cli
        .redis(
            &redis,
            &["trim", &key, "--max-age", "1h", "--exact", "--json"],
        )
        .ok()
        .json();
    assert_eq!(run["streams"][0]["removed"], 0);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let run = cli
        .redis(
            &redis,
            &["trim", &key, "--max-age", "2ms", "--exact", "--json"],
        )
        .ok()
        .json();
    assert_eq!(run["streams"][0]["removed"], 6);
    assert_eq!(xlen(&redis, &key), 0);
}

#[test]
fn all_streams_matching_a_pattern() {
    let redis = RedisServer::start();
    for sdk in ["A1", "A2", "B1"] {
        fixtures::add_decisions(&redis, &fixtures::stream(sdk), 12);
    }
    let cli = Agentctl::new();
    let run = cli
        .redis(
            &redis,
            &[
                "trim",
                "--all",
                "--match",
                "stream:optimizely-sync-A*",
                "--maxlen",
                "2",
                "--exact",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(run["streams"].as_array().unwrap().len(), 2);
    assert_eq!(xlen(&redis, &fixtures::stream("A1")), 2);
    assert_eq!(xlen(&redis, &fixtures::stream("A2")), 2);
    assert_eq!(xlen(&redis, &fixtures::stream("B1")), 12);
}

#[test]
fn safe_mode_keeps_undelivered_and_pending_entries() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "S1");
    let cli = Agentctl::new();
    // MAXLEN 2 would remove 8 entries, but ids[0..4] are pending on the dead
    // consumer: nothing before ids[0] may go, so nothing is removed at all.
    let run = cli
        .redis(
            &redis,
            &[
                "trim", &scene.key, "--maxlen", "2", "--exact", "--safe", "--json",
            ],
        )
        .ok()
        .json();
    let row = &run["streams"][0];
    assert_eq!(row["removed"], 0, "{run}");
    assert_eq!(row["held_back"], 8);
    assert!(
        row["held_back_reason"]
            .as_str()
            .unwrap()
            .contains("still has entry"),
        "{run}"
    );
    assert_eq!(xlen(&redis, &scene.key), 10);

    // Acknowledge the dead consumer's and the live consumer's entries: now
    // only the undelivered ids[7..] must stay.
    let mut ack = vec!["XACK", &scene.key, "notifications"];
    ack.extend(scene.ids[..7].iter().map(String::as_str));
    let _: i64 = redis.cmd(&ack);
    let out = cli
        .redis(
            &redis,
            &["trim", &scene.key, "--maxlen", "1", "--exact", "--safe"],
        )
        .ok()
        .stdout;
    assert_eq!(xlen(&redis, &scene.key), 3, "{out}");
    assert_eq!(first_id(&redis, &scene.key), scene.ids[7]);
    assert!(
        out.contains(
            "kept 2 entries because group notifications has not been delivered entries after"
        ),
        "{out}"
    );
}
