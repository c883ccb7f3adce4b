//! The Redis deployments a test can run against: one server ([`RedisServer`]), a
//! local Redis Cluster of 3 primaries and 3 replicas ([`RedisCluster`]) and a
//! primary with a replica watched by 3 sentinels ([`SentinelSet`]). Every process
//! is started on free ports in temporary directories without persistence, and
//! killed by pid on drop. [`Topology`] lets one test body run on each.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis_server::{RedisServer, free_port};

/// What a test needs from a deployment: the address `serve` and the CLI take,
/// and commands run where the key lives (for seeding and checking data).
pub trait Topology {
    /// The `synchronization.pubsub.redis.host` / `--redis` value.
    fn host(&self) -> String;

    /// Runs one command on the node holding its key (or the primary) and
    /// returns its reply.
    fn query(&self, args: &[&str]) -> redis::Value;

    /// Clients holding a pattern subscription, over every node.
    fn pattern_subscribers(&self) -> usize;
}

/// Runs `args` on `topology` and decodes the reply.
pub fn query<T: redis::FromRedisValue>(topology: &dyn Topology, args: &[&str]) -> T {
    redis::from_redis_value(topology.query(args)).unwrap()
}

fn command(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd
}

impl Topology for RedisServer {
    fn host(&self) -> String {
        self.addr()
    }

    fn query(&self, args: &[&str]) -> redis::Value {
        command(args).query(&mut self.conn()).unwrap()
    }

    fn pattern_subscribers(&self) -> usize {
        RedisServer::pattern_subscribers(self)
    }
}

/// Waits until `check` holds, polling; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A local Redis Cluster: 3 primaries, each with one replica.
pub struct RedisCluster {
    /// The six servers, the first three created as primaries.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six cluster-enabled servers, joins them with `redis-cli --cluster
    /// create … --cluster-replicas 1` and waits until every node reports
    /// `cluster_state:ok` and every primary has its replica.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(RedisServer::addr).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): apt-get install redis-tools"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes };
        wait_until(Duration::from_secs(30), "cluster ready", || {
            cluster.nodes.iter().all(|node| {
                let info: String = query(node, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6")
            }) && cluster.primaries().len() == 3
                && cluster.primaries().iter().all(|&i| {
                    let info: String = query(&cluster.nodes[i], &["INFO", "replication"]);
                    info.contains("connected_slaves:1")
                })
        });
        cluster
    }

    /// `CLUSTER NODES` as the first node that answers sees it.
    fn cluster_nodes(&self) -> String {
        self.nodes
            .iter()
            .find_map(|node| {
                let client = redis::Client::open(node.url()).ok()?;
                let mut conn = client.get_connection().ok()?;
                command(&["CLUSTER", "NODES"]).query(&mut conn).ok()
            })
            .expect("a cluster node answers")
    }

    /// The index in `nodes` of the node whose `CLUSTER NODES` line is `line`.
    fn index_of(&self, line: &str) -> Option<usize> {
        let addr = line.split(' ').nth(1)?.split('@').next()?;
        self.nodes.iter().position(|n| n.addr() == addr)
    }

    /// The indices in `nodes` of the current primaries that are not failing.
    pub fn primaries(&self) -> Vec<usize> {
        self.cluster_nodes()
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or_default();
                flags.contains("master") && !flags.contains("fail")
            })
            .filter_map(|line| self.index_of(line))
            .collect()
    }

    /// The index in `nodes` of the replica of the primary `primary`.
    pub fn replica_of(&self, primary: usize) -> usize {
        let nodes = self.cluster_nodes();
        let id = nodes
            .lines()
            .find(|line| self.index_of(line) == Some(primary))
            .and_then(|line| line.split(' ').next())
            .expect("the primary is listed")
            .to_owned();
        nodes
            .lines()
            .find(|line| line.split(' ').nth(3) == Some(id.as_str()))
            .and_then(|line| self.index_of(line))
            .expect("the primary has a replica")
    }

    /// The index in `nodes` of the primary holding `key`.
    pub fn primary_of(&self, key: &str) -> usize {
        self.holder_of(key)
            .unwrap_or_else(|| panic!("no live primary holds {key}"))
    }

    /// The index in `nodes` of the primary holding `key`, asking each live
    /// primary (one that does not answer is skipped): `None` while none does
    /// (during a fail-over).
    pub fn holder_of(&self, key: &str) -> Option<usize> {
        for i in self.primaries() {
            let Ok(mut conn) =
                redis::Client::open(self.nodes[i].url()).and_then(|c| c.get_connection())
            else {
                continue;
            };
            if command(&["EXISTS", key]).query::<i64>(&mut conn).is_ok() {
                return Some(i);
            }
        }
        None
    }

    fn client(&self) -> redis::cluster::ClusterClient {
        redis::cluster::ClusterClient::new(
            self.nodes.iter().map(RedisServer::url).collect::<Vec<_>>(),
        )
        .unwrap()
    }
}

impl Topology for RedisCluster {
    fn host(&self) -> String {
        let seeds: Vec<String> = self.nodes[..3].iter().map(RedisServer::addr).collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    fn query(&self, args: &[&str]) -> redis::Value {
        let mut conn = self.client().get_connection().unwrap();
        command(args).query(&mut conn).unwrap()
    }

    fn pattern_subscribers(&self) -> usize {
        self.nodes
            .iter()
            .map(RedisServer::pattern_subscribers)
            .sum()
    }
}

/// One `redis-server --sentinel` process; killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A primary and its replica watched by three sentinels (quorum 2), which fail
/// the primary over within seconds of it going down.
pub struct SentinelSet {
    /// The servers: the primary first, then its replica (until a fail-over).
    pub servers: Vec<RedisServer>,
    sentinels: Vec<Sentinel>,
}

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "agentctl-test";

impl SentinelSet {
    /// Starts the primary, the replica (waiting for its link), then three
    /// sentinels, and waits until each knows the replica and the other two.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let port = primary.port().to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
        wait_until(Duration::from_secs(10), "replica linked", || {
            let info: String = query(&replica, &["INFO", "replication"]);
            info.contains("master_link_status:up")
        });
        let sentinels: Vec<Sentinel> = (0..3).map(|_| spawn_sentinel(primary.port())).collect();
        let set = Self {
            servers: vec![primary, replica],
            sentinels,
        };
        wait_until(Duration::from_secs(30), "sentinels see each other", || {
            set.sentinels.iter().all(|s| {
                let peers: Vec<redis::Value> =
                    sentinel_query(s.port, &["SENTINEL", "SENTINELS", MASTER_NAME]);
                let replicas: Vec<redis::Value> =
                    sentinel_query(s.port, &["SENTINEL", "REPLICAS", MASTER_NAME]);
                peers.len() == 2 && replicas.len() == 1
            })
        });
        set
    }

    /// The port of the primary the sentinels name now.
    pub fn primary_port(&self) -> u16 {
        let (_, port): (String, u16) = sentinel_query(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
        );
        port
    }

    /// The server that is the primary now.
    pub fn primary(&self) -> &RedisServer {
        let port = self.primary_port();
        self.servers
            .iter()
            .find(|s| s.port() == port)
            .expect("the primary is one of the set's servers")
    }

    /// Kills the primary (SIGKILL) and waits until the sentinels name the
    /// replica instead.
    pub fn kill_primary(&mut self) {
        let port = self.primary_port();
        let index = self.servers.iter().position(|s| s.port() == port).unwrap();
        self.servers[index].stop();
        wait_until(Duration::from_secs(30), "fail-over", || {
            self.primary_port() != port && {
                let info: String = query(self.primary(), &["INFO", "replication"]);
                info.contains("role:master")
            }
        });
    }
}

impl Topology for SentinelSet {
    fn host(&self) -> String {
        let addrs: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", addrs.join(","))
    }

    fn query(&self, args: &[&str]) -> redis::Value {
        self.primary().query(args)
    }

    fn pattern_subscribers(&self) -> usize {
        self.primary().pattern_subscribers()
    }
}

fn sentinel_query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> T {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    command(args)
        .query(&mut client.get_connection().unwrap())
        .unwrap()
}

/// Starts a sentinel watching the primary on `primary_port`, quick to decide it
/// is down (1 s) and to fail over.
fn spawn_sentinel(primary_port: u16) -> Sentinel {
    let bin =
        std::env::var("AGENTCTL_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".to_owned());
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new(&bin)
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin:?} --sentinel ({e})"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            let ping = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return Sentinel {
                    child,
                    port,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("redis-server --sentinel did not start after 3 attempts");
}
