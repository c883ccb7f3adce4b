//! Load driver of `bench/sync.sh`: cross-instance notification delivery through
//! Redis Streams, measured from `POST /v1/decide` on one `serve` instance to the
//! SSE frame read on another.
//!
//! Every decide carries its userId `sb<phase>-<seq>-<send time, unix ns>`, the
//! moment the request is handed to the HTTP client; the subscribers find it in the
//! frame (`"ID":"sb…"`), so latency is publish→delivery per subscriber event. The
//! sender follows an open-model schedule (a 1 ms tick dispatches whatever is due);
//! how late each send was against its schedule is reported beside the latency
//! ("send lag" p50/p99/max), so a saturated client shows up instead of hiding
//! (coordinated omission). Beside it: the driver's own CPU use while sending (% of
//! one core, from `/proc/self/stat`) and how many sends had to wait for one of the
//! `--connections` in-flight slots (the server answering too slowly, not the driver
//! being slow). A row the driver could not keep to its schedule (sent below 95% of
//! the target rate, or send lag p99 ≥ 100 ms) is followed by a `behind schedule`
//! line naming the cause: `server-bound` when at least 1% of the sends waited for a
//! slot, else `driver-bound` (its figures then say how fast the driver was, not the
//! servers). Loss is
//! `2xx decides − distinct ids received`, per subscriber, after a drain.
//!
//! `--sdk-keys a,b,c` spreads the decides over several SDK keys in turn (one
//! notification stream each, so on a Redis Cluster over the primaries holding
//! them); every SDK key gets `--subscribers` subscribers of its own, and loss is
//! counted per subscriber against the decides of its key.
//!
//! Modes: `latency` (fixed rate), `max-rate` (rate steps, stops at the first step
//! that is not sustained), `fanout` (many subscribers, modest rate), `idle` (RSS of a
//! `serve` process per idle SSE subscriber, from `/proc/<pid>/status`).
//!
//! The driver, Redis and the servers share the machine's cores: quote that with
//! every figure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use reqwest::Client;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(about = "Cross-instance notification delivery benchmark driver")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
struct Common {
    /// Base URL of the instance that gets the decides (`http://127.0.0.1:PORT`).
    #[arg(long)]
    publish: String,
    /// Base URL of the instance the SSE subscribers read from.
    #[arg(long)]
    subscribe: String,
    /// SSE subscribers to open per SDK key.
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// SDK keys the decides go to in turn, each with a notification stream and
    /// `--subscribers` subscribers of its own.
    #[arg(long, value_delimiter = ',', default_value = "demo")]
    sdk_keys: Vec<String>,
    /// Concurrent decide requests at most (= HTTP/1.1 keep-alive connections).
    #[arg(long, default_value_t = 128)]
    connections: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Decides at a fixed rate; latency percentiles, loss, duplicates.
    Latency {
        #[command(flatten)]
        common: Common,
        /// Decides per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Print whether p99 is within this many milliseconds.
        #[arg(long)]
        goal_p99_ms: Option<f64>,
    },
    /// Steps the rate up; reports the highest step sustained with zero loss.
    MaxRate {
        #[command(flatten)]
        common: Common,
        /// Rates to try, in order.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "5000,10000,20000,30000,40000"
        )]
        steps: Vec<u64>,
        /// Seconds per step.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Print whether the highest sustained rate reaches this.
        #[arg(long)]
        goal: Option<u64>,
        /// Run every step even after one is not sustained (each step's row is
        /// printed; the highest sustained step is still reported).
        #[arg(long)]
        all_steps: bool,
    },
    /// Many subscribers on one instance at a modest rate.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Decides per second (deliveries/s = rate × subscribers).
        #[arg(long, default_value_t = 100)]
        rate: u64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// RSS of a serve process per idle SSE subscriber.
    Idle {
        /// Base URL of the instance to subscribe to.
        #[arg(long)]
        subscribe: String,
        /// Admin base URL of that instance (checks `agentctl_sse_subscribers`).
        #[arg(long)]
        admin: Option<String>,
        /// Pid of that instance.
        #[arg(long)]
        pid: u32,
        /// Idle subscribers to open.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Print whether KiB per subscriber is within this.
        #[arg(long)]
        goal_kib: Option<f64>,
    },
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// CPU time (user + system) this process has used, in seconds, from
/// `/proc/self/stat`; `None` where that file cannot be read.
fn cpu_secs(clk_tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (in parentheses): utime is the 12th.
    let mut fields = stat.rsplit_once(") ")?.1.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / clk_tck)
}

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; Linux's USER_HZ,
/// 100 on every mainstream architecture, when getconf is missing).
fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One subscriber's view of one phase.
#[derive(Default)]
struct SubPhase {
    seen: Vec<u8>,
    distinct: u64,
    dups: u64,
    last_recv_ns: u64,
}

/// Everything received in one phase (one rate step) by all subscribers.
struct PhaseAgg {
    hist: Histogram<u64>,
    subs: Vec<SubPhase>,
}

impl PhaseAgg {
    fn new(subscribers: usize) -> Self {
        let hist = Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds");
        let subs = (0..subscribers).map(|_| SubPhase::default()).collect();
        Self { hist, subs }
    }
}

/// Shared by the subscriber tasks; locked once per chunk read.
struct Collector {
    subscribers: usize,
    /// The index (in `--sdk-keys`) of each subscriber's SDK key.
    key_of: Vec<usize>,
    phases: Mutex<HashMap<u32, PhaseAgg>>,
    ended: Mutex<Vec<Option<String>>>,
    foreign: AtomicU64,
}

impl Collector {
    /// Subscriber `i` reads the stream of SDK key `i % keys`.
    fn new(subscribers: usize, keys: usize) -> Arc<Self> {
        Arc::new(Self {
            subscribers,
            key_of: (0..subscribers).map(|i| i % keys.max(1)).collect(),
            phases: Mutex::new(HashMap::new()),
            ended: Mutex::new(vec![None; subscribers]),
            foreign: AtomicU64::new(0),
        })
    }

    fn record(&self, sub: usize, recv_ns: u64, ids: &[(u32, u64, u64)]) {
        let mut phases = lock(&self.phases);
        for &(tag, seq, sent_ns) in ids {
            let Some(phase) = phases.get_mut(&tag) else {
                self.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let latency_us = recv_ns.saturating_sub(sent_ns) / 1000;
            phase.hist.saturating_record(latency_us.max(1));
            let s = &mut phase.subs[sub];
            let i = seq as usize;
            if s.seen.len() <= i {
                s.seen.resize((i + 1).max(s.seen.len() * 2), 0);
            }
            if s.seen[i] == 0 {
                s.seen[i] = 1;
                s.distinct += 1;
            } else {
                s.dups += 1;
            }
            s.last_recv_ns = s.last_recv_ns.max(recv_ns);
        }
    }

    fn start_phase(&self, tag: u32) {
        lock(&self.phases).insert(tag, PhaseAgg::new(self.subscribers));
    }

    /// Ids of `tag` not received yet, over all subscribers, when `expected[k]`
    /// decides of SDK key `k` were answered.
    fn missing(&self, tag: u32, expected: &[u64]) -> u64 {
        lock(&self.phases).get(&tag).map_or(u64::MAX, |p| {
            p.subs
                .iter()
                .zip(&self.key_of)
                .map(|(s, &k)| expected[k].saturating_sub(s.distinct))
                .sum()
        })
    }

    fn disconnected(&self) -> Vec<String> {
        lock(&self.ended).iter().flatten().cloned().collect()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `(phase, seq, sent ns)` of a frame whose userId is one of ours.
fn parse_id(frame: &[u8]) -> Option<(u32, u64, u64)> {
    const KEY: &[u8] = b"\"ID\":\"sb";
    let start = find(frame, KEY)? + KEY.len();
    let rest = &frame[start..];
    let end = rest.iter().position(|&b| b == b'"')?;
    let id = std::str::from_utf8(&rest[..end]).ok()?;
    let mut parts = id.splitn(3, '-');
    let tag = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((tag, seq, sent))
}

fn sse_client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(0)
        .build()?)
}

async fn open_one(client: &Client, url: &str, key: &str) -> anyhow::Result<reqwest::Response> {
    let response = client
        .get(format!(
            "{url}/v1/notifications/event-stream?filter=decision"
        ))
        .header("X-Optimizely-SDK-Key", key)
        .send()
        .await?
        .error_for_status()?;
    Ok(response)
}

async fn read_stream(mut response: reqwest::Response, sub: usize, collector: Arc<Collector>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut ids = Vec::new();
    let reason = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let recv_ns = now_ns();
                buf.extend_from_slice(&chunk);
                let mut start = 0;
                let mut ended = None;
                while let Some(len) = find(&buf[start..], b"\n\n") {
                    let frame = &buf[start..start + len];
                    if let Some(id) = parse_id(frame) {
                        ids.push(id);
                    } else if frame.starts_with(b": disconnected") {
                        ended = Some(String::from_utf8_lossy(frame).into_owned());
                    }
                    start += len + 2;
                }
                buf.drain(..start);
                if !ids.is_empty() {
                    collector.record(sub, recv_ns, &ids);
                    ids.clear();
                }
                if let Some(reason) = ended {
                    break reason;
                }
            }
            Ok(None) => break "stream ended".to_owned(),
            Err(err) => break format!("read error: {err}"),
        }
    };
    lock(&collector.ended)[sub] = Some(reason);
}

/// Opens the collector's subscribers, subscriber `i` on SDK key
/// `keys[collector.key_of[i]]` (at most 100 connecting at once), each read by its
/// own task; returns once all have their response headers (= are subscribed).
async fn open_subscribers(
    url: &str,
    keys: &[String],
    collector: &Arc<Collector>,
) -> anyhow::Result<(JoinSet<()>, Duration)> {
    let client = sse_client()?;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(100));
    let mut opening = JoinSet::new();
    for (sub, &k) in collector.key_of.iter().enumerate() {
        let (client, url, gate) = (client.clone(), url.to_owned(), gate.clone());
        let key = keys[k].clone();
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (sub, open_one(&client, &url, &key).await)
        });
    }
    let mut readers = JoinSet::new();
    while let Some(done) = opening.join_next().await {
        let (sub, response) = done?;
        let response = response.with_context(|| format!("opening subscriber {sub}"))?;
        readers.spawn(read_stream(response, sub, collector.clone()));
    }
    Ok((readers, started.elapsed()))
}

struct Sent {
    target_rate: u64,
    dispatched: u64,
    ok: u64,
    /// Decides answered 2xx, per SDK key.
    ok_by_key: Vec<u64>,
    failed: u64,
    dispatch_secs: f64,
    start_ns: u64,
    /// Send time − scheduled time, µs.
    lag: Histogram<u64>,
    /// Sends whose scheduled time came while every connection was still waiting
    /// for an answer.
    slot_waits: u64,
    /// The driver's CPU use while dispatching, % of one core (`None`: unknown).
    cpu_percent: Option<f64>,
}

/// What one connection of the sender did.
struct Worker {
    dispatched: u64,
    ok_by_key: Vec<u64>,
    failed: u64,
    slot_waits: u64,
    lag: Histogram<u64>,
    first_error: Option<String>,
    /// When the last send went out, since the start.
    last_sent: Duration,
}

/// `host:port` of a base URL `http://host:port`.
fn authority(base: &str) -> anyhow::Result<&str> {
    base.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .with_context(|| format!("{base}: expected http://host:port"))
}

/// Open-model sender: decide `seq` is due at `seq / rate` seconds after the start
/// and goes to SDK key `seq % keys`.
/// Each of `connections` keep-alive connections takes the next due decide as soon
/// as it is free, waits for its scheduled time, sends it with its send time in the
/// userId and reads the answer. A decide taken after its scheduled time found every
/// connection busy (a slot wait); how late each send was is the send lag.
///
/// Each connection is a bare `hyper` HTTP/1.1 client connection driven by its own
/// task, with no pool, no per-request task and a prebuilt header set, so the driver
/// spends its CPU on the requests, not on a general-purpose client.
async fn send(common: &Common, tag: u32, rate: u64, seconds: u64) -> anyhow::Result<Sent> {
    let addr = authority(&common.publish)?.to_owned();
    anyhow::ensure!(!common.sdk_keys.is_empty(), "--sdk-keys names no SDK key");
    let keys: Arc<[String]> = common.sdk_keys.clone().into();
    let total = rate * seconds;
    let mut connections = Vec::with_capacity(common.connections);
    for _ in 0..common.connections.min(total as usize).max(1) {
        connections.push(connect(&addr).await?);
    }
    let hz = clk_tck();
    let cpu_before = cpu_secs(hz);
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let start_ns = now_ns();
    let mut workers = JoinSet::new();
    for sender in connections {
        let (next, addr, keys) = (next.clone(), addr.clone(), keys.clone());
        workers.spawn(async move {
            let mut worker = Worker {
                dispatched: 0,
                ok_by_key: vec![0; keys.len()],
                failed: 0,
                slot_waits: 0,
                lag: Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds"),
                first_error: None,
                last_sent: Duration::ZERO,
            };
            let mut sender = sender;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= total {
                    break;
                }
                let offset = Duration::from_nanos(
                    (u128::from(seq) * 1_000_000_000 / u128::from(rate)) as u64,
                );
                if start.elapsed() > offset {
                    worker.slot_waits += 1;
                } else {
                    tokio::time::sleep_until(start + offset).await;
                }
                let sent_ns = now_ns();
                let intended_ns = start_ns + offset.as_nanos() as u64;
                worker
                    .lag
                    .saturating_record((sent_ns.saturating_sub(intended_ns) / 1000).max(1));
                worker.dispatched += 1;
                worker.last_sent = start.elapsed();
                let body = format!(r#"{{"userId":"sb{tag}-{seq}-{sent_ns}"}}"#);
                let key = (seq % keys.len() as u64) as usize;
                match decide(&mut sender, &addr, &keys[key], body).await {
                    Ok(()) => worker.ok_by_key[key] += 1,
                    Err(err) => {
                        worker.failed += 1;
                        worker.first_error.get_or_insert_with(|| format!("{err:#}"));
                        if sender.is_closed() {
                            match connect(&addr).await {
                                Ok(fresh) => sender = fresh,
                                Err(_) => break,
                            }
                        }
                    }
                }
            }
            worker
        });
    }
    let mut sent = Sent {
        target_rate: rate,
        dispatched: 0,
        ok: 0,
        ok_by_key: vec![0; keys.len()],
        failed: 0,
        dispatch_secs: 0.0,
        start_ns,
        lag: Histogram::new_with_bounds(1, 300_000_000, 3)?,
        slot_waits: 0,
        cpu_percent: None,
    };
    let mut first_error = None;
    while let Some(worker) = workers.join_next().await {
        let worker = worker?;
        sent.dispatched += worker.dispatched;
        sent.ok += worker.ok_by_key.iter().sum::<u64>();
        for (total, ok) in sent.ok_by_key.iter_mut().zip(&worker.ok_by_key) {
            *total += ok;
        }
        sent.failed += worker.failed;
        sent.slot_waits += worker.slot_waits;
        sent.lag.add(&worker.lag)?;
        sent.dispatch_secs = sent.dispatch_secs.max(worker.last_sent.as_secs_f64());
        first_error = first_error.or(worker.first_error);
    }
    let busy_secs = start.elapsed().as_secs_f64();
    sent.cpu_percent = cpu_before
        .zip(cpu_secs(hz))
        .map(|(before, after)| 100.0 * (after - before) / busy_secs);
    if let Some(err) = first_error {
        eprintln!("sync_bench: first failed decide: {err}");
    }
    Ok(sent)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A keep-alive connection to `addr`, driven by a task of its own.
async fn connect(addr: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One `POST /v1/decide?keys=promo_banner` for SDK key `key` with `body`; its
/// answer read whole.
async fn decide(sender: &mut Sender, host: &str, key: &str, body: String) -> anyhow::Result<()> {
    sender.ready().await?;
    let request = hyper::Request::post("/v1/decide?keys=promo_banner")
        .header(hyper::header::HOST, host)
        .header("x-optimizely-sdk-key", key)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    anyhow::ensure!(status.is_success(), "decide answered {status}");
    Ok(())
}

/// Waits until every subscriber has all ids of `tag` of its SDK key (`expected`
/// per key), or no progress for 3 s (at most 30 s).
async fn drain(collector: &Collector, tag: u32, expected: &[u64]) {
    let started = Instant::now();
    let mut last = (collector.missing(tag, expected), Instant::now());
    while started.elapsed() < Duration::from_secs(30) {
        let now = collector.missing(tag, expected);
        if now == 0 {
            return;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Outcome {
    lost: u64,
    dups: u64,
    p99_ms: f64,
    lag_p99_ms: f64,
    achieved: f64,
    e2e: f64,
    disconnected: usize,
}

/// Send lag p99 at or above this means the driver did not keep to its schedule.
const DRIVER_LAG_LIMIT_MS: f64 = 100.0;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

const HEADER: &str = "target/s   sent/s  decides  subs  recv/sub(min)  lost  dup    e2e/s   p50 ms   p99 ms p99.9 ms   max ms | send lag p50 ms   p99 ms   max ms  slot waits  driver CPU";

fn report(collector: &Collector, tag: u32, sent: &Sent) -> Outcome {
    let phases = lock(&collector.phases);
    let Some(phase) = phases.get(&tag) else {
        return Outcome {
            lost: sent.ok,
            dups: 0,
            p99_ms: f64::INFINITY,
            lag_p99_ms: f64::INFINITY,
            achieved: 0.0,
            e2e: 0.0,
            disconnected: 0,
        };
    };
    let lost: u64 = phase
        .subs
        .iter()
        .zip(&collector.key_of)
        .map(|(s, &k)| sent.ok_by_key[k].saturating_sub(s.distinct))
        .sum();
    let dups: u64 = phase.subs.iter().map(|s| s.dups).sum();
    let min_recv = phase.subs.iter().map(|s| s.distinct).min().unwrap_or(0);
    // End-to-end rate: per SDK key, distinct deliveries to its slowest subscriber
    // over the time from the first intended send to its last delivery; summed
    // over the keys.
    let mut slowest = vec![f64::INFINITY; sent.ok_by_key.len()];
    for (s, &k) in phase.subs.iter().zip(&collector.key_of) {
        let span = s.last_recv_ns.saturating_sub(sent.start_ns) as f64 / 1e9;
        let rate = if span > 0.0 {
            s.distinct as f64 / span
        } else {
            0.0
        };
        slowest[k] = slowest[k].min(rate);
    }
    let e2e: f64 = slowest.iter().filter(|r| r.is_finite()).sum();
    let h = &phase.hist;
    let achieved = sent.dispatched as f64 / sent.dispatch_secs;
    let failed = if sent.failed > 0 {
        format!("  ({} decides failed)", sent.failed)
    } else {
        String::new()
    };
    let cpu = sent
        .cpu_percent
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}%"));
    println!(
        "{:>8} {:>8.0} {:>8} {:>5} {:>14} {:>5} {:>4} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} | {:>15.2} {:>8.2} {:>8.2} {:>11} {:>11}{failed}",
        sent.target_rate,
        achieved,
        sent.ok,
        phase.subs.len(),
        min_recv,
        lost,
        dups,
        e2e,
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        ms(sent.lag.value_at_quantile(0.5)),
        ms(sent.lag.value_at_quantile(0.99)),
        ms(sent.lag.max()),
        sent.slot_waits,
        cpu,
    );
    let lag_p99_ms = ms(sent.lag.value_at_quantile(0.99));
    if achieved < 0.95 * sent.target_rate as f64 || lag_p99_ms >= DRIVER_LAG_LIMIT_MS {
        // Behind schedule either because every in-flight slot was waiting for a
        // decide answer (the publishing instance is slow) or because the driver
        // itself could not dispatch faster.
        let cause = if sent.slot_waits * 100 >= sent.dispatched {
            "server-bound (decides answered too slowly for the in-flight slots)"
        } else {
            "driver-bound (the driver could not dispatch faster)"
        };
        println!(
            "  behind schedule, {cause}: sent {achieved:.0}/s of {}/s, send lag p99 {lag_p99_ms:.1} ms, driver CPU {cpu}, {} of {} sends waited for a slot",
            sent.target_rate, sent.slot_waits, sent.dispatched
        );
    }
    let disconnected = collector.disconnected();
    if !disconnected.is_empty() {
        println!(
            "  {} subscriber(s) disconnected, first: {}",
            disconnected.len(),
            disconnected[0].trim()
        );
    }
    Outcome {
        lost,
        dups,
        p99_ms: ms(h.value_at_quantile(0.99)),
        lag_p99_ms,
        achieved,
        e2e,
        disconnected: disconnected.len(),
    }
}

async fn phase(
    common: &Common,
    collector: &Collector,
    tag: u32,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    collector.start_phase(tag);
    let sent = send(common, tag, rate, seconds).await?;
    drain(collector, tag, &sent.ok_by_key).await;
    Ok(report(collector, tag, &sent))
}

async fn with_subscribers(common: &Common) -> anyhow::Result<(Arc<Collector>, JoinSet<()>)> {
    let collector = Collector::new(
        common.subscribers * common.sdk_keys.len(),
        common.sdk_keys.len(),
    );
    let (readers, took) = open_subscribers(&common.subscribe, &common.sdk_keys, &collector).await?;
    if common.subscribers > 1 {
        println!(
            "{} SSE subscribers open in {:.0} ms",
            collector.subscribers,
            took.as_secs_f64() * 1000.0
        );
    }
    // The instance's stream reader is already running; a moment for the
    // subscriptions to settle before the first decide.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((collector, readers))
}

fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("no VmRSS value")?
        .parse()?)
}

async fn gauge(admin: &str, name: &str) -> anyhow::Result<f64> {
    let text = Client::new()
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    // The sum over the metric's label sets (`{hub="…"}`), if it has any.
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse().ok()
        })
        .collect();
    anyhow::ensure!(!values.is_empty(), "{name} not in /metrics");
    Ok(values.iter().sum())
}

async fn idle(
    subscribe: &str,
    admin: Option<&str>,
    pid: u32,
    n: usize,
    goal_kib: Option<f64>,
) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = vm_rss_kib(pid)?;
    let collector = Collector::new(n, 1);
    let (mut readers, took) = open_subscribers(subscribe, &["demo".to_owned()], &collector).await?;
    if let Some(admin) = admin {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let open = gauge(admin, "agentctl_sse_subscribers").await?;
            if open >= n as f64 {
                break;
            }
            if Instant::now() > deadline {
                bail!("agentctl_sse_subscribers is {open}, expected {n}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = vm_rss_kib(pid)?;
    readers.abort_all();
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "{n} idle SSE subscribers (opened in {:.0} ms): VmRSS {before} KiB -> {after} KiB, {per:.1} KiB per subscriber",
        took.as_secs_f64() * 1000.0
    );
    if let Some(goal) = goal_kib {
        println!(
            "goal: <= {goal} KiB per idle subscriber: {}",
            if per <= goal { "met" } else { "MISSED" }
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.mode {
        Mode::Latency {
            common,
            rate,
            seconds,
            goal_p99_ms,
        } => {
            let (collector, mut readers) = with_subscribers(&common).await?;
            println!("{HEADER}");
            let out = phase(&common, &collector, 1, rate, seconds).await?;
            if let Some(goal) = goal_p99_ms {
                let met = out.p99_ms <= goal && out.lost == 0 && out.disconnected == 0;
                println!(
                    "goal: p99 <= {goal} ms at {rate}/s, zero loss: {}",
                    if met { "met" } else { "MISSED" }
                );
            }
            readers.abort_all();
        }
        Mode::MaxRate {
            common,
            steps,
            seconds,
            goal,
            all_steps,
        } => {
            let (collector, mut readers) = with_subscribers(&common).await?;
            println!("{HEADER}");
            let mut best: Option<(u64, f64, f64)> = None;
            for (i, &rate) in steps.iter().enumerate() {
                let out = phase(&common, &collector, i as u32 + 1, rate, seconds).await?;
                // Sustained: nothing lost or duplicated, no subscriber dropped, the
                // sender kept within 5% of the target rate and 100 ms of its
                // schedule (p99), and delivery kept up (p99 under 1 s rather than
                // a growing backlog).
                let sustained = out.lost == 0
                    && out.dups == 0
                    && out.disconnected == 0
                    && out.achieved >= 0.95 * rate as f64
                    && out.lag_p99_ms < DRIVER_LAG_LIMIT_MS
                    && out.p99_ms < 1000.0;
                if sustained {
                    best = Some((rate, out.achieved, out.e2e));
                } else if all_steps {
                    println!("  {rate}/s not sustained");
                } else {
                    println!("  {rate}/s not sustained; stopping");
                    break;
                }
            }
            match best {
                Some((rate, achieved, e2e)) => println!(
                    "highest sustained step: {rate}/s (sent {achieved:.0}/s, delivered {e2e:.0}/s end to end, zero loss)"
                ),
                None => println!("highest sustained step: none"),
            }
            if let Some(goal) = goal {
                let met = best.is_some_and(|(rate, _, _)| rate >= goal);
                println!(
                    "goal: >= {goal}/s sustained end to end with zero loss: {}",
                    if met { "met" } else { "MISSED" }
                );
            }
            readers.abort_all();
        }
        Mode::Fanout {
            common,
            rate,
            seconds,
        } => {
            let (collector, mut readers) = with_subscribers(&common).await?;
            println!("{HEADER}");
            let out = phase(&common, &collector, 1, rate, seconds).await?;
            println!(
                "fan-out: {:.0} deliveries/s to {} subscribers",
                out.e2e * common.subscribers as f64,
                common.subscribers
            );
            readers.abort_all();
        }
        Mode::Idle {
            subscribe,
            admin,
            pid,
            subscribers,
            goal_kib,
        } => idle(&subscribe, admin.as_deref(), pid, subscribers, goal_kib).await?,
    }
    Ok(())
}
