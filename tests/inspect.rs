//! `agentctl inspect`, every view, table and JSON, checked against Redis itself.

use crate::harness::fixtures::{self, DEAD_CONSUMER, LIVE_CONSUMER};
use crate::harness::serve::{Serve, decide_demo, eventually};
use crate::harness::{Agentctl, RedisServer};

#[test]
fn streams_view_lists_every_stream_with_figures() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "SDKA");
    fixtures::add_decisions(&redis, &fixtures::stream("SDKB"), 3);
    let _: String = redis.cmd(&["SET", "stream:optimizely-sync-notastream", "x"]);
    let cli = Agentctl::new();

    let json = cli
        .redis(&redis, &["inspect", "streams", "--json"])
        .ok()
        .json();
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "{json}");
    let a = &streams[0];
    assert_eq!(a["key"], scene.key.as_str());
    assert_eq!(a["sdk_key"], "SDKA");
    assert_eq!(a["length"], 10);
    assert_eq!(a["first_id"], scene.ids[0].as_str());
    assert_eq!(a["last_id"], scene.ids[9].as_str());
    assert_eq!(a["groups"], 1);
    assert_eq!(a["pending"], 5);
    assert_eq!(a["max_lag"], 3);
    assert_eq!(a["lag_estimated"], false);
    assert!(a["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(streams[1]["sdk_key"], "SDKB");
    assert_eq!(streams[1]["groups"], 0);
    assert_eq!(streams[1]["max_lag"], serde_json::Value::Null);

    let table = cli.redis(&redis, &["inspect", "streams"]).ok().stdout;
    assert!(table.contains("STREAM"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("stream:optimizely-sync-SDKA") && l.contains(" 10 ")),
        "{table}"
    );
    assert!(
        table.contains("2 stream(s) matching stream:optimizely-sync-*"),
        "{table}"
    );

    let only_b = cli
        .redis(
            &redis,
            &["inspect", "streams", "--match", "*SDKB", "--json"],
        )
        .ok()
        .json();
    assert_eq!(only_b["streams"].as_array().unwrap().len(), 1);
}

#[test]
fn stream_view_matches_xinfo() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "K1");
    let cli = Agentctl::new();
    let json = cli
        .redis(&redis, &["inspect", "stream", "--sdk-key", "K1", "--json"])
        .ok()
        .json();
    assert_eq!(json["stream"], scene.key.as_str());
    assert_eq!(json["length"], 10);
    assert_eq!(json["groups"], 1);
    assert_eq!(json["last_generated_id"], scene.ids[9].as_str());
    assert_eq!(json["entries_added"], 10);
    assert_eq!(json["first_entry"]["id"], scene.ids[0].as_str());
    let data: serde_json::Value =
        serde_json::from_str(json["first_entry"]["fields"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["type"], "decision");
    assert_eq!(json["first_entry"]["fields"]["timestamp"], "1759461274");

    let table = cli
        .redis(&redis, &["inspect", "stream", &scene.key])
        .ok()
        .stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("length") || l.trim_start().starts_with("length")),
        "{table}"
    );
    assert!(table.contains(&scene.ids[9]), "{table}");
}

#[test]
fn groups_view_reports_lag_and_oldest_undelivered() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "G1");
    fixtures::create_group(&redis, &scene.key, "analytics");
    let cli = Agentctl::new();
    let json = cli
        .redis(&redis, &["inspect", "groups", &scene.key, "--json"])
        .ok()
        .json();
    let groups = json["groups"].as_array().unwrap();
    let notifications = groups
        .iter()
        .find(|g| g["name"] == "notifications")
        .unwrap();
    assert_eq!(notifications["consumers"], 2);
    assert_eq!(notifications["pending"], 5);
    assert_eq!(notifications["last_delivered_id"], scene.ids[6].as_str());
    assert_eq!(notifications["entries_read"], 7);
    assert_eq!(notifications["lag"], 3);
    assert_eq!(notifications["lag_estimated"], false);
    assert_eq!(
        notifications["oldest_undelivered_id"],
        scene.ids[7].as_str()
    );
    let analytics = groups.iter().find(|g| g["name"] == "analytics").unwrap();
    assert_eq!(analytics["lag"], 10);
    assert_eq!(analytics["oldest_undelivered_id"], scene.ids[0].as_str());

    // A deletion after the groups' positions makes Redis report no lag: we count it.
    let _: i64 = redis.cmd(&["XDEL", &scene.key, &scene.ids[8]]);
    let json = cli
        .redis(&redis, &["inspect", "groups", &scene.key, "--json"])
        .ok()
        .json();
    let group = |name: &str| {
        json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(group("notifications")["lag"], 2, "{json}");
    assert_eq!(group("notifications")["lag_estimated"], true);
    assert_eq!(group("analytics")["lag"], 9, "{json}");
    assert_eq!(group("analytics")["lag_estimated"], true);
    let streams = cli
        .redis(&redis, &["inspect", "streams", "--json"])
        .ok()
        .json();
    assert_eq!(streams["streams"][0]["max_lag"], 9, "{streams}");
    assert_eq!(streams["streams"][0]["lag_estimated"], true);
    let table = cli
        .redis(&redis, &["inspect", "groups", &scene.key])
        .ok()
        .stdout;
    assert!(table.contains("(estimated)"), "{table}");
}

#[test]
fn consumers_view_classifies_dead_consumers() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "C1");
    let cli = Agentctl::new();
    // A fresh read keeps the live consumer active; the dead one was last seen
    // during the scene set-up. Wait until it is idle past a short threshold.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fixtures::read(&redis, &scene.key, "notifications", LIVE_CONSUMER, 1);
    let json = cli
        .redis(
            &redis,
            &[
                "inspect",
                "consumers",
                &scene.key,
                "--group",
                "notifications",
                "--dead-after",
                "1s",
                "--json",
            ],
        )
        .ok()
        .json();
    let rows = json["consumers"].as_array().unwrap();
    let dead = rows.iter().find(|c| c["name"] == DEAD_CONSUMER).unwrap();
    assert_eq!(dead["pending"], 4);
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["oldest_pending_id"], scene.dead_pending[0].as_str());
    assert_eq!(dead["max_deliveries"], 2);
    let live = rows.iter().find(|c| c["name"] == LIVE_CONSUMER).unwrap();
    assert_eq!(live["pending"], 2);
    // Just read, so not dead; whether it is "active" (idle < 100ms) depends on
    // how fast the binary starts, which the status unit test covers instead.
    assert_ne!(live["status"], "dead");
    assert_eq!(live["max_deliveries"], 1);

    let table = cli
        .redis(
            &redis,
            &["inspect", "consumers", &scene.key, "--dead-after", "1s"],
        )
        .ok()
        .stdout;
    assert!(
        table
            .lines()
            .any(|l| l.contains(DEAD_CONSUMER) && l.contains("dead")),
        "{table}"
    );
}

#[test]
fn pending_view_prints_the_claim_command_that_recovers() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "P1");
    let cli = Agentctl::new();
    let json = cli
        .redis(&redis, &["inspect", "pending", "--sdk-key", "P1", "--json"])
        .ok()
        .json();
    assert_eq!(json["group"], "notifications");
    assert_eq!(json["summary"]["count"], 5);
    assert_eq!(json["summary"]["smallest_id"], scene.ids[0].as_str());
    assert_eq!(json["entries"].as_array().unwrap().len(), 5);
    assert_eq!(json["entries"][0]["consumer"], DEAD_CONSUMER);
    assert_eq!(json["entries"][0]["deliveries"], 2);
    assert_eq!(json["claimable"], 4);
    let command = json["claim_command"].as_str().unwrap();
    assert_eq!(
        command,
        format!(
            "agentctl claim {} --group notifications --to {LIVE_CONSUMER} --min-idle 1m",
            scene.key
        )
    );

    // The printed command works as printed.
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    cli.redis(&redis, &words).ok();
    let pending: redis::Value = redis.cmd(&["XPENDING", &scene.key, "notifications"]);
    let redis::Value::Array(summary) = pending else {
        panic!()
    };
    assert_eq!(summary[0], redis::Value::Int(5));
    let owners = format!("{:?}", summary[3]);
    assert!(!owners.contains(DEAD_CONSUMER), "{owners}");

    let filtered = cli
        .redis(
            &redis,
            &[
                "inspect",
                "pending",
                &scene.key,
                "--consumer",
                LIVE_CONSUMER,
                "--count",
                "2",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(filtered["summary"]["count"], 5);
    assert_eq!(filtered["entries"].as_array().unwrap().len(), 2);

    let table = cli
        .redis(
            &redis,
            &["inspect", "pending", &scene.key, "--min-idle", "1h"],
        )
        .ok()
        .stdout;
    assert!(
        table.contains("5 pending in group notifications"),
        "{table}"
    );
    assert!(table.contains("no entry idle for 1h or more"), "{table}");
}

#[test]
fn len_and_watch() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "L1");
    let cli = Agentctl::new();
    assert_eq!(
        cli.redis(&redis, &["inspect", "len", &scene.key])
            .ok()
            .stdout
            .trim(),
        "10"
    );
    let json = cli
        .redis(&redis, &["inspect", "len", "--sdk-key", "L1", "--json"])
        .ok()
        .json();
    assert_eq!(json, serde_json::json!({"stream": scene.key, "length": 10}));

    // --watch re-renders until interrupted: read two JSON lines, then stop it.
    let addr = redis.addr();
    let mut child = cli
        .command(&[
            "--redis", &addr, "inspect", "len", &scene.key, "--json", "--watch", "100ms",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().unwrap().unwrap();
    fixtures::add_decisions(&redis, &scene.key, 1);
    let later = crate::harness::wait_until(std::time::Duration::from_secs(5), || {
        let line = lines.next()?.ok()?;
        line.contains("11").then_some(line)
    });
    // Ctrl-C ends the watch with the code shells expect.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(first.contains(r#""length":10"#), "{first}");
    assert!(later.contains(r#""length":11"#), "{later}");
}

#[tokio::test]
async fn bare_inspect_pending_reads_the_stream_of_the_only_datafile() {
    let redis = RedisServer::start();
    let serve = Serve::builder()
        .global_arg("--redis")
        .global_arg(&redis.addr())
        .start();
    let stream = fixtures::stream("demo");
    eventually(std::time::Duration::from_secs(10), || {
        let (serve, redis, stream) = (&serve, &redis, &stream);
        async move {
            decide_demo(serve, "user-1").await;
            (redis.cmd::<u64>(&["XLEN", stream]) > 0).then_some(())
        }
    })
    .await;
    let cli = Agentctl::new().with_checkout(&format!(
        "synchronization:\n  pubsub:\n    redis:\n      host: \"{}\"\n",
        redis.addr()
    ));
    let run = cli.run(&["inspect", "pending"]).ok();
    assert_eq!(
        run.stderr,
        "agentctl: using SDK key \"demo\" (the only datafile in ./datafiles)\n"
    );
    assert!(
        run.stdout
            .starts_with("0 pending: stream:optimizely-sync-demo has no consumer group\n"),
        "{}",
        run.stdout
    );

    // A durable group's unacknowledged entries are what it is for.
    fixtures::create_group(&redis, &stream, "notifications");
    fixtures::read(&redis, &stream, "notifications", LIVE_CONSUMER, 1);
    let json = cli.run(&["inspect", "pending", "--json"]).ok().json();
    assert_eq!(json["group"], "notifications");
    assert_eq!(json["summary"]["count"], 1);

    // REDIS_URL names the Redis when no flag and no config does.
    let by_env = Agentctl::new().env("REDIS_URL", &redis.url());
    let run = by_env.run(&["inspect", "len", "--sdk-key", "demo"]).ok();
    assert_ne!(run.stdout.trim(), "0");
}

#[test]
fn bare_inspect_pending_against_an_unsynced_serve_says_what_to_do() {
    // The Redis is empty: the serve it belongs to keeps notifications in memory.
    let redis = RedisServer::start();
    let cli = Agentctl::new().with_checkout(&format!(
        "synchronization:\n  pubsub:\n    redis:\n      host: \"{}\"\n",
        redis.addr()
    ));
    let run = cli.run(&["inspect", "pending"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert_eq!(
        lines[1],
        format!(
            "agentctl: stream \"stream:optimizely-sync-demo\" does not exist: nothing is in \
             Redis at {addr} for this SDK key; `agentctl serve` writes notifications to Redis only \
             when it runs with --redis (or synchronization.notification.enable), so start it as \
             `agentctl --redis {addr} serve` and make a decision first",
            addr = redis.addr()
        )
    );
}
