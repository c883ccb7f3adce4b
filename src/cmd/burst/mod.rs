//! `agentctl burst`: a load generator for the Agent API that can also verify the
//! notifications each request publishes reach every SSE subscriber.
//!
//! Two load models: closed (`--concurrency` workers, each sending the next request
//! when the previous one answered) and open (`--rate`: requests start on a fixed
//! schedule; latency is measured from the intended start, which corrects for
//! coordinated omission). Latencies go into HDR histograms kept in shards, one lock
//! per shard, so workers hardly contend; the report merges them at the end.

mod latency;
mod plan;
mod report;
mod verify;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::target;
use crate::cli::BurstArgs;
use crate::config::Settings;
use crate::util::lock;
use latency::{histogram, micros};
pub(crate) use plan::Plan;
use plan::{Outcome, http_client, send};

/// Requests per run when neither --requests nor --duration is given.
const DEFAULT_REQUESTS: u64 = 20;
/// Outstanding requests allowed with --rate when --concurrency is not given.
const DEFAULT_OPEN_CAP: u32 = 1000;
/// Statistics shards (workers and open-model requests spread over them).
const SHARDS: usize = 64;

/// Runs the command; the exit code is 1 when a threshold is violated, a
/// notification was lost, or a request failed (unless an `errors` threshold says
/// how many failures are acceptable). Without `--url` and `--sdk-key` it loads the
/// serve the settings describe, with the default SDK key ([`super::target`]).
///
/// # Errors
///
/// [`super::Usage`] for flags that need others or an SDK key that cannot be
/// resolved; the first request cannot connect at all; `--verify` cannot subscribe.
pub async fn run(args: &BurstArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    crate::util::ensure_tls_provider();
    let env = |k: &str| std::env::var(k).ok();
    let sdk_key = target::sdk_key(args.sdk_key.as_deref(), settings, &env)?;
    let url = target::agent_url(args.url.as_deref(), settings);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let plan = Arc::new(Plan::new(args, &run_id, &url, &sdk_key)?);

    let verifier = if args.verify {
        Some(verify::Verifier::start(args, settings, &plan.user_prefix, &url, &sdk_key).await?)
    } else {
        None
    };

    let start = Instant::now();
    let recorder = Arc::new(Recorder::new(
        start,
        args.timeseries,
        args.verify,
        args.rate.is_some(),
    ));
    let limit = match (args.requests, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_REQUESTS),
    };
    let deadline = args.duration.map(|d| start + d);
    let progress = Progress::start(Arc::clone(&recorder), limit, args.duration);

    let concurrency = match args.rate {
        Some(rate) => {
            let cap = args.concurrency.unwrap_or(DEFAULT_OPEN_CAP);
            let client = http_client()?;
            open_model(&client, &plan, &recorder, rate, cap, limit, deadline).await?;
            cap
        }
        None => {
            let workers = args.concurrency.unwrap_or(1);
            closed_model(&plan, &recorder, workers, limit, deadline).await?;
            workers
        }
    };
    progress.finish().await;
    let send_end = Instant::now();

    let verification = match verifier {
        Some(verifier) => {
            let sent = recorder.sent();
            Some(verifier.finish(&plan, &sent, start, send_end).await)
        }
        None => None,
    };
    let report = report::Report::build(args, &plan, &recorder, concurrency, verification);
    if args.json {
        super::print_json(&report)?;
    } else {
        super::print(&report.text())?;
    }
    let mut failed = false;
    for check in &report.thresholds {
        if !check.ok {
            eprintln!(
                "agentctl: threshold {} violated: {} is {}",
                check.threshold, check.metric, check.actual
            );
            failed = true;
        }
    }
    if let Some(lost) = report.verify.as_ref().map(|v| v.lost).filter(|&l| l > 0) {
        eprintln!("agentctl: {lost} notification deliveries lost");
        failed = true;
    }
    let errors = recorder.failed.load(Ordering::Relaxed);
    let judged_by_threshold = args.threshold.iter().any(|t| t.metric == "errors");
    if errors > 0 && !judged_by_threshold {
        let done = recorder.done.load(Ordering::Relaxed);
        let hint = if errors == done {
            format!(
                "; is `agentctl serve` running at {}? try --url HOST:PORT",
                plan.url
            )
        } else {
            String::new()
        };
        eprintln!(
            "agentctl: {errors} of {done} requests failed (give --threshold 'errors<N' to \
             accept some){hint}"
        );
        failed = true;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The closed model, as wrk runs it: one single-threaded runtime per core, each
/// with its own client and its share of the workers, so that no request crosses
/// threads and each runtime records into its own shard.
async fn closed_model(
    plan: &Arc<Plan>,
    recorder: &Arc<Recorder>,
    workers: u32,
    limit: Option<u64>,
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(SHARDS).min(workers.max(1) as usize);
    let next = Arc::new(AtomicU64::new(0));
    let mut runners = Vec::new();
    for thread in 0..threads {
        // Workers thread, thread + threads, ...
        let share = (workers as usize + threads - 1 - thread) / threads;
        let (plan, recorder, next) = (Arc::clone(plan), Arc::clone(recorder), Arc::clone(&next));
        runners.push(tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async move {
                let client = http_client()?;
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..share {
                    let (client, plan, recorder, next) = (
                        client.clone(),
                        Arc::clone(&plan),
                        Arc::clone(&recorder),
                        Arc::clone(&next),
                    );
                    tasks.spawn(async move {
                        let mut now = Instant::now();
                        loop {
                            if deadline.is_some_and(|d| now >= d) {
                                break;
                            }
                            let seq = next.fetch_add(1, Ordering::Relaxed);
                            if limit.is_some_and(|n| seq >= n) {
                                break;
                            }
                            let sent = now;
                            let outcome = send(&client, &plan, seq).await;
                            now = Instant::now();
                            recorder.record(thread, seq, sent, sent, now, outcome);
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
                anyhow::Ok(())
            })
        }));
    }
    for runner in runners {
        runner.await.context("a load thread failed")??;
    }
    Ok(())
}

async fn open_model(
    client: &reqwest::Client,
    plan: &Arc<Plan>,
    recorder: &Arc<Recorder>,
    rate: f64,
    cap: u32,
    limit: Option<u64>,
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(cap as usize));
    let period = 1.0 / rate;
    let start = recorder.start;
    for seq in 0.. {
        if limit.is_some_and(|n| seq >= n) {
            break;
        }
        let intended = start + Duration::from_secs_f64(seq as f64 * period);
        if deadline.is_some_and(|d| intended >= d) {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (client, plan, recorder) = (client.clone(), Arc::clone(plan), Arc::clone(recorder));
        tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = send(&client, &plan, seq).await;
            let shard = (seq % SHARDS as u64) as usize;
            recorder.record(shard, seq, intended, sent, Instant::now(), outcome);
            drop(permit);
        });
    }
    // Every permit back means every request answered.
    let _all = permits.acquire_many(cap).await?;
    Ok(())
}

/// One `--timeseries` interval.
pub(crate) struct Interval {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latency: Histogram<u64>,
}

/// The statistics of one shard.
pub(crate) struct Shard {
    /// Latency from the intended send time (equals `raw` in the closed model).
    pub(crate) latency: Histogram<u64>,
    /// Latency from the actual send time.
    pub(crate) raw: Histogram<u64>,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) intervals: Vec<Interval>,
    /// With --verify: sequence number, actual send time, whether it succeeded.
    pub(crate) sent: Vec<(u64, Instant, bool)>,
}

/// Every request's result, sharded.
pub(crate) struct Recorder {
    pub(crate) start: Instant,
    interval: Option<Duration>,
    verify: bool,
    /// Whether to record `raw` apart from `latency` (they differ in the open model only).
    raw: bool,
    pub(crate) shards: Vec<Mutex<Shard>>,
    pub(crate) done: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Nanoseconds from `start` to the last answer.
    last_done: AtomicU64,
}

impl Recorder {
    fn new(start: Instant, interval: Option<Duration>, verify: bool, raw: bool) -> Recorder {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    latency: histogram(),
                    raw: histogram(),
                    statuses: BTreeMap::new(),
                    errors: BTreeMap::new(),
                    intervals: Vec::new(),
                    sent: Vec::new(),
                })
            })
            .collect();
        Recorder {
            start,
            interval,
            verify,
            raw,
            shards,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
        }
    }

    fn record(
        &self,
        shard: usize,
        seq: u64,
        intended: Instant,
        sent: Instant,
        done: Instant,
        outcome: Outcome,
    ) {
        let corrected = micros(done.saturating_duration_since(intended));
        let raw = micros(done.saturating_duration_since(sent));
        let since_start = done.saturating_duration_since(self.start);
        let (code, error) = match outcome {
            Outcome::Status(code, error) => (Some(code), error),
            Outcome::Failed(text) => (None, Some(text)),
        };
        let mut s = lock(&self.shards[shard]);
        if let Some(code) = code {
            *s.statuses.entry(code).or_default() += 1;
        }
        s.latency.saturating_record(corrected);
        if self.raw {
            s.raw.saturating_record(raw);
        }
        if let Some(interval) = self.interval {
            let index = (since_start.as_nanos() / interval.as_nanos().max(1)) as usize;
            while s.intervals.len() <= index {
                s.intervals.push(Interval {
                    requests: 0,
                    errors: 0,
                    latency: histogram(),
                });
            }
            let row = &mut s.intervals[index];
            row.requests += 1;
            row.errors += u64::from(error.is_some());
            row.latency.saturating_record(corrected);
        }
        if self.verify {
            s.sent.push((seq, sent, error.is_none()));
        }
        if let Some(text) = error {
            *s.errors.entry(text).or_default() += 1;
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        drop(s);
        self.done.fetch_add(1, Ordering::Relaxed);
        self.last_done.fetch_max(
            u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Time from the start to the last answer.
    pub(crate) fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.last_done.load(Ordering::Relaxed))
    }

    /// The corrected latency over every shard so far.
    pub(crate) fn merged(&self, pick: impl Fn(&Shard) -> &Histogram<u64>) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            let _ = all.add(pick(&lock(shard)));
        }
        all
    }

    /// With --verify: every request's send time and success, by sequence number.
    fn sent(&self) -> BTreeMap<u64, (Instant, bool)> {
        let mut all = BTreeMap::new();
        for shard in &self.shards {
            for &(seq, at, ok) in &lock(shard).sent {
                all.insert(seq, (at, ok));
            }
        }
        all
    }
}

/// The progress bar on stderr (hidden when stderr is not a terminal).
struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(recorder: Arc<Recorder>, limit: Option<u64>, duration: Option<Duration>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = if !terminal {
            ProgressBar::hidden()
        } else if let Some(n) = limit {
            ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
        } else {
            let ms = duration.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            ProgressBar::with_draw_target(Some(ms), ProgressDrawTarget::stderr())
        };
        let template = if limit.is_some() {
            "{bar:30} {pos}/{len} {msg}"
        } else {
            "{bar:30} {elapsed} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let ticker = {
            let bar = bar.clone();
            tokio::spawn(async move {
                if bar.is_hidden() {
                    return;
                }
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let done = recorder.done.load(Ordering::Relaxed);
                    let elapsed = recorder.start.elapsed();
                    if limit.is_some() {
                        bar.set_position(done);
                    } else {
                        bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                    }
                    let p99 = recorder.merged(|s| &s.latency).value_at_quantile(0.99);
                    let errors = recorder.failed.load(Ordering::Relaxed);
                    bar.set_message(format!(
                        "{:.0} req/s  errors {errors}  p99 {}",
                        done as f64 / elapsed.as_secs_f64().max(1e-9),
                        latency::ms_text(p99),
                    ));
                }
            })
        };
        Progress { bar, ticker }
    }

    async fn finish(self) {
        self.ticker.abort();
        let _ = self.ticker.await;
        self.bar.finish_and_clear();
    }
}
