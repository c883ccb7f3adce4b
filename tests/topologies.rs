//! Redis Cluster and Sentinel beyond the shared broadcast/resume/group tests
//! (those run on every topology in `sync` and `groups`): fail-overs during a
//! `burst --verify` lose nothing, a resume id newer than the stream (writes
//! lost by a fail-over) gets a `reset` event, and so do the live subscribers of
//! a reader whose delivered entries a fail-over lost; `WAIT` per publish batch
//! counts the batches replicas did not acknowledge; the operator commands see
//! the streams of every primary.

use std::time::Duration;

use crate::harness::serve::{
    DEMO_KEY, Serve, Sse, decide_demo, eventually, sample, sync_config, user_of,
};
use crate::harness::topology::query;
use crate::harness::{Agentctl, RedisCluster, RedisServer, SentinelSet, Topology};

const DEMO_STREAM: &str = "stream:optimizely-sync-demo";

/// Runs `burst --verify` for `seconds` at a steady rate against `servers[0]`,
/// with a subscriber on each instance, calling `fault` once the run is under
/// way; returns the JSON report, failing unless the run passed.
fn burst_through(servers: &[Serve], seconds: u64, fault: impl FnOnce()) -> serde_json::Value {
    let duration = format!("{seconds}s");
    let mut args = vec![
        "burst",
        "--url",
        &servers[0].api,
        "--sdk-key",
        DEMO_KEY,
        "--flags",
        "promo_banner",
        "--rate",
        "40",
        "--duration",
        &duration,
        "--verify",
        "--subscribers",
        "2",
        "--json",
    ];
    for serve in servers {
        args.extend(["--subscribe-url", &serve.api]);
    }
    let run = std::thread::scope(|scope| {
        let burst = scope.spawn(|| Agentctl::new().run(&args));
        std::thread::sleep(Duration::from_secs(seconds / 3));
        fault();
        burst.join().unwrap()
    });
    assert_eq!(
        run.code,
        0,
        "burst --verify failed\n{}\n{}\nserve 0:\n{}",
        run.stdout,
        run.stderr,
        servers[0].stderr()
    );
    let report = run.json();
    assert_eq!(report["verify"]["lost"], 0, "{report}");
    assert_eq!(report["verify"]["duplicated"], 0, "{report}");
    report
}

fn instances(redis: &dyn Topology, n: usize) -> Vec<Serve> {
    (0..n)
        .map(|_| Serve::start(&sync_config(&redis.host(), "redis")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_during_burst_verify_loses_nothing() {
    let mut set = SentinelSet::start();
    let servers = instances(&set, 2);
    let old = set.primary_port();
    let report = burst_through(&servers, 12, || set.kill_primary());
    assert_ne!(
        set.primary_port(),
        old,
        "the sentinels promoted the replica"
    );
    let stored: usize = query(&set, &["XLEN", DEMO_STREAM]);
    let sent = report["requests"].as_u64().unwrap_or_default();
    assert!(
        stored as u64 >= sent,
        "the new primary holds every notification: {stored} of {sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failover_during_burst_verify_loses_nothing() {
    let cluster = RedisCluster::start();
    let servers = instances(&cluster, 2);
    let primary = cluster.primary_of(DEMO_STREAM);
    burst_through(&servers, 12, || {
        // The replica of the stream's primary takes over (CLUSTER FAILOVER on it).
        let replica = cluster.replica_of(primary);
        let _: String = query(&cluster.nodes[replica], &["CLUSTER", "FAILOVER"]);
        eventually_blocking(|| cluster.holder_of(DEMO_STREAM) == Some(replica));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cluster_primary_during_burst_verify_loses_nothing() {
    let mut cluster = RedisCluster::start();
    let servers = instances(&cluster, 2);
    let primary = cluster.primary_of(DEMO_STREAM);
    let replica = cluster.replica_of(primary);
    let report = burst_through(&servers, 15, || {
        cluster.nodes[primary].stop();
        eventually_blocking(|| cluster.holder_of(DEMO_STREAM) == Some(replica));
    });
    let stored: usize = query(&cluster, &["XLEN", DEMO_STREAM]);
    let sent = report["requests"].as_u64().unwrap_or_default();
    assert!(stored as u64 >= sent, "{stored} of {sent} stored");
}

/// Polls `check` (a blocking Redis check) for up to 30 s.
fn eventually_blocking(mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "fail-over within 30s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_id_newer_than_the_stream_gets_reset_not_a_silent_gap() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis-streams"));
    for i in 0..3 {
        decide_demo(&serve, &format!("user-{i}")).await;
    }
    let redis_ref = &redis;
    eventually(Duration::from_secs(10), || async move {
        let len: usize = redis_ref.cmd(&["XLEN", DEMO_STREAM]);
        (len == 3).then_some(())
    })
    .await;
    let ids: Vec<String> = {
        let reply: redis::streams::StreamRangeReply =
            query(&redis, &["XRANGE", DEMO_STREAM, "-", "+"]);
        reply.ids.into_iter().map(|e| e.id).collect()
    };
    // What a replica that had not received the last two writes holds after
    // taking over: the stream up to the first entry.
    let _: i64 = redis.cmd(&["XDEL", DEMO_STREAM, &ids[1], &ids[2]]);
    let _: String = redis.cmd(&["XSETID", DEMO_STREAM, &ids[0]]);

    let response = serve
        .http()
        .get(format!("{}/v1/notifications/event-stream", serve.api))
        .header("x-optimizely-sdk-key", DEMO_KEY)
        .header("last-event-id", &ids[2])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut response = response;
    let mut text = String::new();
    decide_demo(&serve, "after-failover").await;
    let read = async {
        while !text.contains("after-failover") {
            let chunk = response.chunk().await.unwrap().expect("stream open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("no new decision after the reset; got {text:?}"));
    let reset = text
        .find("event: reset")
        .unwrap_or_else(|| panic!("{text}"));
    let decision = text.find("after-failover").unwrap();
    assert!(reset < decision, "reset comes first: {text}");
    assert!(
        text.contains(&ids[2]),
        "the reset names the resume id: {text}"
    );
    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await
        .body;
    assert!(
        metrics.contains("agentctl_redis_streams_rollbacks_total 1"),
        "{metrics}"
    );
}

/// Waits until `redis` holds `n` entries in the demo stream.
async fn demo_stream_holds(redis: &RedisServer, n: usize) {
    eventually(Duration::from_secs(10), || async move {
        let len: usize = redis.cmd(&["XLEN", DEMO_STREAM]);
        (len == n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_over_that_lost_delivered_writes_resets_the_live_subscribers() {
    let mut primary = RedisServer::start();
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    let serve = Serve::start(&sync_config(&primary.addr(), "redis-streams"));
    let mut sse = Sse::open(&serve, DEMO_KEY, "", None).await;
    decide_demo(&serve, "kept").await;
    let kept = sse.next_event().await;
    assert_eq!(user_of(&kept), "kept");
    demo_stream_holds(&replica, 1).await;

    // The replica stops receiving the primary's writes before the last two,
    // which the subscriber gets all the same (the reader reads the primary)...
    let _: String = replica.cmd(&["REPLICAOF", "NO", "ONE"]);
    for user in ["lost-1", "lost-2"] {
        decide_demo(&serve, user).await;
        assert_eq!(user_of(&sse.next_event().await), user);
    }
    // ...then the primary dies and the replica takes over at its address (what a
    // virtual IP or DNS fail-over does): the last two writes are gone.
    let _: String = replica.cmd(&["SAVE"]);
    std::fs::copy(
        replica.dir().join("dump.rdb"),
        primary.dir().join("dump.rdb"),
    )
    .unwrap();
    primary.restart_with(&[]);
    let len: usize = primary.cmd(&["XLEN", DEMO_STREAM]);
    assert_eq!(len, 1, "the new primary lacks the last writes");

    decide_demo(&serve, "after-failover").await;
    let mut frames = Vec::new();
    let reset = loop {
        let frame = sse.next_frame().await;
        if frame.event.as_deref() == Some("reset") {
            break frame;
        }
        assert!(
            frame
                .data
                .as_deref()
                .is_none_or(|d| !d.contains("after-failover")),
            "a silent gap: the next notification came without a reset first ({frames:?})"
        );
        frames.push(frame);
    };
    let data: serde_json::Value = serde_json::from_str(reset.data.as_deref().unwrap()).unwrap();
    assert_eq!(data["lastEventId"], kept.id.as_str(), "{data}");
    assert_eq!(user_of(&sse.next_event().await), "after-failover");

    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await
        .body;
    assert_eq!(
        sample(&metrics, "agentctl_redis_streams_reader_rollbacks_total"),
        Some(1.0),
        "{metrics}"
    );
}

/// `agentctl_redis_streams_under_replicated_total` of `serve`.
async fn under_replicated(serve: &Serve) -> Option<f64> {
    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await
        .body;
    sample(&metrics, "agentctl_redis_streams_under_replicated_total")
}

/// Config for `host` with `WAIT` for `replicas` replicas per publish batch.
fn wait_config(host: &str, replicas: u32) -> String {
    format!(
        "{}      wait_replicas: {replicas}\n      wait_timeout: 200ms\n",
        sync_config(host, "redis-streams")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_per_batch_counts_what_replicas_did_not_acknowledge_and_resends_nothing() {
    let primary = RedisServer::start();
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    eventually(Duration::from_secs(10), || async {
        let info: String = primary.cmd(&["INFO", "replication"]);
        info.contains("state=online").then_some(())
    })
    .await;
    // One replica asked, one there: every batch acknowledged.
    let one = Serve::start(&wait_config(&primary.addr(), 1));
    for i in 0..3 {
        decide_demo(&one, &format!("one-{i}")).await;
    }
    demo_stream_holds(&replica, 3).await;
    assert_eq!(under_replicated(&one).await, Some(0.0), "{}", one.stderr());

    // Two asked, one there: counted, and the entries stored once all the same.
    let two = Serve::start(&wait_config(&primary.addr(), 2));
    let mut sse = Sse::open(&two, DEMO_KEY, "", None).await;
    for i in 0..3 {
        decide_demo(&two, &format!("two-{i}")).await;
        assert_eq!(user_of(&sse.next_event().await), format!("two-{i}"));
    }
    demo_stream_holds(&primary, 6).await;
    let two_ref = &two;
    eventually(Duration::from_secs(10), || async move {
        (under_replicated(two_ref).await >= Some(1.0)).then_some(())
    })
    .await;
    assert!(
        two.stderr().contains("not acknowledged by"),
        "{}",
        two.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_and_trim_see_the_streams_of_every_primary() {
    let cluster = RedisCluster::start();
    // Enough SDK keys that their streams land on every primary.
    let keys: Vec<String> = (0..12).map(|i| format!("sdk{i}")).collect();
    for key in &keys {
        for n in 0..5 {
            let _: String = query(
                &cluster,
                &[
                    "XADD",
                    &format!("stream:optimizely-sync-{key}"),
                    "*",
                    "data",
                    &format!("{{\"type\":\"decision\",\"message\":{{\"n\":{n}}}}}"),
                    "timestamp",
                    "1",
                ],
            );
        }
    }
    let holders: std::collections::HashSet<usize> = keys
        .iter()
        .map(|k| cluster.primary_of(&format!("stream:optimizely-sync-{k}")))
        .collect();
    assert_eq!(
        holders.len(),
        3,
        "the streams are spread over the primaries"
    );

    let host = cluster.host();
    let run = Agentctl::new()
        .run(&["--redis", &host, "inspect", "streams", "--json"])
        .ok();
    let view = run.json();
    let rows = view["streams"].as_array().unwrap();
    assert_eq!(rows.len(), keys.len(), "{view}");
    for row in rows {
        let key = row["key"].as_str().unwrap();
        let node = &cluster.nodes[cluster.primary_of(key)];
        assert_eq!(row["node"], node.addr().as_str(), "{row}");
        assert_eq!(row["length"], 5);
    }
    let table = Agentctl::new()
        .run(&["--redis", &host, "inspect", "streams"])
        .ok();
    assert!(table.stdout.contains("NODE"), "{}", table.stdout);

    Agentctl::new()
        .run(&[
            "--redis", &host, "trim", "--all", "--maxlen", "2", "--exact",
        ])
        .ok();
    for key in &keys {
        let len: usize = query(
            &cluster,
            &["XLEN", &format!("stream:optimizely-sync-{key}")],
        );
        assert_eq!(len, 2, "{key} trimmed");
    }
}
