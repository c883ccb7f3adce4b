//! `agentctl claim`: sweep, by owner, by id, dry run, dead letters, consumer deletion.

use crate::harness::fixtures::{self, DEAD_CONSUMER, LIVE_CONSUMER};
use crate::harness::{Agentctl, RedisServer};

/// (owner, delivery count) of each pending id, from XPENDING itself.
fn pending(redis: &RedisServer, key: &str) -> Vec<(String, String, u64)> {
    let rows: Vec<(String, String, u64, u64)> =
        redis.cmd(&["XPENDING", key, "notifications", "-", "+", "100"]);
    rows.into_iter()
        .map(|(id, owner, _, deliveries)| (id, owner, deliveries))
        .collect()
}

#[test]
fn sweep_moves_idle_entries_to_the_new_owner() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "CL1");
    let cli = Agentctl::new();

    let dry = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                LIVE_CONSUMER,
                "--dry-run",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(dry["claimed"].as_array().unwrap().len(), 4);
    assert_eq!(dry["claimed"][0]["previous_owner"], DEAD_CONSUMER);
    assert!(
        pending(&redis, &scene.key)
            .iter()
            .filter(|p| p.1 == DEAD_CONSUMER)
            .count()
            == 4,
        "dry run changed ownership"
    );

    let run = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                LIVE_CONSUMER,
                "--json",
            ],
        )
        .ok()
        .json();
    let claimed: Vec<&str> = run["claimed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        claimed,
        scene
            .dead_pending
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(run["claimed"][0]["deliveries"], 3);
    for (id, owner, deliveries) in pending(&redis, &scene.key) {
        assert_eq!(owner, LIVE_CONSUMER, "{id}");
        if scene.dead_pending.contains(&id) {
            assert_eq!(deliveries, 3);
        }
    }
}

#[test]
fn count_limits_and_deleted_entries_are_reported() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "CL2");
    let _: i64 = redis.cmd(&["XDEL", &scene.key, &scene.dead_pending[0]]);
    let cli = Agentctl::new();
    let out = cli
        .redis(
            &redis,
            &[
                "claim",
                "--sdk-key",
                "CL2",
                "--group",
                "notifications",
                "--to",
                "rescuer",
                "--count",
                "2",
            ],
        )
        .ok()
        .stdout;
    assert!(out.contains("2 entries claimed for rescuer"), "{out}");
    assert!(out.contains("deleted while pending"), "{out}");
    let owned = pending(&redis, &scene.key)
        .into_iter()
        .filter(|p| p.1 == "rescuer")
        .count();
    assert_eq!(owned, 2);
}

#[test]
fn explicit_ids_and_from_consumer() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "CL3");
    let cli = Agentctl::new();
    let run = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                "x",
                "--ids",
                &scene.dead_pending[1],
                &scene.ids[9],
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(run["claimed"][0]["id"], scene.dead_pending[1].as_str());
    assert_eq!(run["skipped"], serde_json::json!([scene.ids[9]]));

    let run = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                "y",
                "--from",
                DEAD_CONSUMER,
                "--min-idle",
                "0s",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(run["claimed"].as_array().unwrap().len(), 3);
    assert!(
        pending(&redis, &scene.key)
            .iter()
            .all(|p| p.1 != DEAD_CONSUMER)
    );
}

#[test]
fn poison_entries_go_to_the_dead_letter_stream() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "CL4");
    // One entry has been delivered 9 times already.
    fixtures::age_pending(
        &redis,
        &scene.key,
        "notifications",
        DEAD_CONSUMER,
        &scene.dead_pending[..1],
        600_000,
        9,
    );
    let cli = Agentctl::new();
    let run = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                LIVE_CONSUMER,
                "--dead-letter",
                "dlq",
                "--max-deliveries",
                "5",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(
        run["dead_lettered"],
        serde_json::json!([scene.dead_pending[0]])
    );
    let dlq: Vec<(String, Vec<(String, String)>)> = redis.cmd(&["XRANGE", "dlq", "-", "+"]);
    assert_eq!(dlq.len(), 1);
    let fields: std::collections::HashMap<_, _> = dlq[0].1.iter().cloned().collect();
    assert_eq!(fields["origin_stream"], scene.key);
    assert_eq!(fields["origin_id"], scene.dead_pending[0]);
    assert!(fields["data"].contains("\"type\":\"decision\""));
    assert!(fields.contains_key("timestamp"));
    assert!(
        pending(&redis, &scene.key)
            .iter()
            .all(|p| p.0 != scene.dead_pending[0]),
        "poison entry still pending"
    );
}

#[test]
fn delete_consumer_only_when_empty() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "CL5");
    let cli = Agentctl::new();
    let refused = cli.redis(
        &redis,
        &[
            "claim",
            &scene.key,
            "--group",
            "notifications",
            "--to",
            "z",
            "--min-idle",
            "1h",
            "--delete-consumer",
            DEAD_CONSUMER,
        ],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("still holds 4 pending entries"),
        "{}",
        refused.stderr
    );

    let ok = cli
        .redis(
            &redis,
            &[
                "claim",
                &scene.key,
                "--group",
                "notifications",
                "--to",
                "z",
                "--from",
                DEAD_CONSUMER,
                "--delete-consumer",
                DEAD_CONSUMER,
            ],
        )
        .ok();
    assert!(
        ok.stdout
            .contains(&format!("deleted consumer {DEAD_CONSUMER}")),
        "{}",
        ok.stdout
    );
    let consumers: redis::Value = redis.cmd(&["XINFO", "CONSUMERS", &scene.key, "notifications"]);
    assert!(!format!("{consumers:?}").contains(DEAD_CONSUMER));
}

/// The names of `key`'s consumer groups.
fn group_names(redis: &RedisServer, key: &str) -> Vec<String> {
    let reply: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query(&mut redis.conn())
        .unwrap();
    let mut names: Vec<String> = reply.groups.into_iter().map(|g| g.name).collect();
    names.sort();
    names
}

#[test]
fn delete_idle_groups_removes_abandoned_groups_and_unblocks_trim_safe() {
    let redis = RedisServer::start();
    let key = fixtures::stream("IDLE1");
    fixtures::add_decisions(&redis, &key, 10);
    // What a hostile client leaves: groups from the start whose consumer read
    // everything and never acknowledged, and one that never read at all.
    for group in ["hostile-1", "hostile-2"] {
        fixtures::create_group(&redis, &key, group);
        assert_eq!(fixtures::read(&redis, &key, group, "c", 10).len(), 10);
    }
    fixtures::create_group(&redis, &key, "never-read");
    // The group in use: read and acknowledged everything.
    fixtures::create_group(&redis, &key, "live");
    let ids = fixtures::read(&redis, &key, "live", "reader", 10);
    let mut ack = vec!["XACK", key.as_str(), "live"];
    ack.extend(ids.iter().map(String::as_str));
    let _: i64 = redis.cmd(&ack);
    let cli = Agentctl::new();
    let trim = [
        "trim",
        key.as_str(),
        "--maxlen",
        "1",
        "--exact",
        "--safe",
        "--json",
    ];
    let held = cli.redis(&redis, &trim).ok().json();
    assert_eq!(held["streams"][0]["removed"], 0, "held back: {held}");

    std::thread::sleep(std::time::Duration::from_millis(1_500));
    // The live consumer gets a new entry: no longer idle (before Redis 7.2 only a
    // delivery resets a consumer's idle time, an empty read does not).
    fixtures::add_decisions(&redis, &key, 1);
    let ids = fixtures::read(&redis, &key, "live", "reader", 10);
    assert_eq!(ids.len(), 1);
    let _: i64 = redis.cmd(&["XACK", &key, "live", &ids[0]]);

    let dry = cli
        .redis(
            &redis,
            &[
                "claim",
                &key,
                "--delete-idle-groups",
                "1s",
                "--dry-run",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    let listed: Vec<(&str, u64, &str)> = dry["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap(),
                g["pending"].as_u64().unwrap(),
                g["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("hostile-1", 10, "would be deleted"),
            ("hostile-2", 10, "would be deleted"),
            ("never-read", 0, "would be deleted"),
        ],
        "{dry}"
    );
    assert_eq!(
        group_names(&redis, &key).len(),
        4,
        "a dry run deletes nothing"
    );

    let out = cli
        .redis(&redis, &["claim", &key, "--delete-idle-groups", "1s"])
        .ok()
        .stdout;
    assert!(
        out.contains(&format!("3 consumer groups idle >= 1s deleted from {key}")),
        "{out}"
    );
    assert_eq!(group_names(&redis, &key), ["live"]);
    let trimmed = cli.redis(&redis, &trim).ok().json();
    assert_eq!(trimmed["streams"][0]["removed"], 10, "unblocked: {trimmed}");

    // A group still in use is never idle enough.
    let none = cli
        .redis(
            &redis,
            &["claim", &key, "--delete-idle-groups", "1h", "--json"],
        )
        .ok()
        .json();
    assert_eq!(none["groups"], serde_json::json!([]));
    assert_eq!(group_names(&redis, &key), ["live"]);
}

#[test]
fn delete_idle_groups_conflicts_with_claiming() {
    let cli = Agentctl::new();
    let run = cli.run(&[
        "claim",
        "stream:x",
        "--delete-idle-groups",
        "1h",
        "--group",
        "g",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    let run = cli.run(&["claim", "stream:x", "--to", "c"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--group <GROUP>"), "{}", run.stderr);
}
