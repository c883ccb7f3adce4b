//! Bad input and failure policy: one-line errors, the right exit codes.

use std::time::Duration;

use crate::harness::fixtures;
use crate::harness::serve::{Serve, decide_demo};
use crate::harness::{Agentctl, RedisServer, free_port};

#[test]
fn unreachable_redis_is_one_line_naming_the_address() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let cli = Agentctl::new().env("OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_MAX_RETRIES", "1");
    let run = cli.run(&["--redis", &addr, "inspect", "streams"]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("agentctl: cannot connect to Redis at "),
        "{}",
        run.stderr
    );
    assert!(lines[0].contains(&addr), "{}", run.stderr);
    assert!(
        lines[0].ends_with("; is Redis running? try --redis HOST:PORT"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn password_never_appears_in_errors() {
    let port = free_port();
    let cli = Agentctl::new().env("OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_MAX_RETRIES", "0");
    let run = cli.run(&[
        "--redis",
        &format!("redis://admin:hunter2@127.0.0.1:{port}/0"),
        "inspect",
        "len",
        "s",
    ]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let run = cli
        .env("REDIS_PASSWORD", "wrong-one")
        .redis(&redis, &["inspect", "streams"]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains("wrong-one"), "{}", run.stderr);
    assert!(run.stderr.contains(&redis.addr()), "{}", run.stderr);
}

#[test]
fn password_from_config_and_environment_fallback() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    fixtures::add_decisions(&redis, &fixtures::stream("PW"), 2);
    let by_env = Agentctl::new().env("REDIS_PASSWORD", "s3cret");
    assert_eq!(
        by_env
            .redis(&redis, &["inspect", "len", "--sdk-key", "PW"])
            .ok()
            .stdout
            .trim(),
        "2"
    );
    let cli = Agentctl::new();
    let config = cli.cwd().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "synchronization:\n  pubsub:\n    redis:\n      host: {}\n      auth_token: s3cret\n",
            redis.addr()
        ),
    )
    .unwrap();
    let run = cli
        .run(&[
            "--config",
            config.to_str().unwrap(),
            "inspect",
            "len",
            "--sdk-key",
            "PW",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "2");
}

#[test]
fn missing_stream_group_and_wrong_type() {
    let redis = RedisServer::start();
    let scene = fixtures::upstream_scene(&redis, "E1");
    let _: String = redis.cmd(&["SET", "plain", "x"]);
    let cli = Agentctl::new();
    let run = cli.redis(&redis, &["inspect", "groups", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        "agentctl: stream \"nope\" does not exist"
    );
    let run = cli.redis(&redis, &["inspect", "len", "plain"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        "agentctl: key \"plain\" is a string, not a stream"
    );
    let run = cli.redis(
        &redis,
        &["inspect", "pending", &scene.key, "--group", "ghosts"],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("has no consumer group \"ghosts\" (groups: notifications)"),
        "{}",
        run.stderr
    );
    let run = cli.redis(
        &redis,
        &["claim", &scene.key, "--group", "ghosts", "--to", "x"],
    );
    assert_eq!(run.code, 1);
    let run = cli.redis(&redis, &["trim", "nope", "--maxlen", "1"]);
    assert_eq!(run.code, 1);
}

#[test]
fn usage_errors_exit_2() {
    let cli = Agentctl::new();
    for args in [
        vec!["trim", "s"],
        vec!["trim", "s", "--maxlen", "1", "--minid", "1-0"],
        vec!["trim", "s", "--all", "--maxlen", "1"],
        vec!["trim", "s", "--minid", "yesterday"],
        vec!["trim", "s", "--max-age", "5 days"],
        vec!["inspect", "pending", "s", "--min-idle", "-1s"],
        vec!["inspect", "consumers"],
        vec![
            "claim",
            "s",
            "--group",
            "g",
            "--to",
            "c",
            "--dead-letter",
            "d",
        ],
        vec![
            "claim", "s", "--group", "g", "--to", "c", "--ids", "1-0", "--from", "x",
        ],
        vec![
            "claim",
            "s",
            "--group",
            "g",
            "--to",
            "c",
            "--ids",
            "not-an-id",
        ],
        vec!["inspect", "streams", "--watch", "0s"],
    ] {
        let run = cli.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        // clap's own errors, or ours found after parsing (no SDK key to default to).
        assert!(
            run.stderr.contains("error:") || run.stderr.starts_with("agentctl: no SDK key"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn config_errors_name_file_key_value() {
    let cli = Agentctl::new();
    let config = cli.cwd().join("bad.yaml");
    std::fs::write(
        &config,
        "synchronization:\n  pubsub:\n    redis:\n      flush_interval: soon\n",
    )
    .unwrap();
    let run = cli.run(&["--config", config.to_str().unwrap(), "inspect", "streams"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("bad.yaml")
            && run.stderr.contains("flush_interval")
            && run.stderr.contains("soon"),
        "{}",
        run.stderr
    );
    // A config file that was named must exist, whatever the subcommand.
    for args in [
        vec!["inspect", "streams"],
        vec!["subscribe", "--sdk-key", "k"],
        vec!["burst", "--sdk-key", "k"],
        vec!["completions", "bash"],
        vec!["serve"],
    ] {
        let mut all = vec!["--config", "/nonexistent/agent.yaml"];
        all.extend(args.iter().copied());
        let run = cli.run(&all);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(
            run.stderr
                .starts_with("agentctl: config file /nonexistent/agent.yaml: cannot read: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn unknown_config_keys_are_warned_about_and_closed_pipes_are_quiet() {
    let redis = RedisServer::start();
    fixtures::add_decisions(&redis, &fixtures::stream("W1"), 1);
    let cli = Agentctl::new();
    std::fs::write(
        cli.cwd().join("config.yaml"),
        format!(
            "synchronization:\n  pubsub:\n    redis:\n      host: {}\n      bogus_key: 1\n",
            redis.addr()
        ),
    )
    .unwrap();
    let run = cli.run(&["inspect", "streams"]).ok();
    assert!(run.stderr.contains("bogus_key"), "{}", run.stderr);
    assert!(run.stdout.contains("stream:optimizely-sync-W1"));
}

/// Copies the shipped `config.yaml` and demo datafile into `dir`, as a fresh clone has them.
fn checkout_into(dir: &std::path::Path) {
    let root = crate::harness::serve::repo_root();
    std::fs::create_dir_all(dir.join("datafiles")).unwrap();
    std::fs::copy(
        root.join("datafiles/demo.json"),
        dir.join("datafiles/demo.json"),
    )
    .unwrap();
    std::fs::copy(root.join("config.yaml"), dir.join("config.yaml")).unwrap();
}

#[tokio::test]
async fn the_demo_serve_sends_no_events_and_ctrl_c_stops_it_at_once_with_130() {
    let builder = Serve::builder().defaults_from_cwd();
    checkout_into(builder.cwd());
    let mut serve = builder.start();
    for i in 0..30 {
        decide_demo(&serve, &format!("user-{i}")).await;
    }
    let started = std::time::Instant::now();
    serve.signal_int();
    let status = serve.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130), "{}", serve.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let log = serve.stderr();
    assert!(
        log.contains("client.eventURL is empty: impression and conversion events are discarded"),
        "{log}"
    );
    assert!(!log.contains("event queue is full"), "{log}");
    // Not a terminal: JSON lines, as log.pretty is left unset.
    assert!(log.lines().all(|l| l.starts_with('{')), "{log}");
}

#[tokio::test]
async fn shutdown_waits_for_an_unreachable_event_endpoint_only_as_long_as_configured() {
    // Accepts connections and never answers.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/events", hole.local_addr().unwrap());
    let mut serve = Serve::start(&format!(
        "client: {{eventURL: \"{url}\", batchSize: 1, eventShutdownTimeout: 300ms}}\n\
         log: {{pretty: true}}"
    ));
    for i in 0..5 {
        decide_demo(&serve, &format!("user-{i}")).await;
    }
    let started = std::time::Instant::now();
    assert_eq!(serve.terminate().await.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let log = serve.stderr();
    assert!(
        log.contains("5 events were not delivered to the event endpoint (5 failed, 0 dropped"),
        "{log}"
    );
    // log.pretty: true wins over "not a terminal".
    assert!(!log.lines().any(|l| l.starts_with('{')), "{log}");
}

#[tokio::test]
async fn serve_warns_when_it_falls_back_to_pubsub_because_detection_failed() {
    use crate::harness::serve::sync_config;
    let warning = "notifications run on Redis Pub/Sub because the Redis version could not be \
                   detected";
    // A Redis that refuses INFO: its version cannot be read, so Pub/Sub it is.
    let redis = RedisServer::start_with(&["--rename-command", "INFO", ""]);
    let mut serve = Serve::builder()
        .config(&sync_config(&redis.addr(), "redis"))
        .start();
    let log = crate::harness::serve::eventually(Duration::from_secs(10), || {
        let log = serve.stderr();
        std::future::ready(log.contains(warning).then_some(log))
    })
    .await;
    assert!(log.contains("redis-streams or redis-pubsub"), "{log}");
    assert_eq!(serve.terminate().await.code(), Some(0));

    // Forced Pub/Sub is a choice, not a fallback: no warning.
    let mut forced = Serve::builder()
        .config(&sync_config(&redis.addr(), "redis-pubsub"))
        .start();
    assert_eq!(forced.terminate().await.code(), Some(0));
    assert!(!forced.stderr().contains(warning), "{}", forced.stderr());
}
