//! Test harness: a real `redis-server` per test on a port the OS picked, and a
//! runner for the built `agentctl` binary with a clean environment.

pub mod api;
pub mod fixtures;
pub mod proxy;
#[allow(dead_code)] // shared with the unit tests, which use other parts of it
pub mod redis_server;
pub mod serve;
pub mod topology;

pub use redis_server::{RedisServer, free_port};
pub use topology::{RedisCluster, SentinelSet, Topology};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The built binary, run with no `AGENTCTL_*`/`OPTIMIZELY_*`/`REDIS_*` variables
/// and in an empty directory, so no stray config.yaml is read.
pub struct Agentctl {
    cwd: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

/// The result of one run.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Parses stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Agentctl {
    /// A runner in a fresh empty directory.
    pub fn new() -> Self {
        Self {
            cwd: tempfile::tempdir().unwrap(),
            envs: Vec::new(),
        }
    }

    /// Sets an environment variable for every run.
    #[allow(dead_code)]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Lays the working directory out like a fresh clone: `./datafiles/demo.json`
    /// and `./config.yaml` with `config` as its text, so commands run bare find
    /// their defaults there.
    #[allow(dead_code)]
    pub fn with_checkout(self, config: &str) -> Self {
        let datafiles = self.cwd.path().join("datafiles");
        std::fs::create_dir_all(&datafiles).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("datafiles/demo.json"),
            datafiles.join("demo.json"),
        )
        .unwrap();
        std::fs::write(self.cwd.path().join("config.yaml"), config).unwrap();
        self
    }

    /// The working directory runs happen in.
    #[allow(dead_code)]
    pub fn cwd(&self) -> &Path {
        self.cwd.path()
    }

    /// Runs `agentctl ARGS…` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let output: Output = self.command(args).output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `agentctl --redis ADDR ARGS…`.
    pub fn redis(&self, redis: &RedisServer, args: &[&str]) -> Run {
        let addr = redis.addr();
        let mut all = vec!["--redis", addr.as_str()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// The command, ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_via(&[], args)
    }

    /// The command run through `wrapper` (e.g. `prlimit --nofile=N:N --`), which
    /// gets the binary's path and `args` after its own arguments.
    pub fn command_via(&self, wrapper: &[String], args: &[&str]) -> Command {
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin()),
            Some((program, wrapper_args)) => {
                let mut cmd = Command::new(program);
                cmd.args(wrapper_args).arg(bin());
                cmd
            }
        };
        cmd.args(args).current_dir(self.cwd.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("AGENTCTL_")
                || key.starts_with("OPTIMIZELY_")
                || key.starts_with("REDIS_")
                || key == "RUST_LOG"
            {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agentctl"))
}

/// Polls `probe` until it returns `Some` or the deadline passes.
#[allow(dead_code)]
pub fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
