//! `burst --verify`: SSE subscribers opened before the load, and the delivery
//! accounting after it (received, lost, duplicated, out of order, latency).
//!
//! A subscriber whose connection drops reconnects as `subscribe` does (to the next
//! `--subscribe-url`, round robin, with back-off) and resumes with `Last-Event-ID`
//! after the last id it received, an event's or the resume point the stream
//! started with: so a lost notification is one the service lost, not one that
//! went by while the tool was reconnecting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde::Serialize;

use super::Plan;
use super::latency::{Latency, histogram, micros, ms};
use crate::cli::BurstArgs;
use crate::cmd::sse_client::{self, BACKOFF, RESUME_POINT_EVENT, Targets};
use crate::config::Settings;
use crate::util::{error_chain, lock};
use crate::wire::{
    EVENT_STREAM_MIME, EVENT_STREAM_PATH, LAST_EVENT_ID_HEADER, SDK_KEY_HEADER, sse,
};

/// The wait for deliveries ends after this long without a new event.
const QUIET: Duration = Duration::from_secs(5);
/// ... and after this long in any case.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long opening one subscription may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    /// First arrival of each (sequence number, item).
    first: HashMap<(u64, String), Instant>,
    duplicated: u64,
    out_of_order: u64,
    /// Events of this run (duplicates included).
    events: u64,
    last_id: Option<(u64, u64)>,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    /// Connections opened again after one dropped.
    reconnects: u64,
    /// Whether a connection is open now (false while reconnecting).
    disconnected: bool,
    /// Why the last connection dropped, if one did.
    dropped: Option<String>,
    /// Why the subscriber gave up (a server refusing the stream), if it did.
    ended: Option<String>,
}

struct Subscriber {
    url: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

/// The open subscriptions.
pub(super) struct Verifier {
    subscribers: Vec<Subscriber>,
}

/// The delivery report of one subscriber.
#[derive(Debug, Serialize)]
pub(crate) struct SubscriberReport {
    pub(crate) subscriber: usize,
    pub(crate) url: String,
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) out_of_order: u64,
    /// Send of the request to delivery of its notification.
    pub(crate) delivery_latency: Latency,
    /// Start of the load to the first event, in milliseconds.
    pub(crate) time_to_first_event_ms: Option<f64>,
    /// Connections opened again (and resumed) after one dropped.
    pub(crate) reconnects: u64,
    /// Why the subscriber gave up, or else why its last connection dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_error: Option<String>,
}

/// The delivery report of the run.
#[derive(Debug, Serialize)]
pub(crate) struct Verification {
    pub(crate) subscribers: Vec<SubscriberReport>,
    /// Notifications every subscriber should have received.
    pub(crate) expected: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) out_of_order: u64,
}

/// `1712345678901-3` or `42` as an ordered pair.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    match id.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((id.parse().ok()?, 0)),
    }
}

/// The user id and the item (`flag:K`, `event:K`, `feature:K`, ...) of a message.
fn identify(message: &serde_json::Value) -> Option<(&str, String)> {
    let user = message.pointer("/UserContext/ID")?.as_str()?;
    let text = |p: &str| message.pointer(p).and_then(|v| v.as_str());
    let item = if let Some(key) = text("/EventKey") {
        format!("event:{key}")
    } else if let Some(key) = text("/DecisionInfo/flagKey") {
        format!("flag:{key}")
    } else if let Some(key) = text("/DecisionInfo/feature/featureKey") {
        format!("feature:{key}")
    } else if let Some(key) = text("/DecisionInfo/experimentKey") {
        format!("experiment:{key}")
    } else {
        format!("type:{}", text("/Type").unwrap_or_default())
    };
    Some((user, item))
}

impl Verifier {
    /// Opens `--subscribers` streams, spread over the `--subscribe-url`s (subscriber
    /// `i` starts on URL `i` and fails over to the next ones), and returns once
    /// every one answered 200.
    pub(super) async fn start(
        args: &BurstArgs,
        settings: &Settings,
        user_prefix: &str,
        url: &str,
        sdk_key: &str,
    ) -> anyhow::Result<Verifier> {
        let urls = if args.subscribe_url.is_empty() {
            vec![url.to_owned()]
        } else {
            super::target::agent_urls(&args.subscribe_url, settings)
        };
        // No overall timeout: the stream lives as long as the run.
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        let mut subscribers = Vec::new();
        for i in 0..args.subscribers as usize {
            let stream = Stream {
                client: client.clone(),
                sdk_key: sdk_key.to_owned(),
                headers: args.header.clone(),
                targets: Targets::new(urls.clone(), i),
                last_id: None,
                resume: true,
            };
            let base = stream.targets.current().to_owned();
            let response = tokio::time::timeout(CONNECT_TIMEOUT, stream.request().send())
                .await
                .with_context(|| format!("subscribing to {base}: no answer"))?
                .with_context(|| format!("subscribing to {base}"))?;
            if !response.status().is_success() {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                anyhow::bail!("subscribing to {base}: HTTP {status}: {}", body.trim());
            }
            let seen = Arc::new(Mutex::new(Seen::default()));
            let task =
                tokio::spawn(stream.follow(response, Arc::clone(&seen), user_prefix.to_owned()));
            subscribers.push(Subscriber {
                url: base,
                seen,
                task,
            });
        }
        Ok(Verifier { subscribers })
    }

    /// Waits for the deliveries (until all arrived, or [`QUIET`] passed without an
    /// event while every subscriber was connected; [`MAX_WAIT`] at most), closes the
    /// streams and accounts for every request.
    pub(super) async fn finish(
        self,
        plan: &Plan,
        sent: &BTreeMap<u64, (Instant, bool)>,
        start: Instant,
        send_end: Instant,
    ) -> Verification {
        let known: BTreeMap<u64, Vec<String>> = sent
            .iter()
            .filter(|(_, (_, ok))| *ok)
            .map(|(&seq, _)| (seq, plan.known_items(seq)))
            .collect();
        let minimum: u64 = known.values().map(|k| k.len().max(1) as u64).sum();
        let give_up = send_end + MAX_WAIT;
        loop {
            let mut complete = true;
            let mut reconnecting = false;
            let mut last = send_end;
            for sub in &self.subscribers {
                let seen = lock(&sub.seen);
                let delivered = seen
                    .first
                    .keys()
                    .filter(|(seq, _)| known.contains_key(seq))
                    .count();
                complete &= delivered as u64 >= minimum && seen.ended.is_none();
                reconnecting |= seen.disconnected && seen.ended.is_none();
                last = last.max(seen.last_event.unwrap_or(send_end));
            }
            let all_ended = self
                .subscribers
                .iter()
                .all(|s| lock(&s.seen).ended.is_some());
            let now = Instant::now();
            let quiet = !reconnecting && now.duration_since(last) >= QUIET;
            if complete || all_ended || now >= give_up || quiet {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for sub in &self.subscribers {
            sub.task.abort();
        }

        // What each successful request published: what it is known to publish plus
        // whatever any subscriber saw for it; at least one notification.
        let mut expected: BTreeMap<u64, BTreeSet<String>> = known
            .iter()
            .map(|(&seq, items)| (seq, items.iter().cloned().collect()))
            .collect();
        for sub in &self.subscribers {
            for (seq, item) in lock(&sub.seen).first.keys() {
                if let Some(items) = expected.get_mut(seq) {
                    items.insert(item.clone());
                }
            }
        }
        let total: u64 = expected
            .values()
            .map(|items| items.len().max(1) as u64)
            .sum();

        let mut reports = Vec::new();
        for (index, sub) in self.subscribers.iter().enumerate() {
            let seen = lock(&sub.seen);
            let mut latency = histogram();
            let mut received = 0;
            for ((seq, _), at) in &seen.first {
                if let Some((sent_at, true)) = sent.get(seq) {
                    received += 1;
                    latency.saturating_record(micros(at.saturating_duration_since(*sent_at)));
                }
            }
            reports.push(SubscriberReport {
                subscriber: index + 1,
                url: sub.url.clone(),
                expected: total,
                received,
                lost: total.saturating_sub(received),
                duplicated: seen.duplicated,
                out_of_order: seen.out_of_order,
                delivery_latency: Latency::of(&latency),
                time_to_first_event_ms: seen
                    .first_event
                    .map(|at| ms(micros(at.saturating_duration_since(start)))),
                reconnects: seen.reconnects,
                stream_error: seen.ended.clone().or_else(|| seen.dropped.clone()),
            });
        }
        Verification {
            expected: total,
            lost: reports.iter().map(|r| r.lost).sum(),
            duplicated: reports.iter().map(|r| r.duplicated).sum(),
            out_of_order: reports.iter().map(|r| r.out_of_order).sum(),
            subscribers: reports,
        }
    }
}

/// One subscriber's connection state: where it connects and where it resumes.
struct Stream {
    client: reqwest::Client,
    sdk_key: String,
    /// Extra headers (`--header`), e.g. `Authorization`.
    headers: Vec<(String, String)>,
    targets: Targets,
    /// The last id received: an event's, or the resume point.
    last_id: Option<String>,
    /// False once a server said it cannot resume (Redis Pub/Sub).
    resume: bool,
}

impl Stream {
    /// The stream request to the current URL, with `Last-Event-ID` when resuming.
    fn request(&self) -> reqwest::RequestBuilder {
        let base = self.targets.current().trim_end_matches('/');
        let mut request = self
            .client
            .get(format!("{base}{EVENT_STREAM_PATH}"))
            .header(SDK_KEY_HEADER, &self.sdk_key)
            .header("accept", EVENT_STREAM_MIME);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(id) = self.last_id.as_ref().filter(|_| self.resume) {
            request = request.header(LAST_EVENT_ID_HEADER, id);
        }
        request
    }

    /// Reads `response`, then reconnects and resumes after every drop until the
    /// task is aborted or a server refuses the stream (a 4xx).
    async fn follow(
        mut self,
        response: reqwest::Response,
        seen: Arc<Mutex<Seen>>,
        user_prefix: String,
    ) {
        let mut response = Some(response);
        let mut failures = 0;
        loop {
            let dropped = match response.take() {
                Some(response) => {
                    let before = lock(&seen).events;
                    let reason = self.read(response, &seen, &user_prefix).await;
                    if lock(&seen).events > before {
                        failures = 0;
                    }
                    reason
                }
                None => match self.request().send().await {
                    Err(err) => format!("cannot connect: {}", error_chain(&err)),
                    Ok(answer) if answer.status().is_success() => {
                        let mut seen = lock(&seen);
                        seen.disconnected = false;
                        seen.reconnects += 1;
                        drop(seen);
                        response = Some(answer);
                        continue;
                    }
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        let body = answer.text().await.unwrap_or_default();
                        let text = format!("HTTP {status}: {}", body.trim());
                        if sse_client::cannot_resume(status, &body) && self.resume {
                            self.resume = false;
                            continue;
                        }
                        if (400..500).contains(&status) {
                            lock(&seen).ended = Some(text);
                            return;
                        }
                        text
                    }
                },
            };
            let delay = BACKOFF.delay(failures);
            failures = failures.saturating_add(1);
            let from = self.targets.current().to_owned();
            let next = self.targets.advance().to_owned();
            {
                let mut seen = lock(&seen);
                seen.disconnected = true;
                seen.dropped = Some(format!("{from}: {dropped}; reconnecting to {next}"));
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Reads one connection until it ends, noting every event of this run and the
    /// ids to resume after; returns why it ended.
    async fn read(
        &mut self,
        response: reqwest::Response,
        seen: &Mutex<Seen>,
        user_prefix: &str,
    ) -> String {
        let mut events = Box::pin(sse_client::events(response.bytes_stream()));
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(err) => return format!("the stream broke: {err}"),
            };
            let now = Instant::now();
            if event.event == RESUME_POINT_EVENT {
                self.last_id = Some(event.data);
                continue;
            }
            if !event.event.is_empty() && event.event != sse::DEFAULT_EVENT {
                continue; // comments and control events (`reset`) are not notifications
            }
            if !event.id.is_empty() {
                self.last_id = Some(event.id.clone());
            }
            note(seen, &event.id, &event.data, user_prefix, now);
        }
        "the server closed the stream".to_owned()
    }
}

/// Notes one notification event (`id`, `data`) received at `now`, if it is one of
/// this run's (its user id starts with `user_prefix`).
fn note(seen: &Mutex<Seen>, id: &str, data: &str, user_prefix: &str, now: Instant) {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(data) else {
        return;
    };
    let Some((user, item)) = identify(&message) else {
        return;
    };
    let Some(seq) = user
        .strip_prefix(user_prefix)
        .and_then(|rest| rest.parse::<u64>().ok())
    else {
        return;
    };
    let mut seen = lock(seen);
    seen.events += 1;
    seen.first_event.get_or_insert(now);
    seen.last_event = Some(now);
    let fresh = !seen.first.contains_key(&(seq, item.clone()));
    if fresh {
        seen.first.insert((seq, item), now);
    } else {
        seen.duplicated += 1;
    }
    if let Some(id) = parse_id(id) {
        if fresh && seen.last_id.is_some_and(|last| id <= last) {
            seen.out_of_order += 1;
        }
        seen.last_id = Some(seen.last_id.map_or(id, |last| last.max(id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_order() {
        assert!(parse_id("10-1") < parse_id("10-2"));
        assert!(parse_id("9-5") < parse_id("10-0"));
        assert_eq!(parse_id("42"), Some((42, 0)));
        assert_eq!(parse_id("x"), None);
    }

    #[test]
    fn messages_are_identified() {
        let decide =
            json!({"Type": "flag", "UserContext": {"ID": "u"}, "DecisionInfo": {"flagKey": "f"}});
        assert_eq!(identify(&decide), Some(("u", "flag:f".to_owned())));
        let track = json!({"EventKey": "purchase", "UserContext": {"ID": "u"}});
        assert_eq!(identify(&track), Some(("u", "event:purchase".to_owned())));
        let feature =
            json!({"UserContext": {"ID": "u"}, "DecisionInfo": {"feature": {"featureKey": "k"}}});
        assert_eq!(identify(&feature), Some(("u", "feature:k".to_owned())));
        assert_eq!(identify(&json!({"x": 1})), None);
    }
}
