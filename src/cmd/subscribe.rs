//! `agentctl subscribe`: follow an Agent's SSE notification stream
//! (`GET /v1/notifications/event-stream`) and print one line per notification.
//!
//! HTTP is reqwest's streaming body; the SSE framing and the server's control
//! information (comments, the resume point) are read by [`super::sse_client`].
//!
//! Reconnecting is done here rather than by an SSE client crate: after a dropped
//! connection the next request goes to the next `--url` (round robin) and carries
//! `Last-Event-ID` with the last id received (an event's, or the resume point a
//! fresh stream starts with), and a server that cannot resume (Redis Pub/Sub
//! answers 400 naming Pub/Sub) is asked again without it.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use eventsource_stream::Event;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::sse_client::{self, BACKOFF, COMMENT_EVENT, RESUME_POINT_EVENT, Targets};
use super::target;
use crate::cli::{SubscribeArgs, SubscribeFormat};
use crate::config::Settings;
use crate::wire::{
    EVENT_STREAM_MIME, EVENT_STREAM_PATH, Filter, Kind, LAST_EVENT_ID_HEADER, SDK_KEY_HEADER,
    query, sse,
};

/// Runs `subscribe` until `--count`, `--timeout`, `--until-caught-up`, Ctrl-C or an
/// error. Without `--url` and `--sdk-key`, it follows the serve the settings
/// describe, with the default SDK key ([`super::target`]).
///
/// # Errors
///
/// The server cannot be reached or answers with an error; [`super::Interrupted`]
/// after Ctrl-C (the summary is printed first).
pub async fn run(
    args: &SubscribeArgs,
    settings: &Settings,
    color: super::Color,
) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let sdk_key = target::sdk_key(args.sdk_key.as_deref(), settings, &env)?;
    let targets = Targets::new(target::agent_urls(&args.url, settings), 0);
    let client = http_client(args)?;
    let format = match (args.format, args.json) {
        (Some(format), _) => format,
        (None, true) => SubscribeFormat::Json,
        (None, false) if io::stdout().is_terminal() => SubscribeFormat::Pretty,
        (None, false) => SubscribeFormat::Json,
    };
    let mut session = Session {
        args,
        targets,
        sdk_key,
        client,
        format,
        colour: color.stdout(),
        last_id: if args.from_start {
            Some("0-0".to_owned())
        } else {
            args.last_event_id.clone()
        },
        resume: true,
        received: BTreeMap::new(),
        total: 0,
        reconnects: 0,
    };
    let deadline = async {
        match args.timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let interrupted = {
        let follow = session.follow();
        tokio::pin!(follow);
        tokio::select! {
            result = &mut follow => {
                result?;
                false
            }
            () = deadline => false,
            _ = tokio::signal::ctrl_c() => true,
        }
    };
    if interrupted {
        eprintln!("{}", session.summary());
        return Err(super::Interrupted.into());
    }
    Ok(())
}

/// The HTTP client: `--cacert`, `--insecure`, no overall timeout (the stream lives on).
fn http_client(args: &SubscribeArgs) -> anyhow::Result<reqwest::Client> {
    crate::util::ensure_tls_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .danger_accept_invalid_certs(args.insecure);
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no PEM certificate", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("building the HTTP client")
}

/// Why one connection ended.
enum End {
    /// `--count` reached or caught up: the command is done.
    Done,
    /// The connection ended or broke; worth reconnecting.
    Dropped(String),
}

struct Session<'a> {
    args: &'a SubscribeArgs,
    /// The Agent's base URLs, and which one is in use.
    targets: Targets,
    /// The SDK key sent with every request.
    sdk_key: String,
    client: reqwest::Client,
    format: SubscribeFormat,
    colour: bool,
    /// The id to resume after (sent as `Last-Event-ID` while `resume` holds).
    last_id: Option<String>,
    resume: bool,
    received: BTreeMap<&'static str, u64>,
    total: u64,
    reconnects: u64,
}

impl Session<'_> {
    /// Connects, prints, reconnects (to the next URL).
    async fn follow(&mut self) -> anyhow::Result<()> {
        let mut failures = 0;
        let mut connected = false;
        // Before the first connection, each URL is tried once before giving up.
        let mut untried = self.targets.len();
        loop {
            let sent_id = self.last_id.clone().filter(|_| self.resume);
            let url = self.targets.current().to_owned();
            let reason = match self.request(&url, sent_id.as_deref()).send().await {
                Err(err) if !connected && untried <= 1 => {
                    bail!(
                        "cannot connect to {url}: {}; is `agentctl serve` running there? try \
                         --url HOST:PORT",
                        root_cause(&err)
                    );
                }
                Err(err) if !connected => {
                    untried -= 1;
                    let next = self.targets.advance();
                    eprintln!(
                        "agentctl: cannot connect to {url}: {}; trying {next}",
                        root_cause(&err)
                    );
                    continue;
                }
                Err(err) => format!("cannot connect to {url}: {}", root_cause(&err)),
                Ok(response) if !response.status().is_success() => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    let body = body.trim();
                    if sent_id.is_some() && sse_client::cannot_resume(status, body) {
                        eprintln!(
                            "agentctl: the server runs Redis Pub/Sub, which cannot resume \
                             (Last-Event-ID refused); continuing without resume: notifications \
                             sent while disconnected are missed"
                        );
                        self.resume = false;
                        continue;
                    }
                    if !connected || (400..500).contains(&status) {
                        bail!("server answered {status}: {body}");
                    }
                    format!("{url} answered {status}: {body}")
                }
                Ok(response) => {
                    connected = true;
                    let before = self.total;
                    match self.read(response).await? {
                        End::Done => return Ok(()),
                        End::Dropped(reason) => {
                            if self.total > before {
                                failures = 0;
                            }
                            reason
                        }
                    }
                }
            };
            if self.args.no_reconnect {
                bail!("{reason} (--no-reconnect given)");
            }
            self.reconnects += 1;
            let resume = match (&self.last_id, self.resume) {
                (Some(id), true) => format!(", resuming after {id}"),
                _ => String::new(),
            };
            let backoff = BACKOFF.delay(failures);
            failures = failures.saturating_add(1);
            let next = self.targets.advance();
            let to = if next == url {
                String::new()
            } else {
                format!(" to {next}")
            };
            eprintln!(
                "agentctl: {reason}; reconnecting{to} in {}{resume}",
                super::human_ms(u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX))
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// The stream request to `base`, with `Last-Event-ID` when resuming.
    fn request(&self, base: &str, last_id: Option<&str>) -> reqwest::RequestBuilder {
        let mut query: Vec<(&str, String)> = Vec::new();
        if !self.args.filter.is_empty() {
            let kinds = self.args.filter.iter().map(|&f| Kind::from(f));
            query.push((query::FILTER, Filter::query_value(kinds)));
        }
        if let Some(group) = &self.args.group {
            query.push((query::GROUP, group.clone()));
        }
        if let Some(consumer) = &self.args.consumer {
            query.push((query::CONSUMER, consumer.clone()));
        }
        let url = format!("{}{EVENT_STREAM_PATH}", base.trim_end_matches('/'));
        let mut request = self
            .client
            .get(url)
            .query(&query)
            .header("accept", EVENT_STREAM_MIME)
            .header(SDK_KEY_HEADER, &self.sdk_key);
        for (name, value) in &self.args.header {
            request = request.header(name, value);
        }
        if let Some(id) = last_id {
            request = request.header(LAST_EVENT_ID_HEADER, id);
        }
        request
    }

    /// Prints the events of one connection until it ends or the command is done.
    async fn read(&mut self, response: reqwest::Response) -> anyhow::Result<End> {
        let mut events = Box::pin(sse_client::events(response.bytes_stream()));
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(event) => event,
                Err(err) => return Ok(End::Dropped(format!("the stream broke: {err}"))),
            };
            if event.event == COMMENT_EVENT {
                if self.comment(&event.data) {
                    return Ok(End::Done);
                }
                continue;
            }
            if event.event == RESUME_POINT_EVENT {
                // Where this stream starts: resume from there even before an event.
                self.last_id = Some(event.data);
                continue;
            }
            if event.event == sse::RESET_EVENT {
                eprintln!(
                    "agentctl: warning: the server could not resume without a gap: {}",
                    event.data
                );
                continue;
            }
            self.print(&event)?;
            if !event.id.is_empty() {
                self.last_id = Some(event.id.clone());
            }
            if self.args.count.is_some_and(|count| self.total >= count) {
                return Ok(End::Done);
            }
        }
        Ok(End::Dropped("the server closed the stream".to_owned()))
    }

    /// Handles a server comment; true when it ends the command (`--until-caught-up`).
    fn comment(&mut self, text: &str) -> bool {
        if starts_with_word(text, sse::CAUGHT_UP) {
            // The comment follows the last replayed event, and the parser hands it
            // over in order: everything replayed was printed already.
            return self.args.until_caught_up;
        }
        if starts_with_word(text, sse::GROUP) || text.starts_with(sse::DISCONNECTED) {
            eprintln!("agentctl: server: {text}");
        }
        false
    }

    /// Prints one notification in the chosen format.
    fn print(&mut self, event: &Event) -> anyhow::Result<()> {
        let message: Option<Value> = serde_json::from_str(&event.data).ok();
        let kind = message.as_ref().map_or("unknown", kind_of);
        *self.received.entry(kind).or_default() += 1;
        self.total += 1;
        let received_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let line = match self.format {
            SubscribeFormat::Raw => event.data.clone(),
            SubscribeFormat::Json => serde_json::to_string(&json!({
                "id": event.id,
                "type": kind,
                "received_at": received_at,
                "message": message.unwrap_or_else(|| Value::String(event.data.clone())),
            }))?,
            SubscribeFormat::Pretty => {
                let details = message.as_ref().map_or_else(|| event.data.clone(), details);
                pretty_line(&received_at, kind, &details, &event.id, self.colour)
            }
        };
        super::print(&line)
    }

    /// `received 12 (decision 10, track 2), 1 reconnect`.
    fn summary(&self) -> String {
        let kinds: Vec<String> = self
            .received
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        let s = if self.reconnects == 1 { "" } else { "s" };
        format!(
            "agentctl: received {}{kinds}, {} reconnect{s}",
            self.total, self.reconnects
        )
    }
}

/// The innermost cause of an error (reqwest's own message names only the URL).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Whether `text` starts with `word` followed by a space.
fn starts_with_word(text: &str, word: &str) -> bool {
    text.strip_prefix(word)
        .is_some_and(|rest| rest.starts_with(' '))
}

/// The kind of a notification message: `decision`, `track`, `datafile-update`, or
/// `unknown`.
fn kind_of(message: &Value) -> &'static str {
    Kind::of_message(message).map_or("unknown", Kind::as_str)
}

/// The fields of a message that matter, as `key=value` words.
fn details(message: &Value) -> String {
    let mut words = Vec::new();
    let mut push = |name: &str, value: Option<&Value>| {
        if let Some(value) = value.filter(|v| !v.is_null() && v.as_str() != Some("")) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            words.push(format!("{name}={text}"));
        }
    };
    push("user", message.pointer("/UserContext/ID"));
    match Kind::of_message(message) {
        Some(Kind::Decision) => {
            let info = message.get("DecisionInfo");
            let field = |path: &str| info.and_then(|i| i.pointer(path));
            push("type", message.get("Type"));
            push(
                "flag",
                field("/flagKey").or_else(|| field("/feature/featureKey")),
            );
            push("experiment", field("/experimentKey"));
            push(
                "variation",
                field("/variationKey").or_else(|| field("/feature/sourceInfo/variationKey")),
            );
            push(
                "enabled",
                field("/enabled").or_else(|| field("/feature/featureEnabled")),
            );
            push("rule", field("/ruleKey"));
        }
        Some(Kind::Track) => {
            push("event", message.get("EventKey"));
            push("tags", message.get("EventTags"));
        }
        Some(Kind::DatafileUpdate) => {
            push("revision", message.get("Revision"));
            push("project", message.get("ProjectId"));
        }
        None => push("message", Some(message)),
    }
    words.join(" ")
}

/// `12:00:01.234  decision         user=… flag=…  (id)`, coloured on a terminal.
fn pretty_line(received_at: &str, kind: &str, details: &str, id: &str, colour: bool) -> String {
    // RFC 3339 `2026-01-02T12:00:01.234Z` → `12:00:01.234`.
    let time = received_at.get(11..23).unwrap_or(received_at);
    let id = if id.is_empty() {
        String::new()
    } else {
        format!("  id={id}")
    };
    if !colour {
        return format!("{time} {kind:<15} {details}{id}");
    }
    let code = match kind {
        "decision" => "36",
        "track" => "32",
        "datafile-update" => "33",
        _ => "35",
    };
    format!("\x1b[2m{time}\x1b[0m \x1b[{code}m{kind:<15}\x1b[0m {details}\x1b[2m{id}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_message() {
        assert_eq!(kind_of(&json!({"Type": "flag"})), "decision");
        assert_eq!(
            kind_of(&json!({"Type": "all-feature-variables"})),
            "decision"
        );
        assert_eq!(kind_of(&json!({"EventKey": "e"})), "track");
        assert_eq!(
            kind_of(&json!({"Type": "project_config_update"})),
            "datafile-update"
        );
        assert_eq!(kind_of(&json!({"x": 1})), "unknown");
    }

    #[test]
    fn pretty_shows_the_fields_that_matter() {
        let message = json!({"Type": "flag", "UserContext": {"ID": "u1"},
            "DecisionInfo": {"flagKey": "f", "variationKey": "on", "enabled": true, "ruleKey": "r"}});
        assert_eq!(
            details(&message),
            "user=u1 type=flag flag=f variation=on enabled=true rule=r"
        );
        let line = pretty_line("2026-01-02T12:00:01.234Z", "track", "event=e", "5-0", false);
        assert_eq!(line, "12:00:01.234 track           event=e  id=5-0");
    }
}
