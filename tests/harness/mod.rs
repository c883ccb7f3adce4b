//! Test harness: a real `redis-server` per test on a port the OS picked, and a
//! runner for the built `agentctl` binary with a clean environment.

pub mod api;
pub mod fixtures;
pub mod proxy;
pub mod serve;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process owned by one test; killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server with default options.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `--option value` arguments.
    ///
    /// The port comes from binding `127.0.0.1:0`; if another process takes it
    /// before redis-server binds, the server exits early and we try a new port.
    pub fn start_with(extra: &[&str]) -> Self {
        let password = extra
            .windows(2)
            .find(|w| w[0] == "--requirepass")
            .map(|w| w[1].to_owned());
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let log = dir.path().join("redis.log");
            let child = spawn(port, dir.path(), &log, extra);
            let mut server = Self {
                child,
                port,
                password: password.clone(),
                dir,
            };
            if server.wait_ready(&log) {
                return server;
            }
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("redis-server did not start after 3 attempts; last log:\n{last_log}");
    }

    fn wait_ready(&mut self, log: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut conn) = redis::Client::open(self.url()).and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} not ready after 5s; log:\n{}",
            self.port,
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// `host:port` as agentctl's `--redis` takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://` URL, with the password when the server requires one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// A synchronous connection for seeding and checking data.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Runs one command and returns its reply.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut self.conn()).unwrap()
    }

    /// The server's working directory.
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new server on the same port and directory with the extra arguments
    /// `extra` (give the same ones as at the start, e.g. `--appendonly yes`, so an
    /// AOF written before is loaded); waits until it answers PING.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.stop();
        let log = self.dir.path().join("redis.log");
        self.child = spawn(self.port, self.dir.path(), &log, extra);
        assert!(
            self.wait_ready(&log),
            "redis-server did not restart on port {}; log:\n{}",
            self.port,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `$AGENTCTL_TEST_REDIS_BIN` (or `redis-server`) on `127.0.0.1:port`
/// without persistence, working in `dir` and logging to `log`, with the extra
/// `--option value` arguments `extra`; the one way tests start a Redis.
fn spawn(port: u16, dir: &Path, log: &Path, extra: &[&str]) -> Child {
    let bin =
        std::env::var("AGENTCTL_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".to_owned());
    Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {bin:?} ({e}); install it (Debian: apt-get install redis-server) \
                 or set AGENTCTL_TEST_REDIS_BIN"
            )
        })
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
