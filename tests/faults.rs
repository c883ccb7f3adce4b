//! Faults that must lose or duplicate nothing silently (issue 11), with real
//! processes: a real `redis-server` that starts late, stalls (SIGSTOP) or runs out
//! of memory, real `serve` instances, and entries written by someone else that
//! must never reach SSE clients.

use crate::harness::RedisServer;
use crate::harness::serve::{DEMO_KEY, Serve, Sse, decide_demo, sample, sync_config, user_of};

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
    // Replayed entries pass the same check.
    let mut resumed = Sse::open(&serve, DEMO_KEY, "", Some(&before.id)).await;
    assert_eq!(
        user_of(&resumed.next_event().await),
        "after",
        "a hostile entry was replayed"
    );

    let body = metrics(&serve).await;
    let skipped = sample(&body, "agentctl_redis_streams_decode_errors_total");
    assert_eq!(
        skipped,
        Some(2.0 * hostile.len() as f64),
        "each hostile entry counted once per read (live, replay):\n{body}"
    );
    let logged = serve
        .stderr()
        .matches("skipping an entry that is not a notification")
        .count();
    assert_eq!(logged, 1, "logged once for the stream:\n{}", serve.stderr());
}
