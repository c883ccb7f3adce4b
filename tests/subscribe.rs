//! `agentctl subscribe` against a real `serve`: the three formats, filters,
//! `--timeout`, error statuses, Ctrl-C, resume after the server restarts on Redis
//! Streams, `--from-start --until-caught-up`, and a Pub/Sub server refusing resume.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::serve::{DEMO_KEY, Serve, decide_demo, eventually, eventually_or, sync_config};
use crate::harness::{Agentctl, RedisServer, free_port};

/// How long a subscriber may take to get what a test expects.
const DEADLINE: Duration = Duration::from_secs(20);

/// The demo stream every demo notification is XADDed to with Redis sync on.
const DEMO_STREAM: &str = "stream:optimizely-sync-demo";

/// A running `agentctl subscribe`, its output captured in files; killed on drop.
pub(crate) struct Subscriber {
    child: Child,
    runner: Agentctl,
    code: Option<i32>,
}

impl Subscriber {
    /// Starts `agentctl subscribe --url URL --sdk-key demo ARGS…`.
    fn start(url: &str, args: &[&str]) -> Subscriber {
        let mut all = vec!["--url", url, "--sdk-key", DEMO_KEY];
        all.extend_from_slice(args);
        Subscriber::start_in(Agentctl::new(), &all)
    }

    /// Starts `agentctl subscribe ARGS…` in the working directory of `runner`.
    pub(crate) fn start_in(runner: Agentctl, args: &[&str]) -> Subscriber {
        let mut all = vec!["subscribe"];
        all.extend_from_slice(args);
        let stdout = std::fs::File::create(runner.cwd().join("stdout")).unwrap();
        let stderr = std::fs::File::create(runner.cwd().join("stderr")).unwrap();
        let child = runner
            .command(&all)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        Subscriber {
            child,
            runner,
            code: None,
        }
    }

    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(self.runner.cwd().join("stdout")).unwrap_or_default()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.runner.cwd().join("stderr")).unwrap_or_default()
    }

    /// The complete stdout lines so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        let out = self.stdout();
        let complete = out.rfind('\n').map_or("", |at| &out[..at]);
        complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// stdout lines parsed as JSON.
    pub(crate) fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    /// The exit code once it exited, without waiting.
    pub(crate) fn exited(&mut self) -> Option<i32> {
        if self.code.is_none() {
            self.code = self
                .child
                .try_wait()
                .unwrap()
                .map(|s| s.code().unwrap_or(-1));
        }
        self.code
    }

    /// Waits for the exit; fails the test after [`DEADLINE`].
    pub(crate) async fn wait(&mut self) -> i32 {
        match eventually_or(DEADLINE, || std::future::ready(self.exited())).await {
            Some(code) => code,
            None => panic!(
                "subscribe did not exit within {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            ),
        }
    }

    /// Waits until at least `n` complete lines were printed.
    pub(crate) async fn wait_lines(&self, n: usize) {
        let got = eventually_or(DEADLINE, || {
            std::future::ready((self.lines().len() >= n).then_some(()))
        })
        .await;
        assert!(
            got.is_some(),
            "fewer than {n} lines within {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if self.code.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `POST /v1/track?eventKey=purchase` for `user` on the demo key.
async fn track(serve: &Serve, user: &str) {
    let reply = serve
        .post(
            "/v1/track?eventKey=purchase",
            DEMO_KEY,
            &json!({"userId": user, "eventTags": {"revenue": 42}}),
        )
        .await;
    assert_eq!(reply.status, 200, "track for {user}: {}", reply.body);
}

/// Sends notifications (through `send`) until the subscriber exits: on the
/// in-memory hub a subscriber only sees what is published after it connected, so
/// the test keeps publishing instead of guessing when that was. Returns the code.
async fn publish_until_exit<F, Fut>(subscriber: &mut Subscriber, mut send: F) -> i32
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut i = 0;
    loop {
        if let Some(code) = subscriber.exited() {
            return code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscribe did not exit within {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
            subscriber.stdout(),
            subscriber.stderr()
        );
        send(i).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[track_caller]
fn parse_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("not a stream id: {id:?}"));
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[tokio::test]
async fn json_lines_with_count() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &["--count", "3"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move { decide_demo(serve, &format!("user-{i}")).await }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    // Piped stdout: json is the default.
    let lines = sub.json_lines();
    assert_eq!(lines.len(), 3, "stdout:\n{}", sub.stdout());
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["id", "message", "received_at", "type"], "{line}");
        assert_eq!(line["type"], "decision");
        assert!(!line["id"].as_str().unwrap().is_empty(), "{line}");
        assert!(
            line["received_at"].as_str().unwrap().ends_with('Z'),
            "{line}"
        );
        assert_eq!(line["message"]["DecisionInfo"]["flagKey"], "promo_banner");
    }
}

#[tokio::test]
async fn raw_prints_the_data_payload() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &["--format", "raw", "--count", "2"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move { decide_demo(serve, &format!("user-{i}")).await }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    let lines = sub.json_lines();
    assert_eq!(lines.len(), 2);
    for message in lines {
        assert_eq!(message["Type"], "flag", "{message}");
        assert_eq!(message["DecisionInfo"]["flagKey"], "promo_banner");
    }
}

#[tokio::test]
async fn pretty_names_the_fields_that_matter_without_colour_when_piped() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &["--format", "pretty", "--count", "2"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move {
            if i % 2 == 0 {
                decide_demo(serve, &format!("user-{i}")).await;
            } else {
                track(serve, &format!("user-{i}")).await;
            }
        }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    let out = sub.stdout();
    assert!(!out.contains('\x1b'), "colour on a pipe: {out:?}");
    let lines = sub.lines();
    assert_eq!(lines.len(), 2, "{out}");
    for line in &lines {
        if line.contains(" decision ") {
            assert!(line.contains("flag=promo_banner"), "{line}");
            assert!(line.contains("user=user-"), "{line}");
            assert!(line.contains("enabled="), "{line}");
        } else {
            assert!(line.contains(" track "), "{line}");
            assert!(line.contains("event=purchase"), "{line}");
            assert!(line.contains("tags={\"revenue\":42"), "{line}");
        }
        assert!(line.contains(" id="), "{line}");
    }
}

#[tokio::test]
async fn filter_passes_only_the_kinds_asked_for() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &["--filter", "track", "--count", "3"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move {
            decide_demo(serve, &format!("d-{i}")).await;
            track(serve, &format!("t-{i}")).await;
        }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    let lines = sub.json_lines();
    assert_eq!(lines.len(), 3);
    for line in lines {
        assert_eq!(line["type"], "track", "{line}");
        assert_eq!(line["message"]["EventKey"], "purchase");
    }
}

#[tokio::test]
async fn timeout_exits_zero() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &["--timeout", "300ms"]);
    assert_eq!(sub.wait().await, 0, "stderr:\n{}", sub.stderr());
    assert_eq!(sub.stdout(), "");
}

#[tokio::test]
async fn error_statuses_exit_one_with_the_servers_message() {
    let serve = Serve::start("api: {enableNotifications: false}");
    let mut sub = Subscriber::start(&serve.api, &[]);
    assert_eq!(sub.wait().await, 1);
    assert_eq!(
        sub.stderr(),
        "agentctl: server answered 403: Notification stream not enabled\n"
    );
    assert_eq!(sub.stdout(), "");

    let serve = Serve::start("");
    let run = Agentctl::new().run(&["subscribe", "--url", &serve.api, "--sdk-key", "bad key!"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "agentctl: server answered 400: {\"error\":\"sdkKey failed validation\"}\n"
    );
}

#[test]
fn usage_errors_exit_two() {
    let cli = Agentctl::new();
    for args in [
        vec!["subscribe"],
        vec!["subscribe", "--sdk-key", "k", "--filter", "nope"],
        vec![
            "subscribe",
            "--sdk-key",
            "k",
            "--from-start",
            "--last-event-id",
            "1-0",
        ],
        vec![
            "subscribe",
            "--sdk-key",
            "k",
            "--group",
            "g",
            "--from-start",
        ],
        vec!["subscribe", "--sdk-key", "k", "--consumer", "c"],
        vec!["subscribe", "--sdk-key", "k", "--header", "no-colon"],
        vec!["subscribe", "--sdk-key", "k", "--count", "0"],
        vec!["subscribe", "--sdk-key", "k", "--until-caught-up"],
        vec!["subscribe", "--sdk-key", "k", "--json", "--format", "raw"],
    ] {
        let run = cli.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn nothing_listening_is_an_error() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = Agentctl::new().run(&["subscribe", "--url", &url, "--sdk-key", DEMO_KEY]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("agentctl: cannot connect to "),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn bare_subscribe_follows_the_serve_of_the_config_with_the_only_datafile() {
    let serve = Serve::start("");
    // The API address comes from ./config.yaml, the SDK key from ./datafiles.
    let runner = Agentctl::new().with_checkout(&format!(
        "api:\n  port: \"{}\"\n  enableNotifications: true\n",
        serve.api_port
    ));
    let mut sub = Subscriber::start_in(runner, &["--filter", "decision", "--count", "2"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move {
            track(serve, &format!("t-{i}")).await;
            decide_demo(serve, &format!("d-{i}")).await;
        }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    assert_eq!(
        sub.stderr(),
        "agentctl: using SDK key \"demo\" (the only datafile in ./datafiles)\n"
    );
    let lines = sub.json_lines();
    assert_eq!(lines.len(), 2, "{}", sub.stdout());
    assert!(lines.iter().all(|l| l["type"] == "decision"), "{lines:?}");

    // `host:port` is a URL too, and --json is --format json.
    let address = serve.api.trim_start_matches("http://").to_owned();
    let mut sub = Subscriber::start_in(
        Agentctl::new(),
        &[
            "--url",
            &address,
            "--sdk-key",
            DEMO_KEY,
            "--json",
            "--count",
            "1",
        ],
    );
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move { decide_demo(serve, &format!("u-{i}")).await }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    assert_eq!(sub.json_lines()[0]["type"], "decision");
}

#[test]
fn without_an_sdk_key_anywhere_it_is_a_usage_error_and_redis_is_said_unused() {
    let run = Agentctl::new().run(&["subscribe"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "agentctl: no SDK key given: give --sdk-key KEY (or set AGENTCTL_SDK_KEY), or run \
         where ./datafiles holds exactly one <sdkKey>.json datafile\n"
    );
    let url = format!("127.0.0.1:{}", free_port());
    let run = Agentctl::new().run(&[
        "--redis",
        "127.0.0.1:1",
        "subscribe",
        "--url",
        &url,
        "--sdk-key",
        DEMO_KEY,
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(
            "agentctl: warning: --redis is not used by subscribe: it talks to the Agent over \
             HTTP (--url); ignoring it\n"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("try --url HOST:PORT"), "{}", run.stderr);
}

#[tokio::test]
async fn ctrl_c_prints_a_summary_and_exits_130() {
    let serve = Serve::start("");
    let mut sub = Subscriber::start(&serve.api, &[]);
    let mut i = 0;
    eventually(DEADLINE, || {
        i += 1;
        let serve = &serve;
        let sub = &sub;
        async move {
            decide_demo(serve, &format!("user-{i}")).await;
            (sub.lines().len() >= 2).then_some(())
        }
    })
    .await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &sub.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(sub.wait().await, 130, "stderr:\n{}", sub.stderr());
    let stderr = sub.stderr();
    let n = sub.lines().len();
    assert_eq!(
        stderr,
        format!("agentctl: received {n} (decision {n}), 0 reconnects\n")
    );
}

#[tokio::test]
async fn resumes_without_loss_or_duplicates_after_the_server_restarts_on_streams() {
    let redis = RedisServer::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let config = sync_config(&redis.addr(), "redis");
    let mut first = Serve::builder().config(&config).api_addr(&addr).start();
    for i in 0..10 {
        decide_demo(&first, &format!("user-{i:02}")).await;
    }
    // --from-start: no race with the decisions above.
    let mut sub = Subscriber::start(&first.api, &["--from-start", "--count", "20"]);
    sub.wait_lines(10).await;
    assert_eq!(first.terminate().await.code(), Some(0));
    let second = Serve::builder().config(&config).api_addr(&addr).start();
    for i in 10..20 {
        decide_demo(&second, &format!("user-{i:02}")).await;
    }
    assert_eq!(sub.wait().await, 0, "stderr:\n{}", sub.stderr());
    let lines = sub.json_lines();
    let users: Vec<&str> = lines
        .iter()
        .map(|l| l["message"]["UserContext"]["ID"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("user-{i:02}")).collect();
    assert_eq!(users, expected, "lost, duplicated or reordered");
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let stored: Vec<(String, Vec<(String, String)>)> =
        redis.cmd(&["XRANGE", DEMO_STREAM, "-", "+"]);
    let stored: Vec<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, stored, "the subscriber saw the stream's entries");
    assert!(
        ids.windows(2).all(|w| parse_id(&w[0]) < parse_id(&w[1])),
        "{ids:?}"
    );
    let stderr = sub.stderr();
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(
        stderr.contains(&format!("resuming after {}", ids[9])),
        "{stderr}"
    );
}

#[tokio::test]
async fn from_start_until_caught_up_prints_exactly_the_stream() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis"));
    for i in 0..5 {
        decide_demo(&serve, &format!("user-{i}")).await;
        track(&serve, &format!("user-{i}")).await;
    }
    // Publishing is asynchronous: a 200 may come before its XADD.
    let redis_ref = &redis;
    let stored = eventually(DEADLINE, || async move {
        let stored: Vec<(String, Vec<(String, String)>)> =
            redis_ref.cmd(&["XRANGE", DEMO_STREAM, "-", "+"]);
        (stored.len() >= 10).then_some(stored)
    })
    .await;
    assert_eq!(stored.len(), 10);
    let mut sub = Subscriber::start(&serve.api, &["--from-start", "--until-caught-up"]);
    assert_eq!(sub.wait().await, 0, "stderr:\n{}", sub.stderr());
    let ids: Vec<String> = sub
        .json_lines()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let stored: Vec<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, stored);
}

#[tokio::test]
async fn pubsub_refuses_resume_and_the_subscriber_goes_on_without() {
    let redis = RedisServer::start();
    let serve = Serve::start(&sync_config(&redis.addr(), "redis-pubsub"));
    let mut sub = Subscriber::start(&serve.api, &["--last-event-id", "0-0", "--count", "2"]);
    let code = publish_until_exit(&mut sub, |i| {
        let serve = &serve;
        async move { decide_demo(serve, &format!("user-{i}")).await }
    })
    .await;
    assert_eq!(code, 0, "stderr:\n{}", sub.stderr());
    assert_eq!(sub.json_lines().len(), 2);
    let stderr = sub.stderr();
    assert!(
        stderr.contains("Pub/Sub") && stderr.contains("without resume"),
        "{stderr}"
    );
}

#[tokio::test]
async fn color_follows_the_flag_then_no_color() {
    let serve = Serve::start("");
    for (extra_env, args, coloured) in [
        (None, vec!["--color", "always"], true),
        (Some("1"), vec!["--color", "always"], true),
        (Some("1"), vec![], false),
        (None, vec!["--color", "never"], false),
    ] {
        let mut runner = Agentctl::new();
        if let Some(value) = extra_env {
            runner = runner.env("NO_COLOR", value);
        }
        let mut all = args.clone();
        all.extend([
            "--url",
            &serve.api,
            "--sdk-key",
            DEMO_KEY,
            "--format",
            "pretty",
            "--count",
            "1",
        ]);
        let mut sub = Subscriber::start_in(runner, &all);
        let code = publish_until_exit(&mut sub, |i| {
            let serve = &serve;
            async move { decide_demo(serve, &format!("c-{i}")).await }
        })
        .await;
        assert_eq!(code, 0, "{args:?}: {}", sub.stderr());
        assert_eq!(
            sub.stdout().contains('\x1b'),
            coloured,
            "{args:?} NO_COLOR={extra_env:?}"
        );
    }
}

#[test]
fn the_config_file_used_is_logged_at_debug() {
    let cli = Agentctl::new().with_checkout("log:\n  level: info\n");
    let url = format!("127.0.0.1:{}", free_port());
    let run = cli.run(&["-v", "subscribe", "--url", &url, "--count", "1"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("config file: ./config.yaml"),
        "{}",
        run.stderr
    );
    let run = Agentctl::new().run(&["-v", "subscribe", "--url", &url, "--sdk-key", "k"]);
    assert!(run.stderr.contains("no config file"), "{}", run.stderr);
}
