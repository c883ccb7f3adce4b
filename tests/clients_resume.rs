//! Clients resume everywhere (issue 11, item 10), with real `serve` instances on a
//! real Redis: a fresh Streams subscription starts with its resume point (an
//! `id:`-only frame), `subscribe` resumes from it after a server restart before it
//! saw any event and fails over between several `--url`s after a kill -9, and
//! `burst --verify` subscribers do the same, so its lost figure is the service's.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::serve::{DEMO_KEY, Serve, Sse, decide_demo, eventually, sample, sync_config};
use crate::harness::{Agentctl, RedisServer, free_port};
use crate::subscribe::Subscriber;

/// The demo stream every demo notification is XADDed to with Redis sync on.
const DEMO_STREAM: &str = "stream:optimizely-sync-demo";

/// How long a client may take to get what a test expects.
const DEADLINE: Duration = Duration::from_secs(30);

/// The ids in the demo stream, oldest first.
fn stream_ids(redis: &RedisServer) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> =
        redis.cmd(&["XRANGE", DEMO_STREAM, "-", "+"]);
    entries.into_iter().map(|(id, _)| id).collect()
}

/// Waits until the demo stream holds `n` entries (publishing is asynchronous).
async fn stored(redis: &RedisServer, n: usize) -> Vec<String> {
    eventually(DEADLINE, || async move {
        let ids = stream_ids(redis);
        (ids.len() >= n).then_some(ids)
    })
    .await
}

/// Waits until `serve` has `n` SSE subscribers on Redis Streams.
async fn wait_subscribers(serve: &Serve, n: f64) {
    eventually(DEADLINE, || async move {
        let url = format!("{}/metrics", serve.admin);
        let body = serve.send(serve.http().get(url)).await.body;
        let count = sample(&body, "agentctl_sse_subscribers{hub=\"redis-streams\"}");
        (count == Some(n)).then_some(())
    })
    .await;
}

fn kill_9(serve: &Serve) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &serve.pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {}", serve.pid);
}

/// Starts `agentctl subscribe --sdk-key demo --json ARGS…`.
fn subscribe(args: &[&str]) -> Subscriber {
    let mut all = vec!["--sdk-key", DEMO_KEY, "--json"];
    all.extend_from_slice(args);
    Subscriber::start_in(Agentctl::new(), &all)
}

/// The users and ids `sub` printed.
fn printed(sub: &Subscriber) -> (Vec<String>, Vec<String>) {
    sub.json_lines()
        .iter()
        .map(|json| {
            let user = json["message"]["UserContext"]["ID"].as_str().unwrap();
            (user.to_owned(), json["id"].as_str().unwrap().to_owned())
        })
        .unzip()
}

fn users(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("user-{i:02}")).collect()
}

#[tokio::test]
async fn a_fresh_streams_subscription_starts_with_its_resume_point() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis"));
    // An empty stream: everything after 0-0.
    let mut empty = Sse::open(&serve, DEMO_KEY, "", None).await;
    let frame = empty.next_frame().await;
    assert_eq!(frame.resume_point(), Some("0-0"), "{frame:?}");
    for i in 0..3 {
        decide_demo(&serve, &format!("user-{i}")).await;
    }
    let ids = stored(&redis, 3).await;
    for id in &ids {
        assert_eq!(&empty.next_event().await.id, id);
    }
    // A later subscriber starts after the newest entry.
    let mut later = Sse::open(&serve, DEMO_KEY, "?filter=track", None).await;
    assert_eq!(
        later.next_frame().await.resume_point(),
        Some(ids[2].as_str())
    );
    // A resuming client keeps its own point: no resume point, the replay and the
    // caught-up comment instead.
    let mut resumed = Sse::open(&serve, DEMO_KEY, "", Some(&ids[0])).await;
    let first = resumed.next_frame().await;
    assert_eq!(first.resume_point(), None, "{first:?}");
    assert_eq!(first.id.as_deref(), Some(ids[1].as_str()));

    // The in-memory hub has no history to resume from: no resume point.
    let memory = Serve::start("");
    let mut sse = Sse::open(&memory, DEMO_KEY, "", None).await;
    decide_demo(&memory, "user-m").await;
    let frame = sse.next_frame().await;
    assert!(frame.is_notification(), "{frame:?}");
}

#[tokio::test]
async fn subscribe_resumes_from_the_resume_point_after_a_restart_before_any_event() {
    let redis = RedisServer::start();
    let config = sync_config(&redis.addr(), "redis");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut first = Serve::builder().config(&config).api_addr(&addr).start();
    let other = Serve::start(&config);
    let mut sub = subscribe(&["--url", &first.api, "--count", "15"]);
    wait_subscribers(&first, 1.0).await;
    // The resume point is the first frame after the subscription exists; nothing
    // observable says the client has read it, so give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(first.terminate().await.code(), Some(0));
    // Sent while the subscriber is disconnected and has seen no event.
    for i in 0..10 {
        decide_demo(&other, &format!("user-{i:02}")).await;
    }
    stored(&redis, 10).await;
    let second = Serve::builder().config(&config).api_addr(&addr).start();
    for i in 10..15 {
        decide_demo(&second, &format!("user-{i:02}")).await;
    }
    assert_eq!(sub.wait().await, 0, "stderr:\n{}", sub.stderr());
    let (printed, ids) = printed(&sub);
    assert_eq!(printed, users(0..15), "lost, duplicated or reordered");
    assert_eq!(ids, stream_ids(&redis));
    let stderr = sub.stderr();
    assert!(stderr.contains("resuming after 0-0"), "{stderr}");
}

#[tokio::test]
async fn subscribe_fails_over_to_the_next_url_after_a_kill_9_without_loss_or_duplicates() {
    let redis = RedisServer::start();
    let config = sync_config(&redis.addr(), "redis");
    let victim = Serve::start(&config);
    let survivor = Serve::start(&config);
    let urls = format!("{},{}", victim.api, survivor.api);
    let mut sub = subscribe(&["--url", &urls, "--count", "30"]);
    wait_subscribers(&victim, 1.0).await;
    for i in 0..10 {
        decide_demo(&survivor, &format!("user-{i:02}")).await;
    }
    sub.wait_lines(10).await;
    kill_9(&victim);
    // Sent while the subscriber fails over.
    for i in 10..30 {
        decide_demo(&survivor, &format!("user-{i:02}")).await;
    }
    assert_eq!(sub.wait().await, 0, "stderr:\n{}", sub.stderr());
    let (printed, ids) = printed(&sub);
    assert_eq!(printed, users(0..30), "lost, duplicated or reordered");
    assert_eq!(ids, stream_ids(&redis));
    let stderr = sub.stderr();
    assert!(
        stderr.contains(&format!("reconnecting to {}", survivor.api))
            && stderr.contains(&format!("resuming after {}", ids[9])),
        "{stderr}"
    );
}

#[tokio::test]
async fn burst_verify_subscribers_resume_on_the_other_instance_after_a_kill_9() {
    let redis = RedisServer::start();
    let config = sync_config(&redis.addr(), "redis");
    let victim = Serve::start(&config);
    let survivor = Serve::start(&config);
    let urls = format!("{},{}", victim.api, survivor.api);
    // The load goes to the survivor; the subscribers are spread over both.
    let runner = Agentctl::new();
    let child = runner
        .command(&[
            "burst",
            "--url",
            &survivor.api,
            "--sdk-key",
            DEMO_KEY,
            "--flags",
            "promo_banner",
            "--rate",
            "100",
            "--duration",
            "6s",
            "--verify",
            "--subscribers",
            "4",
            "--subscribe-url",
            &urls,
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let burst = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    // Killed mid-run, once a good part of the load was delivered.
    stored(&redis, 150).await;
    kill_9(&victim);
    let output = tokio::time::timeout(Duration::from_secs(120), burst)
        .await
        .expect("burst ends")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr:\n{stderr}"));
    let verify = &report["verify"];
    assert_eq!(verify["lost"], 0, "{verify:#}\nstderr:\n{stderr}");
    assert_eq!(verify["duplicated"], 0, "{verify:#}");
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let subscribers = verify["subscribers"].as_array().unwrap();
    assert_eq!(subscribers.len(), 4);
    for sub in subscribers {
        let on_victim = sub["url"] == victim.api.as_str();
        let reconnects = sub["reconnects"].as_u64().unwrap();
        assert_eq!(reconnects >= 1, on_victim, "{sub:#}");
        assert_eq!(sub["received"], verify["expected"], "{sub:#}");
    }
    let expected = verify["expected"].as_u64().unwrap();
    assert!(expected >= 300, "{verify:#}");
    assert_eq!(stream_ids(&redis).len() as u64, expected);
}
