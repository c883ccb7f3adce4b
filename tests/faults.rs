//! Faults that must lose or duplicate nothing silently (issue 11), with real
//! processes: a real `redis-server` that starts late, stalls (SIGSTOP) or runs out
//! of memory, real `serve` instances, and entries written by someone else that
//! must never reach SSE clients.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::RedisServer;
use crate::harness::serve::{
    DEMO_KEY, Serve, Sse, SseEvent, decide_demo, eventually, sample, sync_config, user_of,
};

/// The demo stream every decision for `demo` is XADDed to.
const DEMO_STREAM: &str = "stream:optimizely-sync-demo";

/// `GET {admin}{path}`: status and body.
async fn admin(serve: &Serve, path: &str) -> (u16, String) {
    let reply = serve
        .send(serve.http().get(format!("{}{path}", serve.admin)))
        .await;
    (reply.status, reply.body)
}

/// The Prometheus text of `/metrics`.
async fn metrics(serve: &Serve) -> String {
    let (status, body) = admin(serve, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `/ready`'s status and JSON body.
async fn ready(serve: &Serve) -> (u16, Value) {
    let (status, body) = admin(serve, "/ready").await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

/// The `hub` object of `/info`.
async fn hub_info(serve: &Serve) -> Value {
    let (status, body) = admin(serve, "/info").await;
    assert_eq!(status, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    info["hub"].clone()
}

/// Reads `n` notification events (fails on a [`crate::harness::serve::STEP_TIMEOUT`]
/// of silence).
async fn read_events(sse: &mut Sse, n: usize) -> Vec<SseEvent> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        events.push(sse.next_event().await);
    }
    events
}

/// The users of `events`, asserting each arrived once.
#[track_caller]
fn users_once(events: &[SseEvent], who: &str) -> HashSet<String> {
    let users: HashSet<String> = events.iter().map(user_of).collect();
    assert_eq!(
        users.len(),
        events.len(),
        "{who}: a notification arrived twice"
    );
    users
}

// Item 1 ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_started_before_redis_use_streams_once_it_answers() {
    const EARLY: usize = 10;
    const BURST: usize = 200;
    let mut redis = RedisServer::start();
    // The port is known and nothing listens on it: Redis is "not up yet".
    redis.stop();
    let servers: Vec<Serve> = (0..2)
        .map(|_| Serve::start(&sync_config(&redis.addr(), "redis")))
        .collect();
    for serve in &servers {
        let (status, body) = ready(serve).await;
        assert_eq!(status, 503, "not ready while undecided: {body}");
        assert_eq!(body["status"], "not ready");
        assert!(
            body["reason"].as_str().unwrap().contains("undecided"),
            "{body}"
        );
        assert_eq!(admin(serve, "/health").await.0, 200, "/health is liveness");
        assert_eq!(hub_info(serve).await["state"], "undecided");
        let body = metrics(serve).await;
        assert_eq!(
            sample(&body, "agentctl_hub_state{state=\"undecided\"}"),
            Some(1.0),
            "{body}"
        );
    }
    // Decisions made while undecided wait for Redis.
    let mut sent = Vec::new();
    for i in 0..EARLY {
        let user = format!("early-{i}");
        decide_demo(&servers[i % 2], &user).await;
        sent.push(user);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.restart_with(&[]);

    for serve in &servers {
        let (status, body) = eventually(Duration::from_secs(15), || async {
            let (status, body) = ready(serve).await;
            (status == 200).then_some((status, body))
        })
        .await;
        assert_eq!(
            (status, body),
            (200, serde_json::json!({"status": "ready"}))
        );
        let hub = hub_info(serve).await;
        assert_eq!(hub["state"], "redis-streams", "{hub}");
        assert_eq!(hub["ready"], true, "{hub}");
        let body = metrics(serve).await;
        for (state, value) in [
            ("undecided", 0.0),
            ("redis-streams", 1.0),
            ("redis-pubsub", 0.0),
        ] {
            let name = format!("agentctl_hub_state{{state=\"{state}\"}}");
            assert_eq!(sample(&body, &name), Some(value), "{name}\n{body}");
        }
        assert_eq!(
            sample(&body, "agentctl_hub_undecided_dropped_total"),
            Some(0.0),
            "{body}"
        );
        assert!(
            serve
                .stderr()
                .contains("will use Streams for notifications"),
            "{}",
            serve.stderr()
        );
    }

    // One subscriber per instance, from the start of the stream: the decisions that
    // waited, then a burst sent to both instances, each exactly once, in one order.
    let mut subscribers = Vec::new();
    for serve in &servers {
        subscribers.push(Sse::open(serve, DEMO_KEY, "", Some("0-0")).await);
    }
    for i in 0..BURST {
        let user = format!("burst-{i}");
        decide_demo(&servers[i % 2], &user).await;
        sent.push(user);
    }
    let want: HashSet<String> = sent.iter().cloned().collect();
    let mut orders = Vec::new();
    for (i, sse) in subscribers.iter_mut().enumerate() {
        let events = read_events(sse, sent.len()).await;
        let who = format!("subscriber of instance {i}");
        assert_eq!(
            users_once(&events, &who),
            want,
            "{who}: not the decisions sent"
        );
        orders.push(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    }
    assert_eq!(orders[0], orders[1], "both instances saw one stream");
    let len: usize = redis.cmd(&["XLEN", DEMO_STREAM]);
    assert_eq!(len, sent.len(), "one entry per decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_error_at_every_retry_until_it_is_fixed() {
    let redis = RedisServer::start_with(&["--requirepass", "right"]);
    let config = format!(
        "{}      password: \"wrong\"\n",
        sync_config(&redis.addr(), "redis")
    );
    let serve = Serve::start(&config);
    let refusals = |serve: &Serve| serve.stderr().matches("refuses the credentials").count();
    eventually(Duration::from_secs(10), || async {
        (refusals(&serve) >= 3).then_some(())
    })
    .await;
    assert!(
        serve.stderr().contains("ERROR"),
        "auth failures are errors:\n{}",
        serve.stderr()
    );
    let (status, body) = ready(&serve).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(hub_info(&serve).await["state"], "undecided");
    decide_demo(&serve, "waited").await;

    // The operator fixes the password on the Redis side: no restart needed.
    let _: () = redis.cmd(&["CONFIG", "SET", "requirepass", "wrong"]);
    eventually(Duration::from_secs(10), || async {
        (ready(&serve).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(hub_info(&serve).await["state"], "redis-streams");
    let mut conn = redis::Client::open(format!("redis://:wrong@{}/", redis.addr()))
        .unwrap()
        .get_connection()
        .unwrap();
    // The decision that waited is published.
    eventually(Duration::from_secs(5), || {
        let len: usize = redis::cmd("XLEN")
            .arg(DEMO_STREAM)
            .query(&mut conn)
            .unwrap();
        std::future::ready((len == 1).then_some(()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_refuses_info_is_a_definite_answer_for_pubsub() {
    let redis = RedisServer::start();
    let _: () = redis.cmd(&[
        "ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-info",
    ]);
    let host = format!("redis://noinfo:pw@{}", redis.addr());
    let serve = Serve::start(&sync_config(&host, "redis"));
    eventually(Duration::from_secs(10), || async {
        (ready(&serve).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(hub_info(&serve).await["state"], "redis-pubsub");
    assert!(
        serve
            .stderr()
            .contains("Could not detect Redis version - will use Pub/Sub as safe fallback"),
        "{}",
        serve.stderr()
    );
}

// Item 3 ----------------------------------------------------------------------------

/// The `UserContext.ID` of every decision in the demo stream, oldest first.
fn stream_users(redis: &RedisServer) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(DEMO_STREAM)
        .arg("-")
        .arg("+")
        .query(&mut redis.conn())
        .unwrap();
    reply
        .ids
        .iter()
        .map(|entry| {
            let data: String = entry.get("data").unwrap();
            let envelope: Value = serde_json::from_str(&data).unwrap();
            envelope["message"]["UserContext"]["ID"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Asserts the stream holds each of `sent` exactly once (and nothing else).
#[track_caller]
fn assert_stored_once(redis: &RedisServer, sent: &[String]) {
    let stored = stream_users(redis);
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(
        stored.len(),
        unique.len(),
        "{} duplicate entries in the stream",
        stored.len() - unique.len()
    );
    assert_eq!(
        unique,
        sent.iter().collect::<HashSet<_>>(),
        "not the decisions sent"
    );
}

/// Waits until the instance published `n` notifications and holds none back;
/// then asserts nothing was dropped and no resend went unverified.
async fn assert_all_published(serve: &Serve, n: usize) {
    let body = eventually(Duration::from_secs(20), || async {
        let body = metrics(serve).await;
        let published = sample(&body, "agentctl_redis_streams_published_total");
        let buffered = sample(&body, "agentctl_redis_streams_buffered");
        (published == Some(n as f64) && buffered == Some(0.0)).then_some(body)
    })
    .await;
    for (name, want) in [
        ("agentctl_redis_streams_dropped_total", 0.0),
        ("agentctl_redis_streams_unverified_resends_total", 0.0),
    ] {
        assert_eq!(sample(&body, name), Some(want), "{name}\n{body}");
    }
}

/// The redis-server's process id (from `INFO server`).
fn redis_pid(redis: &RedisServer) -> String {
    let info: String = redis.cmd(&["INFO", "server"]);
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .to_owned()
}

fn signal(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_timeout_stores_each_notification_once() {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let redis = RedisServer::start();
    let config = format!(
        "{}      connection_timeout: 500ms\n",
        sync_config(&redis.addr(), "redis")
    );
    let serve = Serve::start(&config);
    let pid = redis_pid(&redis);
    let mut sent = Vec::new();
    let mut decide = async |user: String| {
        decide_demo(&serve, &user).await;
        sent.push(user);
    };
    for i in 0..10 {
        decide(format!("before-{i}")).await;
    }
    // Redis stalls for 3 response timeouts: the pipelines sent meanwhile get no
    // reply, yet Redis runs them once it continues.
    signal(&pid, "-STOP");
    for i in 0..20 {
        decide(format!("stalled-{i}")).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(3 * TIMEOUT).await;
    signal(&pid, "-CONT");
    for i in 0..10 {
        decide(format!("after-{i}")).await;
    }
    assert_all_published(&serve, sent.len()).await;
    assert_stored_once(&redis, &sent);
    let body = metrics(&serve).await;
    assert!(
        sample(&body, "agentctl_redis_streams_deduplicated_total").is_some_and(|n| n > 0.0),
        "the pipeline sent into the stall was stored and found, not resent:\n{body}"
    );
    eprintln!(
        "stall: {:?}",
        [
            "publish_errors_total",
            "deduplicated_total",
            "batches_total"
        ]
        .map(|m| sample(&body, &format!("agentctl_redis_streams_{m}")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oom_part_way_through_pipelines_stores_each_notification_once() {
    const DECISIONS: usize = 400;
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis"));
    decide_demo(&serve, "first").await;
    let mut sent = vec!["first".to_owned()];
    assert_all_published(&serve, 1).await;
    let info: String = redis.cmd(&["INFO", "memory"]);
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Room for about a hundred entries: the burst runs out of memory part-way
    // through its pipelines.
    let _: () = redis.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let limit = (used + 64 * 1024).to_string();
    let _: () = redis.cmd(&["CONFIG", "SET", "maxmemory", &limit]);
    let users: Vec<String> = (0..DECISIONS).map(|i| format!("burst-{i}")).collect();
    futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(&users), 16, |user| {
        decide_demo(&serve, user)
    })
    .await;
    sent.extend(users);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let body = metrics(&serve).await;
    assert!(
        sample(&body, "agentctl_redis_streams_publish_errors_total").is_some_and(|n| n > 0.0),
        "Redis ran out of memory:\n{body}"
    );
    let _: () = redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_all_published(&serve, sent.len()).await;
    assert_stored_once(&redis, &sent);
    let body = metrics(&serve).await;
    eprintln!(
        "oom: {:?}",
        ["publish_errors_total", "batches_total"]
            .map(|m| sample(&body, &format!("agentctl_redis_streams_{m}")))
    );
}

// Item 5 ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_falls_behind_a_drained_backlog_catches_up_from_the_stream() {
    // The backlog a stall leaves arrives at once while this subscriber is not
    // reading either. Socket buffers absorb a few hundred kB of it, so the lag
    // allowance is made small enough that the rest overflows it for sure.
    const BACKLOG: usize = 3_000;
    const ALLOWANCE: usize = 64;
    let redis = RedisServer::start();
    let config = format!(
        "{}api:\n  notificationBuffer: {ALLOWANCE}\n",
        sync_config(&redis.addr(), "redis-streams")
    );
    let serve = Serve::start(&config);
    let mut sse = Sse::open(&serve, DEMO_KEY, "", None).await;
    decide_demo(&serve, "first").await;
    assert_eq!(user_of(&sse.next_event().await), "first");
    let pid = redis_pid(&redis);
    signal(&pid, "-STOP");
    let users: Vec<String> = (0..BACKLOG).map(|i| format!("backlog-{i}")).collect();
    futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(&users), 16, |user| {
        decide_demo(&serve, user)
    })
    .await;
    signal(&pid, "-CONT");
    assert_all_published(&serve, BACKLOG + 1).await;
    // Everything is in the stream and read by the instance's reader before the
    // subscriber reads on: it is far more than the buffer behind.
    eventually(Duration::from_secs(20), || async {
        let body = metrics(&serve).await;
        (sample(&body, "agentctl_redis_streams_read_total") == Some((BACKLOG + 1) as f64))
            .then_some(())
    })
    .await;
    let events = read_events(&mut sse, BACKLOG).await;
    let got = users_once(&events, "the subscriber");
    assert_eq!(
        got,
        users.iter().cloned().collect::<HashSet<_>>(),
        "not the decisions sent"
    );
    let ids: Vec<agentctl::store::StreamId> =
        events.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of stream order");
    // The same connection goes on with live notifications.
    decide_demo(&serve, "after").await;
    assert_eq!(user_of(&sse.next_event().await), "after");
    let body = metrics(&serve).await;
    assert_eq!(
        sample(&body, "agentctl_sse_overflow_disconnects_total"),
        Some(0.0),
        "{body}"
    );
    assert!(
        sample(&body, "agentctl_sse_catch_ups_total").is_some_and(|n| n >= 1.0),
        "the subscriber fell behind and caught up:\n{body}"
    );
    assert!(
        sample(&body, "agentctl_sse_caught_up_total").is_some_and(|n| n >= 1.0),
        "{body}"
    );
    eprintln!(
        "catch-up: {:?}",
        ["catch_ups_total", "caught_up_total"].map(|m| sample(&body, &format!("agentctl_sse_{m}")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pubsub_subscriber_may_fall_behind_by_buffer_size() {
    // Pub/Sub keeps no history: what an outage queued (up to `buffer_size`)
    // arrives at once, and a subscriber that keeps reading must survive it.
    const BACKLOG: usize = 3_000;
    let redis = RedisServer::start();
    let config = format!(
        "{}      buffer_size: 5000\napi:\n  notificationBuffer: 64\n",
        sync_config(&redis.addr(), "redis-pubsub")
    );
    let serve = Serve::start(&config);
    let mut sse = Sse::open(&serve, DEMO_KEY, "", None).await;
    decide_demo(&serve, "first").await;
    assert_eq!(user_of(&sse.next_event().await), "first");
    let users: Vec<String> = (0..BACKLOG).map(|i| format!("backlog-{i}")).collect();
    futures_util::StreamExt::for_each_concurrent(futures_util::stream::iter(&users), 16, |user| {
        decide_demo(&serve, user)
    })
    .await;
    // All of it reached this instance's fan-out while the subscriber was not reading.
    eventually(Duration::from_secs(20), || async {
        let body = metrics(&serve).await;
        (sample(&body, "agentctl_redis_pubsub_received_total") == Some((BACKLOG + 1) as f64))
            .then_some(())
    })
    .await;
    let events = read_events(&mut sse, BACKLOG).await;
    assert_eq!(
        users_once(&events, "the subscriber"),
        users.iter().cloned().collect::<HashSet<_>>()
    );
    let body = metrics(&serve).await;
    assert_eq!(
        sample(&body, "agentctl_sse_overflow_disconnects_total"),
        Some(0.0),
        "{body}"
    );
}

// Item 8 ----------------------------------------------------------------------------

/// Entries whose envelope is no notification a client may get: a bare number, a
/// `message` that is not an object, 8 MiB, and a 100,000-deep array.
fn hostile_entries() -> Vec<(&'static str, String)> {
    let deep = format!(
        r#"{{"type":"decision","message":{{"x":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge = format!(
        r#"{{"type":"decision","message":{{"x":"{}"}}}}"#,
        "a".repeat(8 << 20)
    );
    vec![
        ("bare number", "42".to_owned()),
        (
            "number message",
            r#"{"type":"decision","message":42}"#.to_owned(),
        ),
        (
            "array message",
            r#"{"type":"track","message":[1,2,3]}"#.to_owned(),
        ),
        ("8 MiB", huge),
        ("100k deep", deep),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_entries_never_reach_subscribers_and_are_counted() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis"));
    let mut live = Sse::open(&serve, DEMO_KEY, "", None).await;

    decide_demo(&serve, "before").await;
    let before = live.next_event().await;
    assert_eq!(user_of(&before), "before");
    let hostile = hostile_entries();
    for (_, data) in &hostile {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(DEMO_STREAM)
            .arg("*")
            .arg("data")
            .arg(data)
            .arg("timestamp")
            .arg("1");
        let _: String = cmd.query(&mut redis.conn()).unwrap();
    }
    decide_demo(&serve, "after").await;
    assert_eq!(
        user_of(&live.next_event().await),
        "after",
        "a hostile entry reached the live subscriber"
    );
    // Replayed entries pass the same check: from the reader's window here (they
    // never entered it), from the stream on an instance without a reader.
    let mut resumed = Sse::open(&serve, DEMO_KEY, "", Some(&before.id)).await;
    assert_eq!(
        user_of(&resumed.next_event().await),
        "after",
        "a hostile entry was replayed from memory"
    );
    let other = Serve::start(&sync_config(&redis.addr(), "redis"));
    let mut replayed = Sse::open(&other, DEMO_KEY, "", Some(&before.id)).await;
    assert_eq!(
        user_of(&replayed.next_event().await),
        "after",
        "a hostile entry was replayed from the stream"
    );

    for (instance, read) in [(&serve, "live"), (&other, "replay")] {
        let body = metrics(instance).await;
        let skipped = sample(&body, "agentctl_redis_streams_decode_errors_total");
        assert_eq!(
            skipped,
            Some(hostile.len() as f64),
            "each hostile entry counted once per read ({read}):\n{body}"
        );
    }
    let logged = serve
        .stderr()
        .matches("skipping an entry that is not a notification")
        .count();
    assert_eq!(logged, 1, "logged once for the stream:\n{}", serve.stderr());
}
