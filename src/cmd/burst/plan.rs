//! The request plan of `burst`: what request `seq` is (endpoint, URL, JSON body,
//! the notifications it publishes), built once per run, and sending one request.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::cli::{BurstArgs, BurstEndpoint};
use crate::cmd::Usage;
use crate::wire::SDK_KEY_HEADER;

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// With `--users` up to this many, every request body is built once.
const PREBUILT_USERS: u64 = 4096;

/// What one request is, derived from its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Decide,
    Track,
    Activate,
}

/// Everything needed to build request `seq`, computed once.
pub(crate) struct Plan {
    endpoint: BurstEndpoint,
    /// The SDK key and content type headers of every request.
    headers: HeaderMap,
    decide_urls: Vec<Target>,
    activate_urls: Vec<Target>,
    track_url: Target,
    flags: Vec<String>,
    event_key: Option<String>,
    users: Option<u64>,
    /// `{"userId":"burst-<run>-`: the start of every body.
    body_head: String,
    /// `"` and the attributes and `}`: the end of every body.
    body_tail: String,
    /// With a small `--users`: the body of each user.
    bodies: Vec<Bytes>,
    /// `burst-<run>-`: every user id of this run starts with it.
    pub(crate) user_prefix: String,
    /// The base URL (for the report).
    pub(crate) url: String,
}

impl Plan {
    pub(super) fn new(
        args: &BurstArgs,
        run_id: &str,
        url: &str,
        sdk_key: &str,
    ) -> anyhow::Result<Plan> {
        let base = url.trim_end_matches('/').to_owned();
        let needs_event = matches!(args.endpoint, BurstEndpoint::Track | BurstEndpoint::Mix);
        if needs_event && args.event_key.is_none() {
            return Err(Usage("--endpoint track and mix need --event-key".to_owned()).into());
        }
        let needs_flag = matches!(args.endpoint, BurstEndpoint::Activate | BurstEndpoint::Mix);
        if needs_flag && args.flags.is_empty() {
            return Err(Usage("--endpoint activate and mix need --flags".to_owned()).into());
        }
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let decide_urls = if args.flags.is_empty() {
            vec![Target::new(format!("{base}/v1/decide"))]
        } else {
            args.flags
                .iter()
                .map(|f| Target::new(format!("{base}/v1/decide?keys={}", encode(f))))
                .collect()
        };
        let activate_urls = args
            .flags
            .iter()
            .map(|f| Target::new(format!("{base}/v1/activate?featureKey={}", encode(f))))
            .collect();
        let track_url = Target::new(format!(
            "{base}/v1/track?eventKey={}",
            encode(args.event_key.as_deref().unwrap_or_default())
        ));
        let attributes = match &args.attributes {
            Some(map) => format!(
                ",\"userAttributes\":{}",
                serde_json::to_string(map).context("encoding --attributes")?
            ),
            None => String::new(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(SDK_KEY_HEADER),
            HeaderValue::from_str(sdk_key).context("--sdk-key is not a header value")?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &args.header {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes())
                    .with_context(|| format!("--header {name:?} is not a header name"))?,
                HeaderValue::from_str(value)
                    .with_context(|| format!("--header {name}: the value is not a header value"))?,
            );
        }
        let user_prefix = format!("burst-{run_id}-");
        // The quoted prefix without its closing quote: user ids are the prefix and
        // characters that need no escaping.
        let quoted = serde_json::to_string(&user_prefix).context("encoding the user id")?;
        let body_head = format!("{{\"userId\":{}", &quoted[..quoted.len() - 1]);
        let body_tail = format!("\"{attributes}}}");
        let mut plan = Plan {
            endpoint: args.endpoint,
            headers,
            decide_urls,
            activate_urls,
            track_url,
            flags: args.flags.clone(),
            event_key: args.event_key.clone(),
            users: args.users,
            body_head,
            body_tail,
            bodies: Vec::new(),
            user_prefix,
            url: base,
        };
        if let Some(n) = args.users.filter(|&n| n <= PREBUILT_USERS) {
            plan.bodies = (0..n)
                .map(|seq| Bytes::from(plan.build_body(seq)))
                .collect();
        }
        Ok(plan)
    }

    /// The kind of request `seq` and the index of its flag.
    fn kind(&self, seq: u64) -> (Kind, usize) {
        let (kind, round) = match self.endpoint {
            BurstEndpoint::Decide => (Kind::Decide, seq),
            BurstEndpoint::Track => (Kind::Track, seq),
            BurstEndpoint::Activate => (Kind::Activate, seq),
            BurstEndpoint::Mix => match seq % 3 {
                0 => (Kind::Decide, seq / 3),
                1 => (Kind::Track, seq / 3),
                _ => (Kind::Activate, seq / 3),
            },
        };
        let flags = self.flags.len().max(1) as u64;
        (kind, (round % flags) as usize)
    }

    /// The JSON body of request `seq`, built from scratch.
    fn build_body(&self, seq: u64) -> Vec<u8> {
        use std::io::Write as _;
        let mut body = Vec::with_capacity(self.body_head.len() + self.body_tail.len() + 24);
        body.extend_from_slice(self.body_head.as_bytes());
        let _ = match self.users {
            Some(n) => write!(body, "user-{}", seq % n),
            None => write!(body, "{seq}"),
        };
        body.extend_from_slice(self.body_tail.as_bytes());
        body
    }

    /// URL and JSON body of request `seq`.
    fn request(&self, seq: u64) -> (&Target, Bytes) {
        let (kind, flag) = self.kind(seq);
        let url = match kind {
            Kind::Decide => &self.decide_urls[flag.min(self.decide_urls.len() - 1)],
            Kind::Activate => &self.activate_urls[flag],
            Kind::Track => &self.track_url,
        };
        let body = match self.users {
            Some(n) if !self.bodies.is_empty() => self.bodies[(seq % n) as usize].clone(),
            _ => Bytes::from(self.build_body(seq)),
        };
        (url, body)
    }

    /// The notifications request `seq` is known to publish (`flag:K`, `event:K`);
    /// empty when only the server knows (decide of every flag, activate).
    pub(crate) fn known_items(&self, seq: u64) -> Vec<String> {
        match self.kind(seq) {
            (Kind::Decide, flag) => self
                .flags
                .get(flag)
                .map(|f| vec![format!("flag:{f}")])
                .unwrap_or_default(),
            (Kind::Track, _) => self
                .event_key
                .iter()
                .map(|k| format!("event:{k}"))
                .collect(),
            (Kind::Activate, _) => Vec::new(),
        }
    }
}

/// How one request ended.
pub(super) enum Outcome {
    /// An HTTP answer: its status, and the error text when it is not a 2xx.
    Status(u16, Option<String>),
    /// No HTTP answer.
    Failed(String),
}

/// A request URL, parsed once; or why reqwest refuses it.
struct Target(Result<Url, String>);

impl Target {
    fn new(url: String) -> Target {
        match Url::parse(&url) {
            Ok(parsed) if parsed.has_host() => Target(Ok(parsed)),
            // Let reqwest word the error, as it would for every request.
            _ => Target(Err(reqwest::Client::new()
                .post(url)
                .build()
                .err()
                .map_or_else(|| "builder error".to_owned(), error_text))),
        }
    }
}

/// The HTTP client: HTTP/1.1 keep-alive connections, pooled.
pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// Sends request `seq` of `plan` and waits for the whole answer.
pub(super) async fn send(client: &reqwest::Client, plan: &Plan, seq: u64) -> Outcome {
    let (target, body) = plan.request(seq);
    let url = match &target.0 {
        Ok(url) => url.clone(),
        Err(text) => return Outcome::Failed(text.clone()),
    };
    let mut request = reqwest::Request::new(Method::POST, url);
    *request.headers_mut() = plan.headers.clone();
    *request.body_mut() = Some(body.into());
    let result = client.execute(request).await;
    match result {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) if status.is_success() => Outcome::Status(status.as_u16(), None),
                Ok(body) => {
                    let text = String::from_utf8_lossy(&body);
                    let text: String = text.trim().chars().take(120).collect();
                    Outcome::Status(
                        status.as_u16(),
                        Some(format!("HTTP {}: {text}", status.as_u16())),
                    )
                }
                Err(err) => Outcome::Failed(error_text(err)),
            }
        }
        Err(err) => Outcome::Failed(error_text(err)),
    }
}

/// A reqwest error with its causes, without the URL (so that messages group).
fn error_text(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
