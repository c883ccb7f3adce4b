//! Notification sync between `serve` instances through a real Redis (DESIGN §3, §8):
//! several instances in one test, broadcast to every subscriber of every instance,
//! resume on another instance after a kill -9, Redis restarted mid-burst, corrupt and
//! upstream-written entries, SDK-key isolation, and the Pub/Sub fallback for a Redis
//! that reports a version below 5 (through [`VersionProxy`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::proxy::VersionProxy;
use crate::harness::serve::{
    DEMO_KEY, REF_KEY, Reply, STEP_TIMEOUT, Serve, Sse, SseEvent, decide_demo, eventually,
    eventually_or, sync_config, user_of,
};
use crate::harness::topology::query;
use crate::harness::{RedisCluster, RedisServer, SentinelSet, Topology};

/// The demo stream every decision for `demo` is XADDed to.
const DEMO_STREAM: &str = "stream:optimizely-sync-demo";

/// How long a whole collection of events may take before the test fails (the SSE
/// reader also fails on any [`STEP_TIMEOUT`] of silence).
const COLLECT_TIMEOUT: Duration = Duration::from_secs(20);

/// `n` instances syncing through `host`.
fn instances(n: usize, host: &str, transport: &str) -> Vec<Serve> {
    (0..n)
        .map(|_| Serve::start(&sync_config(host, transport)))
        .collect()
}

/// A stream id `ms-seq` as a comparable pair.
#[track_caller]
fn parse_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("not a stream id: {id:?}"));
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[track_caller]
fn assert_increasing(ids: &[String], who: &str) {
    for pair in ids.windows(2) {
        assert!(
            parse_id(&pair[0]) < parse_id(&pair[1]),
            "{who}: ids not strictly increasing: {} then {}",
            pair[0],
            pair[1]
        );
    }
}

/// Reads `n` events from `sse` in a task of its own (so every subscriber drains
/// while requests are sent); gives the reader back with the events.
fn collect(mut sse: Sse, n: usize) -> tokio::task::JoinHandle<(Sse, Vec<SseEvent>)> {
    tokio::spawn(async move {
        let mut events = Vec::with_capacity(n);
        let read = async {
            while events.len() < n {
                events.push(sse.next_event().await);
            }
        };
        if tokio::time::timeout(COLLECT_TIMEOUT, read).await.is_err() {
            panic!(
                "only {} of {n} events within {COLLECT_TIMEOUT:?}",
                events.len()
            );
        }
        (sse, events)
    })
}

/// The ids in `stream`, oldest first.
fn stream_ids(redis: &dyn Topology, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = query(redis, &["XRANGE", stream, "-", "+"]);
    reply.ids.into_iter().map(|entry| entry.id).collect()
}

fn ids(events: &[SseEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// The sum of every sample whose name contains `part` in a Prometheus text body.
fn metric_sum(text: &str, part: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains(part))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// `GET /v1/notifications/event-stream{query}` with `Last-Event-ID`, read whole (for
/// the answers that are errors, not streams).
async fn stream_request(serve: &Serve, query: &str, last_event_id: Option<&str>) -> Reply {
    let mut request = serve
        .http()
        .get(format!(
            "{}/v1/notifications/event-stream{query}",
            serve.api
        ))
        .header("x-optimizely-sdk-key", DEMO_KEY);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    tokio::time::timeout(STEP_TIMEOUT, serve.send(request))
        .await
        .expect("an answer, not a stream")
}

/// Sends a marker decision and asserts it is the next event of every reader: no
/// event arrived between the last one counted and the marker.
async fn assert_next_is_marker(serve: &Serve, readers: &mut [Sse], marker: &str) {
    decide_demo(serve, marker).await;
    for (i, sse) in readers.iter_mut().enumerate() {
        let event = sse.next_event().await;
        assert_eq!(
            user_of(&event),
            marker,
            "subscriber {i}: an extra event arrived before the marker: {event:?}"
        );
    }
}

// (a) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_of_every_instance_receives_every_decision() {
    broadcast(&RedisServer::start(), 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_receives_every_decision_on_a_cluster() {
    broadcast(&RedisCluster::start(), 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_receives_every_decision_on_sentinel() {
    broadcast(&SentinelSet::start(), 300).await;
}

/// Three instances on `redis`, two subscribers each: every subscriber gets every
/// one of `decisions` decisions, with the stream's ids, in the same order.
async fn broadcast(redis: &dyn Topology, decisions: usize) {
    let servers = instances(3, &redis.host(), "redis");
    let mut collectors = Vec::new();
    for serve in &servers {
        for _ in 0..2 {
            collectors.push(collect(
                Sse::open(serve, DEMO_KEY, "", None).await,
                decisions,
            ));
        }
    }

    let users: Vec<String> = (0..decisions).map(|i| format!("user-{i}")).collect();
    futures_util::stream::iter(users.iter().enumerate())
        .for_each_concurrent(16, |(i, user)| {
            decide_demo(&servers[i % servers.len()], user)
        })
        .await;

    let mut readers = Vec::new();
    let mut sequences = Vec::new();
    for (i, collector) in collectors.into_iter().enumerate() {
        let (sse, events) = collector.await.unwrap();
        let who = format!("subscriber {i} (instance {})", i / 2);
        let got: HashSet<String> = events.iter().map(user_of).collect();
        let want: HashSet<String> = users.iter().cloned().collect();
        assert_eq!(got.len(), decisions, "{who}: duplicate decisions");
        assert_eq!(got, want, "{who}: not the decisions sent");
        let ids = ids(&events);
        assert_increasing(&ids, &who);
        sequences.push(ids);
        readers.push(sse);
    }
    for (i, sequence) in sequences.iter().enumerate().skip(1) {
        assert_eq!(
            *sequence, sequences[0],
            "subscriber {i} saw another id sequence than subscriber 0"
        );
    }
    assert_eq!(
        stream_ids(redis, DEMO_STREAM),
        sequences[0],
        "the ids are the stream's entry ids"
    );
    assert_next_is_marker(&servers[1], &mut readers, "marker").await;
}

// (b) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_of_a_killed_instance_resumes_on_another_without_gap() {
    resume_after_kill(&RedisServer::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_resumes_on_another_instance_on_a_cluster() {
    resume_after_kill(&RedisCluster::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_resumes_on_another_instance_on_sentinel() {
    resume_after_kill(&SentinelSet::start()).await;
}

/// A subscriber of an instance killed with -9 resumes with `Last-Event-ID` on
/// another instance: no gap, no duplicate, in order: on `redis`.
async fn resume_after_kill(redis: &dyn Topology) {
    let mut servers = instances(2, &redis.host(), "redis");
    let survivor = Arc::new(servers.pop().unwrap());
    let victim = servers.pop().unwrap();
    let mut first = Sse::open(&victim, DEMO_KEY, "", None).await;

    // The first half is sent, and the victim is killed while its subscriber is still
    // reading it; the second half is sent while the subscriber reconnects.
    for i in 0..100 {
        decide_demo(&survivor, &format!("user-{i}")).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 20 {
        seen.push(first.next_event().await);
    }
    let status = std::process::Command::new("kill")
        .args(["-KILL", &victim.pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {}", victim.pid);
    let sender = {
        let survivor = Arc::clone(&survivor);
        tokio::spawn(async move {
            for i in 100..200 {
                decide_demo(&survivor, &format!("user-{i}")).await;
            }
        })
    };
    while let Some(event) = first.next_event_or_end().await {
        seen.push(event);
    }
    let last = seen.last().unwrap().id.clone();
    let second = Sse::open(&survivor, DEMO_KEY, "", Some(&last)).await;
    sender.await.unwrap();

    // Publishing is asynchronous: a 200 from decide may come before its XADD.
    let redis_ref = redis;
    let stream = eventually_or(STEP_TIMEOUT, || async move {
        let ids = stream_ids(redis_ref, DEMO_STREAM);
        (ids.len() >= 200).then_some(ids)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the stream holds {} of 200 decisions",
            stream_ids(redis, DEMO_STREAM).len()
        )
    });
    assert_eq!(stream.len(), 200, "no decision stored twice");
    let position = stream
        .iter()
        .position(|id| *id == last)
        .unwrap_or_else(|| panic!("last id seen {last} is not in the stream"));
    let missing = stream.len() - position - 1;
    let (second, resumed) = collect(second, missing).await.unwrap();
    let mut union = ids(&seen);
    union.extend(ids(&resumed));
    assert_eq!(
        union,
        stream,
        "before the kill: {} events, after resuming from {last}: {}",
        seen.len(),
        resumed.len()
    );
    let users: Vec<String> = seen.iter().chain(&resumed).map(user_of).collect();
    let want: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    assert_eq!(users, want, "decisions in the order they were made");
    assert_next_is_marker(&survivor, &mut [second], "marker").await;
}

// (c) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_made_while_redis_is_down_are_published_after_it_restarts() {
    // Every write is on disk before Redis answers, so a kill -9 loses nothing
    // acknowledged: what is missing afterwards was lost by agentctl.
    let redis_args = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut redis = RedisServer::start_with(&redis_args);
    let servers = instances(2, &redis.addr(), "redis");
    let subscriber = Sse::open(&servers[0], DEMO_KEY, "", None).await;
    let collector = collect(subscriber, 150);

    for i in 0..50 {
        decide_demo(&servers[i % 2], &format!("user-{i}")).await;
    }
    // Nothing in flight when Redis dies (a publish lost between XADD and its reply
    // would be retried and stored twice: that is not what this test is about).
    let redis_ref = &redis;
    eventually(STEP_TIMEOUT, || async move {
        (stream_ids(redis_ref, DEMO_STREAM).len() == 50).then_some(())
    })
    .await;
    redis.stop();
    for i in 50..100 {
        decide_demo(&servers[i % 2], &format!("user-{i}")).await;
    }
    // The outage outlasts the retry policy's whole backoff (3 retries, 50-200 ms).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 100..120 {
        decide_demo(&servers[i % 2], &format!("user-{i}")).await;
    }
    redis.restart_with(&redis_args);
    for i in 120..150 {
        decide_demo(&servers[i % 2], &format!("user-{i}")).await;
    }

    let redis_ref = &redis;
    let stored = eventually_or(Duration::from_secs(10), || async move {
        let ids = stream_ids(redis_ref, DEMO_STREAM);
        (ids.len() >= 150).then_some(ids)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the stream holds {} of 150 notifications 10 s after Redis came back\n\
             instance 0 stderr:\n{}",
            stream_ids(&redis, DEMO_STREAM).len(),
            servers[0].stderr()
        )
    });
    assert_eq!(stored.len(), 150, "no notification stored twice");
    let (mut subscriber, events) = collector.await.unwrap();
    let users: HashSet<String> = events.iter().map(user_of).collect();
    assert_eq!(users.len(), 150, "the subscriber got duplicates");
    let got = ids(&events);
    assert_increasing(&got, "subscriber");
    assert_eq!(got, stored, "the subscriber saw the stream's entries");
    assert_next_is_marker(&servers[1], std::slice::from_mut(&mut subscriber), "marker").await;

    // The publisher's metrics tell the story: its connection was re-opened, and the
    // notifications made during the outage waited more than a second for Redis.
    // (Counted when the XADD reply arrives, a moment after the entry is readable.)
    let serve = &servers[0];
    let metrics = eventually(STEP_TIMEOUT, || async move {
        let url = format!("{}/metrics", serve.admin);
        let body = serve.send(serve.http().get(url)).await.body;
        (metric_sum(&body, "agentctl_redis_streams_published_total") == Some(75.0)).then_some(body)
    })
    .await;
    let value = |name: &str| {
        metric_sum(&metrics, name).unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    let published = value("agentctl_redis_streams_published_total");
    assert!(
        value("agentctl_redis_streams_reconnects_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("agentctl_redis_streams_publish_errors_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(value("agentctl_redis_streams_dropped_total"), 0.0);
    assert_eq!(value("agentctl_redis_streams_batch_size_sum"), published);
    assert_eq!(
        value("agentctl_redis_streams_batch_size_count"),
        value("agentctl_redis_streams_batches_total")
    );
    let latency = "agentctl_redis_streams_publish_latency_seconds";
    assert_eq!(value(&format!("{latency}_count")), published);
    let within_a_second = value(&format!("{latency}_bucket{{le=\"1.0\"}}"));
    assert!(
        within_a_second <= published - 25.0,
        "the 25 decisions of the outage's first half waited over a second\n{metrics}"
    );
}

// (e) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_older_than_5_gets_pubsub_broadcast_without_resume() {
    let redis = RedisServer::start();
    let proxy = VersionProxy::start(&redis.addr(), "4.0.14");
    let servers = instances(2, &proxy.addr(), "redis");
    for serve in &servers {
        let log = serve.stderr();
        assert!(
            log.contains("Redis Streams not supported - will use Pub/Sub for notifications"),
            "the seeds' detection line is logged:\n{log}"
        );
    }
    assert_pubsub_broadcast(&redis, &servers).await;
    drop(proxy);
}

/// Two instances in Pub/Sub mode: a decision on either reaches the subscribers of
/// both, no stream is written, and `Last-Event-ID` is refused.
async fn assert_pubsub_broadcast(redis: &dyn Topology, servers: &[Serve]) {
    let mut readers = Vec::new();
    for serve in servers {
        readers.push(Sse::open(serve, DEMO_KEY, "", None).await);
    }
    // Both instances are subscribed (one pattern subscription each) before
    // anything is published.
    eventually(STEP_TIMEOUT, || async move {
        (redis.pattern_subscribers() >= 2).then_some(())
    })
    .await;

    for (i, serve) in servers.iter().enumerate() {
        let user = format!("from-{i}");
        decide_demo(serve, &user).await;
        for (j, sse) in readers.iter_mut().enumerate() {
            let event = sse.next_event().await;
            assert_eq!(user_of(&event), user, "subscriber of instance {j}");
        }
    }
    let exists: i64 = query(redis, &["EXISTS", DEMO_STREAM]);
    assert_eq!(exists, 0, "nothing was written to a stream");
    // Each instance published its one decision, as one batch of one.
    for serve in servers {
        let metrics = eventually(STEP_TIMEOUT, || async move {
            let url = format!("{}/metrics", serve.admin);
            let body = serve.send(serve.http().get(url)).await.body;
            (metric_sum(&body, "agentctl_redis_pubsub_published_total") == Some(1.0))
                .then_some(body)
        })
        .await;
        for name in [
            "agentctl_redis_pubsub_batch_size_sum",
            "agentctl_redis_pubsub_publish_latency_seconds_count",
            "agentctl_sse_subscribers{hub=\"redis-pubsub\"}",
        ] {
            assert_eq!(metric_sum(&metrics, name), Some(1.0), "{name}\n{metrics}");
        }
    }

    let reply = stream_request(&servers[0], "", Some("1700000000000-0")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.to_lowercase().contains("pub/sub"),
        "the error says Pub/Sub keeps no history: {}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_can_be_forced_on_a_redis_with_streams() {
    let redis = RedisServer::start();
    let servers = instances(2, &redis.addr(), "redis-pubsub");
    assert_pubsub_broadcast(&redis, &servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_broadcasts_on_a_cluster() {
    let cluster = RedisCluster::start();
    let servers = instances(2, &cluster.host(), "redis-pubsub");
    assert_pubsub_broadcast(&cluster, &servers).await;
}

// (f) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_entries_are_skipped_and_counted() {
    let redis = RedisServer::start();
    let servers = instances(1, &redis.addr(), "redis");
    let serve = &servers[0];
    let mut sse = Sse::open(serve, DEMO_KEY, "", None).await;

    decide_demo(serve, "before").await;
    assert_eq!(user_of(&sse.next_event().await), "before");
    let _: String = redis.cmd(&[
        "XADD",
        DEMO_STREAM,
        "*",
        "data",
        "notjson",
        "timestamp",
        "1",
    ]);
    let _: String = redis.cmd(&["XADD", DEMO_STREAM, "*", "other", "field"]);
    let _: String = redis.cmd(&[
        "XADD",
        DEMO_STREAM,
        "*",
        "data",
        r#"{"type":"no-such-kind","message":{}}"#,
        "timestamp",
        "1",
    ]);
    decide_demo(serve, "after").await;
    assert_eq!(user_of(&sse.next_event().await), "after");

    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await;
    assert_eq!(metrics.status, 200);
    let errors = metric_sum(&metrics.body, "decode_errors");
    assert!(
        errors.is_some_and(|n| n >= 3.0),
        "three corrupt entries counted (got {errors:?}):\n{}",
        metrics.body
    );
    let logged = serve
        .stderr()
        .matches("skipping an entry that is not a notification")
        .count();
    assert_eq!(logged, 1, "logged once for the stream:\n{}", serve.stderr());
}

// (g) -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_only_get_their_sdk_key() {
    let redis = RedisServer::start();
    let servers = instances(2, &redis.addr(), "redis");
    let mut demo = Sse::open(&servers[0], DEMO_KEY, "", None).await;
    let mut reference = Sse::open(&servers[1], REF_KEY, "", None).await;

    for i in 0..3 {
        decide_demo(&servers[1], &format!("demo-{i}")).await;
        let reply = servers[0]
            .post(
                "/v1/decide?keys=feature_1",
                REF_KEY,
                &json!({"userId": format!("ref-{i}"), "userAttributes": {"attr_1": "hola"}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for i in 0..3 {
        assert_eq!(user_of(&demo.next_event().await), format!("demo-{i}"));
        let event: Value = reference.next_event().await.json();
        assert_eq!(event["DecisionInfo"]["flagKey"], "feature_1", "{event}");
        assert_eq!(event["UserContext"]["ID"], format!("ref-{i}"), "{event}");
    }
    assert_eq!(stream_ids(&redis, DEMO_STREAM).len(), 3);
    assert_eq!(
        stream_ids(&redis, &format!("stream:optimizely-sync-{REF_KEY}")).len(),
        3
    );
}

// Upstream entries, bad ids ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_project_config_update_is_a_datafile_update() {
    let redis = RedisServer::start();
    let servers = instances(1, &redis.addr(), "redis-streams");
    let serve = &servers[0];
    let mut updates = Sse::open(serve, DEMO_KEY, "?filter=datafile-update", None).await;

    decide_demo(serve, "filtered-out").await;
    let id: String = redis.cmd(&[
        "XADD",
        DEMO_STREAM,
        "*",
        "data",
        r#"{"type":"project_config_update","message":{"Type":"project_config_update","Revision":"9"}}"#,
        "timestamp",
        "1700000000",
    ]);
    let event = updates.next_event().await;
    assert_eq!(event.id, id);
    assert_eq!(event.json()["Revision"], "9", "{}", event.data);

    let reply = stream_request(serve, "", Some("garbage")).await;
    assert_eq!(
        reply.status, 400,
        "a malformed Last-Event-ID: {}",
        reply.body
    );
    let reply = stream_request(serve, "?lastEventId=12-x", None).await;
    assert_eq!(reply.status, 400, "a malformed lastEventId: {}", reply.body);
}

/// With `synchronization.datafile.enable`, a webhook on one instance makes the others
/// re-read their datafile: instance B's file changes, the webhook is called on A.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_on_one_instance_refreshes_the_others() {
    webhook_refreshes_the_others(&RedisServer::start()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_refreshes_the_other_instances_on_a_cluster() {
    webhook_refreshes_the_others(&RedisCluster::start()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_refreshes_the_other_instances_on_sentinel() {
    webhook_refreshes_the_others(&SentinelSet::start()).await;
}

/// Datafile sync through `redis`: a webhook on one instance refreshes another.
async fn webhook_refreshes_the_others(redis: &dyn Topology) {
    let config = format!(
        r#"
synchronization:
  datafile: {{enable: true, default: "redis"}}
  pubsub: {{redis: {{host: "{}"}}}}
webhook:
  projects:
    20000001: {{sdkKeys: [demo], skipSignatureCheck: true}}
"#,
        redis.host()
    );
    let a = Serve::start(&config);
    let b = Serve::start(&config);
    assert_eq!(b.get("/v1/config", DEMO_KEY).await.json()["revision"], "1");
    // Both instances listen on the datafile channel before the webhook fires.
    eventually(STEP_TIMEOUT, || async {
        (redis.pattern_subscribers() >= 2).then_some(())
    })
    .await;
    let path = b.datafiles().join("demo.json");
    let mut datafile: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    datafile["revision"] = json!("2");
    std::fs::write(&path, serde_json::to_vec_pretty(&datafile).unwrap()).unwrap();
    let body =
        serde_json::to_vec(&json!({"project_id": 20000001, "event": "project.datafile_updated"}))
            .unwrap();
    let reply = a
        .send(
            a.http()
                .post(format!("{}/webhooks/optimizely", a.webhook))
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    eventually(STEP_TIMEOUT, || async {
        (b.get("/v1/config", DEMO_KEY).await.json()["revision"] == "2").then_some(())
    })
    .await;
    // A's own file did not change.
    assert_eq!(a.get("/v1/config", DEMO_KEY).await.json()["revision"], "1");
}

/// `serve --redis ADDR` alone (no sync keys in the config) syncs through that Redis.
#[tokio::test(flavor = "multi_thread")]
async fn the_redis_flag_turns_sync_on() {
    let redis = RedisServer::start();
    let serve = Serve::builder()
        .global_arg("--redis")
        .global_arg(&redis.addr())
        .start();
    decide_demo(&serve, "flagged").await;
    eventually(STEP_TIMEOUT, || async {
        let len: i64 = redis.cmd(&["XLEN", DEMO_STREAM]);
        (len == 1).then_some(())
    })
    .await;
    assert!(
        serve.stderr().contains("redis-streams"),
        "{}",
        serve.stderr()
    );
}

/// A resume with nothing to replay says `caught-up` at once (not at the next event).
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_replay_is_caught_up_at_once() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis-streams"));
    let mut sse = Sse::open(&serve, DEMO_KEY, "", Some("0-0")).await;
    assert_eq!(sse.next_line().await, ": caught-up 0-0");
}

/// Calls of `command` so far, from `INFO commandstats`.
fn command_calls(redis: &RedisServer, command: &str) -> u64 {
    let info: String = redis.cmd(&["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix)?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// A reconnect storm: 200 subscribers of an instance killed with -9 resume at once
/// on another one (which had no subscriber of the key, so its window starts at the
/// stream's end) while decisions keep coming. Each gets exactly the entries after
/// its own id, and Redis serves far fewer XRANGE calls than there are resumes:
/// concurrent resumes of one range share a read, and a later one is served from
/// the window it extended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnect_storm_costs_redis_reads_per_range_not_per_subscriber() {
    const SUBSCRIBERS: usize = 200;
    const BEFORE: usize = 30;
    const AFTER: usize = 30;
    let redis = RedisServer::start();
    let mut servers = instances(2, &redis.addr(), "redis");
    let survivor = Arc::new(servers.pop().unwrap());
    let victim = servers.pop().unwrap();
    let opened = futures_util::future::join_all(
        (0..SUBSCRIBERS).map(|_| Sse::open(&victim, DEMO_KEY, "", None)),
    )
    .await;
    for i in 0..BEFORE {
        decide_demo(&survivor, &format!("user-{i}")).await;
    }
    // Subscribers stop at five different points, as if the kill caught them mid-read.
    let read = opened.into_iter().enumerate().map(|(i, sse)| {
        tokio::spawn(async move {
            let (_sse, events) = collect(sse, BEFORE - i % 5).await.unwrap();
            events
        })
    });
    let seen: Vec<Vec<SseEvent>> = futures_util::future::try_join_all(read).await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &victim.pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {}", victim.pid);

    let xrange_before = command_calls(&redis, "xrange");
    let sender = {
        let survivor = Arc::clone(&survivor);
        tokio::spawn(async move {
            for i in BEFORE..BEFORE + AFTER {
                decide_demo(&survivor, &format!("user-{i}")).await;
            }
        })
    };
    let resumed = futures_util::future::join_all(seen.iter().map(|events| {
        let last = events.last().unwrap().id.clone();
        let survivor = Arc::clone(&survivor);
        async move { Sse::open(&survivor, DEMO_KEY, "", Some(&last)).await }
    }))
    .await;
    let xrange_storm = command_calls(&redis, "xrange") - xrange_before;
    sender.await.unwrap();

    let stream = eventually_or(STEP_TIMEOUT, || async {
        let ids = stream_ids(&redis, DEMO_STREAM);
        (ids.len() >= BEFORE + AFTER).then_some(ids)
    })
    .await
    .expect("every decision in the stream");
    assert_eq!(stream.len(), BEFORE + AFTER, "no decision stored twice");
    let (late_id, late_missing) = (
        seen[0].last().unwrap().id.clone(),
        stream.len() - seen[0].len(),
    );
    let readers = seen.into_iter().zip(resumed).map(|(before, sse)| {
        let stream = stream.clone();
        tokio::spawn(async move {
            let missing = stream.len() - before.len();
            let (_sse, after) = collect(sse, missing).await.unwrap();
            let mut union = ids(&before);
            union.extend(ids(&after));
            assert_eq!(union, stream, "resumed after {}", before.len());
        })
    });
    futures_util::future::try_join_all(readers).await.unwrap();
    assert!(
        xrange_storm <= 30,
        "{xrange_storm} XRANGE calls for {SUBSCRIBERS} resumes of 5 different ids"
    );
    // The storm's resumes may all have shared the five reads (they arrived while
    // those were in flight); one resume after them is served from the window the
    // reads extended, without Redis.
    let xrange_late = command_calls(&redis, "xrange");
    let late = Sse::open(&survivor, DEMO_KEY, "", Some(&late_id)).await;
    let (_sse, after) = collect(late, late_missing).await.unwrap();
    assert_eq!(after.len(), late_missing, "the late resume's replay");
    assert_eq!(
        command_calls(&redis, "xrange"),
        xrange_late,
        "the late resume read Redis"
    );
    let url = format!("{}/metrics", survivor.admin);
    let metrics = survivor.send(survivor.http().get(url)).await.body;
    let from_memory = metric_sum(&metrics, "resumes_from_memory").unwrap_or(0.0);
    assert!(
        from_memory > 0.0,
        "no resume served from memory:\n{metrics}"
    );
}
