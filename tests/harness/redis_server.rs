//! A real `redis-server` owned by one test, on a port the OS picked; killed on
//! drop. The one way tests start a Redis: the integration tests use it through
//! `tests/harness`, and the library's unit tests include this same file as
//! `store::testing`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

    /// Starts a server on `port` (one a test chose earlier, e.g. to start Redis
    /// after the client that will use it).
    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("redis.log");
        let child = spawn(port, dir.path(), &log, &[]);
        let mut server = Self {
            child,
            port,
            password: None,
            dir,
        };
        assert!(
            server.wait_ready(&log),
            "redis-server could not start on port {port}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        server
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

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
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

    /// Publishes as another instance (or an upstream Agent) would; returns the
    /// number of receiving clients.
    pub fn publish(&self, channel: &str, payload: &str) -> i64 {
        self.cmd(&["PUBLISH", channel, payload])
    }

    /// Clients holding a pattern subscription (each Pub/Sub hub's subscriber is
    /// one; `PUBSUB NUMPAT` would count distinct patterns, not clients).
    pub fn pattern_subscribers(&self) -> usize {
        let list: String = self.cmd(&["CLIENT", "LIST"]);
        list.lines().filter(|l| l.contains(" psub=1 ")).count()
    }

    /// The server's working directory.
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
