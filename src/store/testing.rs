//! A real `redis-server` per unit test (the pattern of `tests/harness/mod.rs`), for
//! the library's own tests that need one. Test-only.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` owned by one test, killed on drop (pattern of
/// `tests/harness/mod.rs`).
pub(crate) struct RedisServer {
    child: Child,
    /// The port it listens on.
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one on a free port (retried when the port was taken meanwhile).
    pub(crate) fn start() -> Self {
        for _ in 0..3 {
            if let Some(server) = Self::try_start_on(free_port()) {
                return server;
            }
        }
        panic!("redis-server did not start after 3 attempts");
    }

    /// Starts one on `port`.
    pub(crate) fn start_on(port: u16) -> Self {
        Self::try_start_on(port)
            .unwrap_or_else(|| panic!("redis-server could not start on port {port}"))
    }

    fn try_start_on(port: u16) -> Option<Self> {
        let bin =
            std::env::var("AGENTCTL_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".to_owned());
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {bin:?} ({e}); install it (Debian: apt-get install \
                     redis-server) or set AGENTCTL_TEST_REDIS_BIN"
                )
            });
        let mut server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.child.try_wait() {
                return None;
            }
            if let Ok(mut conn) = redis::Client::open(server.url()).and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} not ready after 5s");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Publishes as another instance (or an upstream Agent) would; returns the
    /// number of receiving clients.
    pub(crate) fn publish(&self, channel: &str, payload: &str) -> i64 {
        self.cmd(&["PUBLISH", channel, payload])
    }

    fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let mut conn = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        cmd.query(&mut conn).unwrap()
    }

    /// Clients holding a pattern subscription (each hub's subscriber is one;
    /// `PUBSUB NUMPAT` would count distinct patterns, not clients).
    pub(crate) fn pattern_subscribers(&self) -> usize {
        let list: String = self.cmd(&["CLIENT", "LIST"]);
        list.lines().filter(|l| l.contains(" psub=1 ")).count()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
