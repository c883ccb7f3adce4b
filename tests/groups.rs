//! Durable consumer-group subscriptions of the SSE stream (DESIGN §3.3):
//! `?group=NAME[&consumer=NAME][&from=…]` on the Redis Streams hub, against a real
//! Redis and the built `agentctl serve`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::harness::serve::{DEMO_KEY, Serve, Sse, decide_demo, eventually, user_of};
use crate::harness::topology::query;
use crate::harness::{Agentctl, RedisCluster, RedisServer, SentinelSet, Topology};

/// The stream every notification of the demo SDK key goes to.
const STREAM: &str = "stream:optimizely-sync-demo";

/// How long a whole collection or a Redis-side condition may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// The Streams hub on `redis`, claiming entries idle for `claim_min_idle`.
fn config(redis: &dyn Topology, claim_min_idle: &str) -> String {
    format!(
        r#"
synchronization:
  notification: {{enable: true, default: "redis-streams"}}
  pubsub:
    redis:
      host: "{}"
      claim_min_idle: {claim_min_idle}
      retry_delay: 50ms
      max_retry_delay: 200ms
"#,
        redis.host()
    )
}

/// XPENDING's count for `group`.
fn pending(redis: &dyn Topology, group: &str) -> i64 {
    let summary: redis::Value = query(redis, &["XPENDING", STREAM, group]);
    match summary {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("XPENDING count: {other:?}"),
        },
        other => panic!("XPENDING: {other:?}"),
    }
}

/// Waits until `group` has nothing pending.
async fn wait_pending_zero(redis: &dyn Topology, group: &str) {
    eventually(DEADLINE, || {
        std::future::ready((pending(redis, group) == 0).then_some(()))
    })
    .await;
}

/// The ids pending for `consumer` of `group`.
fn pending_of(redis: &RedisServer, group: &str, consumer: &str) -> Vec<String> {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(100)
        .arg(consumer)
        .query(&mut redis.conn())
        .unwrap();
    reply.ids.into_iter().map(|p| p.id).collect()
}

/// Waits until the stream holds `n` entries (the publisher is asynchronous).
async fn wait_len(redis: &dyn Topology, n: usize) {
    eventually(DEADLINE, || {
        let len: usize = query(redis, &["XLEN", STREAM]);
        std::future::ready((len == n).then_some(()))
    })
    .await;
}

/// Waits until no connection of Redis is inside an XREADGROUP: a dropped SSE
/// connection's blocking read ends with its Redis connection (until then it could
/// still take an entry, which would then wait in its consumer's pending list).
async fn wait_no_group_readers(redis: &RedisServer) {
    eventually(DEADLINE, || {
        let clients: String = redis.cmd(&["CLIENT", "LIST"]);
        // Its last command may be any the subscription sends.
        let busy = ["xreadgroup", "xack", "xautoclaim", "xgroup"]
            .iter()
            .any(|cmd| clients.contains(&format!("cmd={cmd} ")));
        std::future::ready((!busy).then_some(()))
    })
    .await;
}

/// Reads entries as consumer `consumer` of `group` by hand (never acknowledged):
/// what a consumer that died before writing them would leave pending. Returns ids.
fn read_as(redis: &dyn Topology, group: &str, consumer: &str) -> Vec<String> {
    let reply: redis::streams::StreamReadReply = query(
        redis,
        &[
            "XREADGROUP",
            "GROUP",
            group,
            consumer,
            "COUNT",
            "100",
            "STREAMS",
            STREAM,
            ">",
        ],
    );
    reply
        .keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|e| e.id)
        .collect()
}

/// The value of a Prometheus sample on `/metrics`.
async fn metric(serve: &Serve, name: &str) -> Option<u64> {
    let reply = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await;
    reply.body.lines().find_map(|line| {
        let (n, v) = line.split_once(' ')?;
        (n == name)
            .then(|| v.parse::<f64>().ok())?
            .map(|v| v as u64)
    })
}

#[tokio::test]
async fn a_group_splits_entries_and_separate_groups_each_get_all() {
    group_split(&RedisServer::start()).await;
}

#[tokio::test]
async fn a_group_splits_entries_on_a_cluster() {
    group_split(&RedisCluster::start()).await;
}

#[tokio::test]
async fn a_group_splits_entries_on_sentinel() {
    group_split(&SentinelSet::start()).await;
}

/// One group's consumers split the entries, another group gets them all, and
/// everything is acknowledged: on `redis`.
async fn group_split(redis: &dyn Topology) {
    let serve = Serve::start(&config(redis, "30s"));
    let mut a = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=a", None).await;
    let mut b = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=b", None).await;
    let mut h = Sse::open(&serve, DEMO_KEY, "?group=h", None).await;

    // One at a time (paced by group h), so both consumers of g are waiting in turn.
    let mut all = Vec::new();
    for i in 0..20 {
        let user = format!("user-{i}");
        decide_demo(&serve, &user).await;
        let event = h.next_event().await;
        assert_eq!(user_of(&event), user, "group h gets every entry, in order");
        all.push(event);
    }

    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() + got_b.len() < all.len() {
        tokio::select! {
            event = a.next_event() => got_a.push(event),
            event = b.next_event() => got_b.push(event),
        }
    }
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both consumers of g get some: a {} b {}",
        got_a.len(),
        got_b.len()
    );
    let union: HashSet<String> = got_a.iter().chain(&got_b).map(|e| e.id.clone()).collect();
    assert_eq!(union.len(), 20, "each entry exactly once in group g");
    let expected: HashSet<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(union, expected, "the event ids are the stream entry ids");
    for event in got_a.iter().chain(&got_b) {
        user_of(event);
    }

    // Everything written was acknowledged, in both groups.
    wait_pending_zero(redis, "g").await;
    wait_pending_zero(redis, "h").await;
    let acked = eventually(DEADLINE, || async {
        metric(&serve, "agentctl_redis_streams_groups_acked_total")
            .await
            .filter(|n| *n >= 40)
    })
    .await;
    assert_eq!(acked, 40);
}

#[tokio::test]
async fn entries_left_by_a_dead_consumer_are_claimed_by_a_live_one() {
    dead_consumer_claimed(&RedisServer::start()).await;
}

#[tokio::test]
async fn entries_left_by_a_dead_consumer_are_claimed_on_a_cluster() {
    dead_consumer_claimed(&RedisCluster::start()).await;
}

/// What a dead consumer left pending is claimed (XAUTOCLAIM) by a live one: on
/// `redis`.
async fn dead_consumer_claimed(redis: &dyn Topology) {
    let serve = Serve::start(&config(redis, "1s"));
    let _: String = query(redis, &["XGROUP", "CREATE", STREAM, "g", "$", "MKSTREAM"]);
    for i in 0..4 {
        decide_demo(&serve, &format!("early-{i}")).await;
    }
    wait_len(redis, 4).await;
    // A corrupt entry written by someone else: acknowledged and skipped.
    let _: String = query(
        redis,
        &["XADD", STREAM, "*", "data", "garbage", "timestamp", "1"],
    );
    let dead = read_as(redis, "g", "dead");
    assert_eq!(dead.len(), 5);
    assert_eq!(pending(redis, "g"), 5);

    // A live consumer: its periodic XAUTOCLAIM sweep takes them once idle >= 1 s.
    let mut live = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=live", None).await;
    let mut users = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let event = live.next_event().await;
        users.push(user_of(&event));
        ids.push(event.id);
    }
    assert_eq!(users, ["early-0", "early-1", "early-2", "early-3"]);
    assert_eq!(ids, dead[..4]);
    wait_pending_zero(redis, "g").await;

    // New entries follow.
    decide_demo(&serve, "later").await;
    assert_eq!(user_of(&live.next_event().await), "later");
    wait_pending_zero(redis, "g").await;

    let claimed = eventually(DEADLINE, || async {
        metric(&serve, "agentctl_redis_streams_groups_claimed_total")
            .await
            .filter(|n| *n >= 5)
    })
    .await;
    assert_eq!(claimed, 5, "four notifications and the corrupt entry");
    assert_eq!(
        metric(&serve, "agentctl_redis_streams_groups_decode_errors_total").await,
        Some(1)
    );
    assert_eq!(
        metric(&serve, "agentctl_redis_streams_groups_redelivered_total").await,
        Some(4)
    );
}

#[tokio::test]
async fn a_reconnecting_consumer_gets_its_own_pending_entries_first() {
    let redis = RedisServer::start();
    // Claims never happen here: what arrives comes from the consumer's own list.
    let serve = Serve::start(&config(&redis, "1h"));

    // Connected, then gone: what is published meanwhile waits in the group.
    let mut first = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=c1", None).await;
    decide_demo(&serve, "seen").await;
    let seen = first.next_event().await;
    assert_eq!(user_of(&seen), "seen");
    wait_pending_zero(&redis, "g").await;
    drop(first);
    wait_no_group_readers(&redis).await;
    decide_demo(&serve, "offline-0").await;
    decide_demo(&serve, "offline-1").await;
    wait_len(&redis, 3).await;

    // c1 read those two and died before writing them (by hand: hard to force).
    read_as(&redis, "g", "c1");
    let left: Vec<String> = pending_of(&redis, "g", "c1");
    assert_eq!(left.len(), 2);
    decide_demo(&serve, "new-0").await;
    wait_len(&redis, 4).await;

    // Another consumer does not get c1's entries (not idle for claim_min_idle).
    let mut other = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=c2", None).await;
    assert_eq!(user_of(&other.next_event().await), "new-0");
    drop(other);
    wait_no_group_readers(&redis).await;

    // As a browser reconnects: with the last id it saw in `Last-Event-ID`, which a
    // group ignores (its pending list is the resume point).
    let mut again = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=c1", Some(&seen.id)).await;
    let first_two = [again.next_event().await, again.next_event().await];
    assert_eq!(
        first_two.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        left
    );
    assert_eq!(user_of(&first_two[0]), "offline-0");
    assert_eq!(user_of(&first_two[1]), "offline-1");
    decide_demo(&serve, "new-1").await;
    assert_eq!(user_of(&again.next_event().await), "new-1");
    wait_pending_zero(&redis, "g").await;
    assert_eq!(
        metric(&serve, "agentctl_redis_streams_groups_redelivered_total").await,
        Some(2)
    );
}

#[tokio::test]
async fn filters_apply_and_rejected_entries_are_acknowledged() {
    let redis = RedisServer::start();
    let serve = Serve::start(&config(&redis, "30s"));
    let mut tracks = Sse::open(&serve, DEMO_KEY, "?group=g&filter=track", None).await;
    decide_demo(&serve, "not-sent").await;
    let reply = serve
        .post(
            "/v1/track?eventKey=purchase",
            DEMO_KEY,
            &json!({"userId": "buyer"}),
        )
        .await;
    assert!(reply.status < 300, "track: {} {}", reply.status, reply.body);
    let event = tracks.next_event().await;
    assert_eq!(event.json()["UserContext"]["ID"], "buyer", "{}", event.data);
    wait_pending_zero(&redis, "g").await;
    let filtered = eventually(DEADLINE, || async {
        metric(&serve, "agentctl_redis_streams_groups_filtered_total")
            .await
            .filter(|n| *n >= 1)
    })
    .await;
    assert_eq!(filtered, 1);
}

#[tokio::test]
async fn bad_group_requests_are_400s() {
    let memory = Serve::start("");
    let reply = memory
        .get("/v1/notifications/event-stream?group=g", DEMO_KEY)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json()["error"],
        "durable groups need the Redis Streams hub (synchronization.notification.enable with Redis >= 5)"
    );

    let redis = RedisServer::start();
    let serve = Serve::start(&config(&redis, "30s"));
    for (query, needle) in [
        ("?group=g&lastEventId=1-0", "keeps its own position"),
        ("?group=a%20b", "1 to 64 characters"),
        ("?group=", "1 to 64 characters"),
        (&format!("?group={}", "x".repeat(65)), "1 to 64 characters"),
        ("?group=g&consumer=c%2Fd", "invalid consumer"),
        ("?group=g&from=soon", "invalid from"),
        ("?consumer=c", "only meaningful with group"),
        ("?from=0", "only meaningful with group"),
    ] {
        let reply = serve
            .get(&format!("/v1/notifications/event-stream{query}"), DEMO_KEY)
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(needle), "{query}: {error}");
    }
    // Nothing was created by the rejected requests.
    let exists: i64 = redis.cmd(&["EXISTS", STREAM]);
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn from_zero_delivers_history_and_inspect_shows_the_group() {
    let redis = RedisServer::start();
    let serve = Serve::start(&config(&redis, "30s"));
    decide_demo(&serve, "history").await;
    wait_len(&redis, 1).await;

    // A generated consumer name, told in a header.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/notifications/event-stream?group=audit&from=0",
            serve.api
        ))
        .header("x-optimizely-sdk-key", DEMO_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let consumer = response.headers()["x-consumer-name"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(consumer.starts_with("consumer-"), "{consumer}");
    assert!(consumer.contains(&format!("-{}-", serve.pid)), "{consumer}");
    drop(response);

    // from=0 on a new group: the retained history comes first.
    let mut sse = Sse::open(&serve, DEMO_KEY, "?group=audit2&from=0", None).await;
    assert_eq!(user_of(&sse.next_event().await), "history");
    wait_pending_zero(&redis, "audit2").await;

    let cli = Agentctl::new();
    let groups = cli
        .redis(
            &redis,
            &["inspect", "groups", "--sdk-key", DEMO_KEY, "--json"],
        )
        .ok()
        .json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"audit") && names.contains(&"audit2"),
        "{groups}"
    );
    let audit2 = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "audit2")
        .unwrap();
    assert_eq!(audit2["pending"], 0, "{groups}");
    assert_eq!(audit2["consumers"], 1, "{groups}");
    let pending_view = cli
        .redis(
            &redis,
            &[
                "inspect",
                "pending",
                "--sdk-key",
                DEMO_KEY,
                "--group",
                "audit2",
                "--json",
            ],
        )
        .ok()
        .json();
    assert_eq!(pending_view["summary"]["count"], 0, "{pending_view}");
}

#[tokio::test]
async fn sigterm_ends_open_group_streams_and_exits_zero() {
    let redis = RedisServer::start();
    let mut serve = Serve::start(&config(&redis, "1s"));
    let mut sse = Sse::open(&serve, DEMO_KEY, "?group=g&consumer=c", None).await;
    decide_demo(&serve, "before").await;
    assert_eq!(user_of(&sse.next_event().await), "before");
    wait_pending_zero(&redis, "g").await;
    let status = serve.terminate().await;
    assert!(status.success(), "exit status {status}\n{}", serve.stderr());
    sse.expect_end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_more_than_max_groups_is_refused_on_every_instance() {
    let redis = RedisServer::start();
    let config = format!("{}      max_groups: 2\n", config(&redis, "30s"));
    let (a, b) = (Serve::start(&config), Serve::start(&config));
    let g1 = Sse::open(&a, DEMO_KEY, "?group=g1", None).await;
    let g2 = Sse::open(&b, DEMO_KEY, "?group=g2&from=0", None).await;
    for serve in [&a, &b] {
        let reply = serve
            .get("/v1/notifications/event-stream?group=g3&from=0", DEMO_KEY)
            .await;
        assert_eq!(reply.status, 409, "{}", reply.body);
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains(&format!("stream {STREAM} already has 2 consumer groups"))
                && error.contains("synchronization.pubsub.redis.max_groups (2)"),
            "{error}"
        );
    }
    // Joining an existing group still works, on either instance. (The first
    // consumers leave first, so the one entry cannot go to them.)
    drop((g1, g2));
    wait_no_group_readers(&redis).await;
    let mut joined = Sse::open(&a, DEMO_KEY, "?group=g2&consumer=second", None).await;
    decide_demo(&b, "after-the-cap").await;
    let reply: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(STREAM)
        .query(&mut redis.conn())
        .unwrap();
    let mut names: Vec<String> = reply.groups.into_iter().map(|g| g.name).collect();
    names.sort();
    assert_eq!(names, ["g1", "g2"]);
    assert_eq!(user_of(&joined.next_event().await), "after-the-cap");
}
