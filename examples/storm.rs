//! Reconnect-storm driver for `bench/storm.sh` (loopback only): opens N SSE
//! subscribers on instance A, sends decisions to B until every subscriber has some,
//! kills A with -9 (its pid is given), reconnects all N to B with their own last
//! ids while decisions keep coming, and prints the time until every one is caught
//! up, the Redis commands issued meanwhile (`INFO commandstats` deltas of the given
//! redis-server, or summed over the given primaries of a Redis Cluster), and the
//! events lost and duplicated against the stream's entries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use reqwest::Client;
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    /// Base URL of instance A (the one killed).
    #[arg(long)]
    a: String,
    /// Pid of instance A.
    #[arg(long)]
    a_pid: u32,
    /// Base URL of instance B (where everyone reconnects).
    #[arg(long)]
    b: String,
    /// The redis-server both use (`redis://127.0.0.1:PORT`), or every primary of
    /// the Redis Cluster they use, comma-separated: commandstats are summed over
    /// them, and the stream's entries are read from the one holding it (the
    /// others answer MOVED).
    #[arg(long, value_delimiter = ',', required = true)]
    redis: Vec<String>,
    /// Subscribers.
    #[arg(long, default_value_t = 5000)]
    subscribers: usize,
    /// Decisions sent before the kill, and again during the storm.
    #[arg(long, default_value_t = 50)]
    decisions: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

const STREAM: &str = "stream:optimizely-sync-demo";

/// One subscriber's stream: ids received, read until `want` returns true.
struct Reader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ids: Vec<String>,
}

impl Reader {
    async fn open(client: &Client, base: &str, last: Option<&str>) -> anyhow::Result<Reader> {
        let mut request = client
            .get(format!("{base}/v1/notifications/event-stream"))
            .header("X-Optimizely-SDK-Key", "demo");
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await?.error_for_status()?;
        Ok(Reader {
            response,
            buffer: Vec::new(),
            ids: Vec::new(),
        })
    }

    /// Reads until the last id received is `through` (what follows stays unread).
    async fn read_through(&mut self, through: &str) -> anyhow::Result<()> {
        loop {
            while let Some(at) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame = String::from_utf8_lossy(&self.buffer[..at]).into_owned();
                self.buffer.drain(..at + 2);
                let is_event = frame.lines().any(|l| l.starts_with("data:"));
                if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id:"))
                    && is_event
                {
                    self.ids.push(id.trim().to_owned());
                    if id.trim() == through {
                        return Ok(());
                    }
                }
            }
            let Some(chunk) = self.response.chunk().await? else {
                bail!("stream ended after {} events", self.ids.len());
            };
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

async fn decide(client: &Client, base: &str, user: &str) -> anyhow::Result<()> {
    client
        .post(format!("{base}/v1/decide?keys=promo_banner"))
        .header("X-Optimizely-SDK-Key", "demo")
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"userId":"{user}"}}"#))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// The stream's entry ids, from the node holding it.
fn stream_ids(nodes: &mut [redis::Connection]) -> anyhow::Result<Vec<String>> {
    for node in nodes.iter_mut() {
        let reply: redis::streams::StreamRangeReply = match redis::cmd("XRANGE")
            .arg(STREAM)
            .arg("-")
            .arg("+")
            .query(node)
        {
            Ok(reply) => reply,
            Err(err) if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::Moved) => {
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        return Ok(reply.ids.into_iter().map(|e| e.id).collect());
    }
    bail!("every node answered MOVED for {STREAM}")
}

/// Calls per command (lower-case name) from `INFO commandstats`, summed over
/// `nodes`.
fn commandstats(nodes: &mut [redis::Connection]) -> anyhow::Result<HashMap<String, u64>> {
    let mut calls = HashMap::new();
    for node in nodes.iter_mut() {
        let info: String = redis::cmd("INFO").arg("commandstats").query(node)?;
        for line in info.lines() {
            let Some((name, rest)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(":calls="))
            else {
                continue;
            };
            if let Some(n) = rest.split(',').next().and_then(|n| n.parse::<u64>().ok()) {
                *calls.entry(name.to_owned()).or_insert(0) += n;
            }
        }
    }
    Ok(calls)
}

/// Waits until the stream holds `n` entries; returns them.
async fn stream_of(redis: &mut [redis::Connection], n: usize) -> anyhow::Result<Vec<String>> {
    for _ in 0..400 {
        let ids = stream_ids(redis)?;
        if ids.len() >= n {
            return Ok(ids);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the stream never held {n} entries")
}

/// Opens `n` readers on `base` (100 connecting at once), the i-th resuming after
/// `last(i)`.
async fn open_all(
    client: &Client,
    base: &str,
    n: usize,
    last: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<Vec<Reader>> {
    let gate = Arc::new(Semaphore::new(100));
    let opening: Vec<_> = (0..n)
        .map(|i| {
            let (client, base, gate, last) =
                (client.clone(), base.to_owned(), gate.clone(), last(i));
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                Reader::open(&client, &base, last.as_deref()).await
            })
        })
        .collect();
    let mut readers = Vec::with_capacity(n);
    for open in opening {
        readers.push(open.await??);
    }
    Ok(readers)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest is built without a default TLS provider (loopback HTTP needs none).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::builder()
        .http1_only()
        .pool_max_idle_per_host(0)
        .build()?;
    let decider = Client::new();
    let mut redis = args
        .redis
        .iter()
        .map(|url| {
            redis::Client::open(url.as_str())?
                .get_connection()
                .with_context(|| format!("connecting to the benchmark's redis-server {url}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let n = args.subscribers;
    let deadline = Duration::from_secs(args.timeout);

    let readers = open_all(&client, &args.a, n, |_| None).await?;
    for i in 0..args.decisions {
        decide(&decider, &args.b, &format!("before-{i}")).await?;
    }
    let before = stream_of(&mut redis, args.decisions).await?;
    // Subscribers stop at different points, as if the kill caught them mid-read.
    let reading: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut reader)| {
            let through = before[before.len() - 1 - i % 10].clone();
            tokio::spawn(async move {
                tokio::time::timeout(deadline, reader.read_through(&through)).await??;
                anyhow::Ok(reader.ids)
            })
        })
        .collect();
    let mut seen = Vec::with_capacity(n);
    for read in reading {
        seen.push(read.await??);
    }
    std::process::Command::new("kill")
        .args(["-KILL", &args.a_pid.to_string()])
        .status()?;

    let stats_before = commandstats(&mut redis)?;
    let started = Instant::now();
    let sender = {
        let (decider, b, count) = (decider.clone(), args.b.clone(), args.decisions);
        tokio::spawn(async move {
            for i in 0..count {
                decide(&decider, &b, &format!("during-{i}")).await?;
            }
            anyhow::Ok(())
        })
    };
    let lasts: Vec<String> = seen
        .iter()
        .map(|ids| ids.last().cloned().unwrap_or_default())
        .collect();
    let resumed = open_all(&client, &args.b, n, |i| Some(lasts[i].clone())).await?;
    sender.await??;
    let stream = stream_of(&mut redis, 2 * args.decisions).await?;
    let end = stream.last().cloned().unwrap_or_default();
    let reading: Vec<_> = resumed
        .into_iter()
        .map(|mut reader| {
            let end = end.clone();
            tokio::spawn(async move {
                tokio::time::timeout(deadline, reader.read_through(&end)).await??;
                anyhow::Ok(reader.ids)
            })
        })
        .collect();
    let mut after = Vec::with_capacity(n);
    for read in reading {
        after.push(read.await??);
    }
    let caught_up = started.elapsed();
    let stats_after = commandstats(&mut redis)?;

    let (mut lost, mut duplicated) = (0usize, 0usize);
    for (before, after) in seen.iter().zip(&after) {
        let mut got: Vec<&String> = before.iter().chain(after).collect();
        let total = got.len();
        got.dedup();
        duplicated += total - got.len();
        lost += stream.iter().filter(|id| !got.contains(id)).count();
    }
    let delta = |name: &str| {
        stats_after.get(name).copied().unwrap_or(0) - stats_before.get(name).copied().unwrap_or(0)
    };
    println!(
        "storm: {n} subscribers resumed on B with {} distinct last ids; all caught up in {:.2} s; \
         lost {lost}, duplicated {duplicated}",
        {
            let mut distinct = lasts.clone();
            distinct.sort();
            distinct.dedup();
            distinct.len()
        },
        caught_up.as_secs_f64()
    );
    let over = match args.redis.len() {
        1 => String::new(),
        n => format!(" (summed over {n} primaries)"),
    };
    println!(
        "redis commands during the storm{over}: xrange {}, xrevrange {}, xinfo|stream {}, xread {}, xadd {}",
        delta("xrange"),
        delta("xrevrange"),
        delta("xinfo|stream"),
        delta("xread"),
        delta("xadd")
    );
    if lost + duplicated > 0 {
        bail!("{lost} lost, {duplicated} duplicated");
    }
    Ok(())
}
