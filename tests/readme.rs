//! The README's "First ten minutes" section runs as written. Every ```sh block of
//! that section marked `<!-- readme-test -->` is extracted and run in order with
//! the built binary (`agentctl` and `cargo run --release --` both mean it), in a
//! directory laid out like a fresh clone (the shipped `config.yaml` and demo
//! datafile). The test's own ports replace the README's: `serve` gets port-0
//! listeners and the config it reads is rewritten to the ports it got, and
//! `localhost:6379` becomes a `redis-server` the test starts (before that, the
//! config names a closed port: no Redis, as on a fresh machine). `serve` and an
//! unbounded `subscribe` run in the background, as in a second terminal, and end
//! with Ctrl-C (SIGINT, exit 130). Each command's exit code and key output lines
//! are checked, and so is the README: each key line must appear in the section as
//! well, so the output it quotes cannot drift from what the commands print.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::serve::{client, repo_root, sample};
use crate::harness::{Agentctl, RedisServer, free_port};

/// The section that is run.
const SECTION: &str = "## First ten minutes";
/// The marker that selects a block.
const MARKER: &str = "<!-- readme-test -->";
/// The Redis address the README uses, replaced by the test's own.
const README_REDIS: &str = "localhost:6379";
/// How long one foreground command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a command of the section must do.
struct Expect {
    /// Exit code (after Ctrl-C for background commands).
    code: i32,
    /// Lines (or parts of lines) that the command prints and the README shows.
    keys: &'static [&'static str],
    /// Parts of the output the README need not show (the JSON a pipe gets).
    actual_only: &'static [&'static str],
}

/// The expectations of each command the section may contain, by the command as
/// written (after `cargo run --release --` became `agentctl`) and whether a `serve`
/// synchronised through Redis runs. A command missing here fails the test, so a
/// new README command comes with its checks.
fn expect(command: &str, redis_phase: bool) -> Option<Expect> {
    const NOTE: &str = "agentctl: using SDK key \"demo\" (the only datafile in ./datafiles)";
    Some(match (command, redis_phase) {
        ("agentctl serve" | "agentctl --redis localhost:6379 serve", _) => Expect {
            code: 130,
            keys: &["listening api=127.0.0.1:"],
            actual_only: &[],
        },
        ("agentctl subscribe --filter decision", _) => Expect {
            code: 130,
            keys: &[NOTE, "agentctl: received "],
            actual_only: &["\"type\":\"decision\""],
        },
        ("agentctl burst", _) => Expect {
            code: 0,
            keys: &[
                NOTE,
                "burst     decide http://127.0.0.1:",
                "status    200: 20\n",
                "errors    0\n",
            ],
            actual_only: &[],
        },
        ("agentctl inspect pending", false) => Expect {
            code: 1,
            keys: &["is Redis running? try --redis HOST:PORT (and run serve with --redis too"],
            actual_only: &[NOTE],
        },
        ("agentctl inspect pending", true) => Expect {
            code: 0,
            keys: &["0 pending: stream:optimizely-sync-demo has no consumer group\n"],
            actual_only: &[NOTE],
        },
        ("agentctl inspect streams", true) => Expect {
            code: 0,
            keys: &["1 stream(s) matching stream:optimizely-sync-*"],
            actual_only: &[" stream:optimizely-sync-demo  demo "],
        },
        _ => return None,
    })
}

/// The commands of the marked ```sh blocks of the section, in order, with `\`
/// continuations joined; and the section's text.
fn commands(readme: &str) -> (Vec<String>, String) {
    let start = readme
        .find(SECTION)
        .unwrap_or_else(|| panic!("README has no {SECTION:?} section"));
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut commands = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() != MARKER {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim),
            Some("```sh"),
            "{MARKER} must be followed by a ```sh block"
        );
        let mut pending = String::new();
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(head) => {
                    pending.push_str(head.trim_end());
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line);
                    commands.push(std::mem::take(&mut pending));
                }
            }
        }
    }
    assert!(!commands.is_empty(), "no {MARKER} blocks in {SECTION:?}");
    (commands, section.to_owned())
}

/// A background process with its output in files.
struct Background {
    child: Child,
    command: String,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Background {
    fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&self.out), read(&self.err))
    }

    /// Ctrl-C, then the exit code (within 10 s) and everything it printed.
    fn interrupt(mut self) -> (i32, String) {
        let status = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = wait(&mut self.child, Duration::from_secs(10), &self.command);
        (code, self.output())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit; fails the test after `timeout`.
fn wait(child: &mut Child, timeout: Duration, command: &str) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "{command:?} did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the test stands: the clone, the running processes, the Redis.
struct Run {
    cli: Agentctl,
    section: String,
    shipped_config: String,
    redis: Option<RedisServer>,
    /// Where the config's Redis points before the test's Redis runs: nothing.
    closed_redis: String,
    serve: Option<(Background, String)>,
    subscribers: Vec<Background>,
    step: usize,
}

impl Run {
    /// Checks one command's outcome against its expectation, and the README.
    fn check(&self, command: &str, expected: &Expect, code: i32, output: &str) {
        assert_eq!(
            code, expected.code,
            "README command {command:?} exited {code}:\n{output}"
        );
        for key in expected.keys {
            assert!(
                output.contains(key),
                "README command {command:?}: no {key:?} in its output:\n{output}"
            );
            assert!(
                self.section.contains(key),
                "README: {SECTION:?} does not show {key:?}, which {command:?} prints:\n{output}"
            );
        }
        for key in expected.actual_only {
            assert!(
                output.contains(key),
                "README command {command:?}: no {key:?} in its output:\n{output}"
            );
        }
    }

    /// Writes the clone's config.yaml: the shipped one with the test's API port and
    /// Redis.
    fn write_config(&self, api_port: u16) {
        let redis = self
            .redis
            .as_ref()
            .map_or(self.closed_redis.clone(), RedisServer::addr);
        let config = self
            .shipped_config
            .replace("port: \"8080\"", &format!("port: \"{api_port}\""))
            .replace(
                &format!("host: \"{README_REDIS}\""),
                &format!("host: \"{redis}\""),
            );
        assert_ne!(
            config, self.shipped_config,
            "the shipped config changed shape"
        );
        std::fs::write(self.cli.cwd().join("config.yaml"), config).unwrap();
    }

    /// Stops the background processes with Ctrl-C and checks them.
    fn stop_background(&mut self) {
        let redis_phase = self.redis.is_some();
        for subscriber in std::mem::take(&mut self.subscribers) {
            let command = subscriber.command.clone();
            let (code, output) = subscriber.interrupt();
            self.check(
                &command,
                &expect(&command, redis_phase).unwrap(),
                code,
                &output,
            );
        }
        if let Some((serve, _admin)) = self.serve.take() {
            let command = serve.command.clone();
            let started = Instant::now();
            let (code, output) = serve.interrupt();
            self.check(
                &command,
                &expect(&command, redis_phase).unwrap(),
                code,
                &output,
            );
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "Ctrl-C took {:?} to stop {command:?}",
                started.elapsed()
            );
        }
    }

    fn spawn(&mut self, args: &[String], command: &str) -> Background {
        self.step += 1;
        let out = self.cli.cwd().join(format!("step-{}.out", self.step));
        let err = self.cli.cwd().join(format!("step-{}.err", self.step));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self
            .cli
            .command(&refs)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Background {
            child,
            command: command.to_owned(),
            out,
            err,
        }
    }

    /// Starts `serve` on port-0 listeners, waits for its `listening` line and points
    /// the clone's config at the ports it got.
    async fn start_serve(&mut self, mut args: Vec<String>, command: &str) {
        self.stop_background();
        for flag in ["--api-addr", "--admin-addr", "--webhook-addr"] {
            args.extend([flag.to_owned(), "127.0.0.1:0".to_owned()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.step += 1;
        let err = self.cli.cwd().join(format!("step-{}.err", self.step));
        let out = self.cli.cwd().join(format!("step-{}.out", self.step));
        let mut child = self
            .cli
            .command(&refs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let copy = out.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = std::fs::write(&copy, &line);
            let _ = tx.send(line);
            let mut rest = String::new();
            while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!(
                    "{command:?} printed no listening line:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                )
            });
        let addr = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("{command:?} printed {line:?}"))
                .to_owned()
        };
        let api_port: u16 = addr("api=").rsplit(':').next().unwrap().parse().unwrap();
        let admin = addr("admin=");
        self.write_config(api_port);
        let serve = Background {
            child,
            command: command.to_owned(),
            out,
            err,
        };
        self.serve = Some((serve, admin));
    }

    /// Starts an unbounded `subscribe` and waits until the server counts it, so
    /// what the next command publishes reaches it.
    async fn start_subscriber(&mut self, args: Vec<String>, command: &str) {
        let before = self.subscriber_count().await;
        let subscriber = self.spawn(&args, command);
        assert!(self.serve.is_some(), "subscribe before serve");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.subscriber_count().await;
            if now > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{command:?} did not connect:\n{}",
                subscriber.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.subscribers.push(subscriber);
    }

    async fn subscriber_count(&self) -> f64 {
        let Some((_, admin)) = &self.serve else {
            return 0.0;
        };
        let text = client()
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sample(&text, "agentctl_sse_subscribers{hub=\"memory\"}")
            .or_else(|| sample(&text, "agentctl_sse_subscribers{hub=\"redis-streams\"}"))
            .unwrap_or(0.0)
    }

    /// Runs a command to completion (bounded) and checks it.
    fn run_to_end(&mut self, args: &[String], command: &str) {
        let expected = expect(command, self.redis.is_some()).unwrap();
        let mut process = self.spawn(args, command);
        let code = wait(&mut process.child, COMMAND_TIMEOUT, command);
        self.check(command, &expected, code, &process.output());
    }
}

#[tokio::test]
async fn first_ten_minutes_runs_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let (commands, section) = commands(&readme);
    let shipped_config = std::fs::read_to_string(repo_root().join("config.yaml")).unwrap();
    let cli = Agentctl::new().with_checkout(&shipped_config);
    let mut run = Run {
        cli,
        section,
        shipped_config,
        redis: None,
        closed_redis: format!("127.0.0.1:{}", free_port()),
        serve: None,
        subscribers: Vec::new(),
        step: 0,
    };
    // Nothing runs yet: no command may reach a Redis or Agent of the machine.
    run.write_config(free_port());
    for written in &commands {
        let command = written.replace("cargo run --release --", "agentctl");
        assert!(
            expect(&command, run.redis.is_some()).is_some(),
            "README command {written:?} has no expectation in tests/readme.rs"
        );
        if command.contains(README_REDIS) && run.redis.is_none() {
            run.redis = Some(RedisServer::start());
        }
        let substituted = match &run.redis {
            Some(redis) => command.replace(README_REDIS, &redis.addr()),
            None => command.clone(),
        };
        let mut words = substituted.split_whitespace().map(str::to_owned);
        assert_eq!(words.next().as_deref(), Some("agentctl"), "{written:?}");
        let args: Vec<String> = words.collect();
        if args.last().map(String::as_str) == Some("serve") {
            run.start_serve(args, &command).await;
        } else if args.first().map(String::as_str) == Some("subscribe")
            && !args.iter().any(|a| a == "--count" || a == "--timeout")
        {
            run.start_subscriber(args, &command).await;
        } else {
            run.run_to_end(&args, &command);
        }
    }
    run.stop_background();
}
