//! `agentctl serve` as a child process on port-0 listeners, with its own datafiles
//! directory and config file, plus an HTTP client and an SSE reader for talking to it.
//!
//! The config always comes from a temp file passed with `--config`, so the
//! checkout's `config.yaml` is never read. The base config turns notifications on
//! and points `client.eventURL` and `client.datafileURLTemplate` nowhere, so no test
//! touches the network; tests merge their own YAML on top ([`ServeBuilder::config`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agentctl::wire::sse::Frame;
use agentctl::wire::{EVENT_STREAM_MIME, EVENT_STREAM_PATH, LAST_EVENT_ID_HEADER, SDK_KEY_HEADER};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use super::Agentctl;

/// How long the server may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one HTTP exchange or SSE frame may take before the test fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The reference SDK key with flags, experiments, rollouts, variables and events.
pub const REF_KEY: &str = "KZbunNn9bVfBWLpZPq2XC4";
/// The SDK key of the demo datafile shipped in `datafiles/demo.json`.
pub const DEMO_KEY: &str = "demo";

/// Settings every test server starts from (YAML; tests merge theirs on top).
const BASE_CONFIG: &str = r#"
log:
  level: info
api:
  enableNotifications: true
client:
  eventURL: ""
  datafileURLTemplate: ""
"#;

/// The repository root (where `datafiles/` and `config.yaml` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Deep-merges `overlay` into `base`: mappings merge key by key, anything else
/// replaces.
fn merge(base: &mut Yaml, overlay: Yaml) {
    match (base, overlay) {
        (Yaml::Mapping(base), Yaml::Mapping(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        // An empty overlay (`""`) parses as null and changes nothing.
        (_, Yaml::Null) => {}
        (base, overlay) => *base = overlay,
    }
}

/// Builds a [`Serve`]: config overlays, where it runs, which flags it gets.
pub struct ServeBuilder {
    config: Yaml,
    pass_config: bool,
    pass_datafiles: bool,
    runner: Agentctl,
    global_args: Vec<String>,
    api_addr: Option<String>,
    wrapper: Vec<String>,
}

impl ServeBuilder {
    /// Runs the server through `wrapper` (e.g. `["prlimit", "--nofile=1024:1024",
    /// "--"]` for a low open-file limit).
    #[allow(dead_code)]
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Binds the API listener to `addr` instead of a port-0 address (to restart a
    /// server where its clients expect it).
    #[allow(dead_code)]
    pub fn api_addr(mut self, addr: &str) -> Self {
        self.api_addr = Some(addr.to_owned());
        self
    }

    /// Merges a YAML overlay into the config.
    pub fn config(mut self, yaml: &str) -> Self {
        let overlay: Yaml = serde_yaml_ng::from_str(yaml)
            .unwrap_or_else(|e| panic!("bad test config overlay ({e}):\n{yaml}"));
        merge(&mut self.config, overlay);
        self
    }

    /// Adds a global option (before `serve`), e.g. `--redis ADDR`.
    pub fn global_arg(mut self, arg: &str) -> Self {
        self.global_args.push(arg.to_owned());
        self
    }

    /// Runs with no `--config` and no `--datafiles`: the server reads
    /// `./config.yaml` and `./datafiles` of its working directory ([`Serve::cwd`]),
    /// which the caller has to fill with [`ServeBuilder::cwd`] first.
    pub fn defaults_from_cwd(mut self) -> Self {
        self.pass_config = false;
        self.pass_datafiles = false;
        self
    }

    /// The working directory the server will run in (to put files there first).
    pub fn cwd(&self) -> &Path {
        self.runner.cwd()
    }

    /// Spawns the server and waits for its `listening` line.
    pub fn start(self) -> Serve {
        let cwd = self.runner.cwd().to_owned();
        let datafiles = cwd.join("test-datafiles");
        let config_path = cwd.join("test-config.yaml");
        let stderr_path = cwd.join("serve.stderr");
        let mut args: Vec<String> = self.global_args.clone();
        if self.pass_config {
            std::fs::write(
                &config_path,
                serde_yaml_ng::to_string(&self.config).unwrap(),
            )
            .unwrap();
            args.extend(["--config".to_owned(), config_path.display().to_string()]);
        }
        args.push("serve".to_owned());
        if self.pass_datafiles {
            std::fs::create_dir_all(&datafiles).unwrap();
            std::fs::copy(
                repo_root().join("datafiles/demo.json"),
                datafiles.join("demo.json"),
            )
            .unwrap();
            for entry in std::fs::read_dir(repo_root().join("tests/data/datafiles")).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), datafiles.join(entry.file_name())).unwrap();
            }
            args.extend(["--datafiles".to_owned(), datafiles.display().to_string()]);
        }
        for flag in ["--api-addr", "--admin-addr", "--webhook-addr"] {
            let addr = match (flag, &self.api_addr) {
                ("--api-addr", Some(addr)) => addr.clone(),
                _ => "127.0.0.1:0".to_owned(),
            };
            args.extend([flag.to_owned(), addr]);
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = self
            .runner
            .command_via(&self.wrapper, &arg_refs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the one announced line, then drains stdout so the server never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let mut rest = String::new();
            while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {}
        });
        let mut serve = Serve {
            child,
            pid: 0,
            api: String::new(),
            admin: String::new(),
            webhook: String::new(),
            api_port: 0,
            datafiles,
            stderr_path,
            runner: self.runner,
            http: client(),
            exited: None,
        };
        serve.pid = serve.child.id();
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => panic!(
                "serve printed no listening line within {START_TIMEOUT:?}\nstderr:\n{}",
                serve.stderr()
            ),
        };
        let addrs = parse_listening(&line).unwrap_or_else(|| {
            let status = serve.child.wait().ok();
            panic!(
                "unexpected first stdout line {line:?} (exit {status:?})\nstderr:\n{}",
                serve.stderr()
            )
        });
        serve.api_port = addrs[0].rsplit(':').next().unwrap().parse().unwrap();
        serve.api = format!("http://{}", addrs[0]);
        serve.admin = format!("http://{}", addrs[1]);
        serve.webhook = format!("http://{}", addrs[2]);
        serve
    }
}

/// `listening api=A admin=B webhook=C` → `[A, B, C]`.
fn parse_listening(line: &str) -> Option<[String; 3]> {
    let rest = line.strip_suffix('\n')?.strip_prefix("listening ")?;
    let mut parts = rest.split(' ');
    let api = parts.next()?.strip_prefix("api=")?;
    let admin = parts.next()?.strip_prefix("admin=")?;
    let webhook = parts.next()?.strip_prefix("webhook=")?;
    if parts.next().is_some() {
        return None;
    }
    Some([api.to_owned(), admin.to_owned(), webhook.to_owned()])
}

/// The HTTP client tests use (ring installed as the rustls provider first).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(STEP_TIMEOUT)
        .build()
        .unwrap()
}

/// A running `agentctl serve`; killed on drop.
pub struct Serve {
    child: Child,
    /// The process id.
    pub pid: u32,
    /// `http://ADDR` of the API listener.
    pub api: String,
    /// `http://ADDR` of the admin listener.
    pub admin: String,
    /// `http://ADDR` of the webhook listener.
    pub webhook: String,
    /// The API listener's port.
    pub api_port: u16,
    datafiles: PathBuf,
    stderr_path: PathBuf,
    runner: Agentctl,
    http: reqwest::Client,
    exited: Option<ExitStatus>,
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON (the test fails when it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Reads a whole response.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }
}

impl Serve {
    /// A server with the base config and the test datafiles.
    pub fn builder() -> ServeBuilder {
        let config: Yaml = serde_yaml_ng::from_str(BASE_CONFIG).unwrap();
        ServeBuilder {
            config,
            pass_config: true,
            pass_datafiles: true,
            runner: Agentctl::new(),
            global_args: Vec::new(),
            api_addr: None,
            wrapper: Vec::new(),
        }
    }

    /// Starts a server with the base config plus `yaml` merged on top.
    pub fn start(yaml: &str) -> Serve {
        Self::builder().config(yaml).start()
    }

    /// The datafiles directory the server reads (to rewrite a datafile).
    pub fn datafiles(&self) -> &Path {
        &self.datafiles
    }

    /// The server's working directory.
    #[allow(dead_code)]
    pub fn cwd(&self) -> &Path {
        self.runner.cwd()
    }

    /// Everything the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a prepared request and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}\nserver stderr:\n{}", self.stderr()));
        Reply::read(response).await
    }

    /// `POST {api}{path}` with a JSON body and the SDK key header.
    pub async fn post(&self, path: &str, sdk_key: &str, body: &Value) -> Reply {
        self.send(
            self.http
                .post(format!("{}{path}", self.api))
                .header("x-optimizely-sdk-key", sdk_key)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// `GET {api}{path}` with the SDK key header.
    pub async fn get(&self, path: &str, sdk_key: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{path}", self.api))
                .header("x-optimizely-sdk-key", sdk_key),
        )
        .await
    }

    /// Sends SIGTERM (with the `kill` command).
    pub fn signal_term(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    #[allow(dead_code)]
    pub fn signal_int(&self) {
        self.signal("-INT");
    }

    fn signal(&self, flag: &str) {
        let status = std::process::Command::new("kill")
            .args([flag, &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "kill {flag} {} failed: {status}",
            self.pid
        );
    }

    /// Waits (polling, without blocking the async runtime) until the process has
    /// exited; fails the test after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        let status = eventually(timeout, || std::future::ready(child.try_wait().unwrap())).await;
        self.exited = Some(status);
        status
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal_term();
        let deadline = Duration::from_secs(10);
        let child = &mut self.child;
        let status = eventually_or(deadline, || std::future::ready(child.try_wait().unwrap()))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "serve did not exit within {deadline:?} of SIGTERM\nstderr:\n{}",
                    std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                )
            });
        self.exited = Some(status);
        status
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `probe` (every 20 ms) until it returns `Some`, without blocking the async
/// runtime; `None` after `timeout`.
pub async fn eventually_or<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually_or`] that fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_or(timeout, probe)
        .await
        .unwrap_or_else(|| panic!("condition not met within {timeout:?}"))
}

/// One SSE event: its `id:` and `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` value (empty when the frame had none).
    pub id: String,
    /// The `data:` value.
    pub data: String,
}

impl SseEvent {
    /// The notification in one frame's text, parsed by the crate's wire parser:
    /// `None` for comments and named (control) events such as `reset`. Fails the
    /// test on a line the server does not write.
    #[track_caller]
    fn of_frame(text: &str) -> Option<SseEvent> {
        let frame =
            Frame::parse(text).unwrap_or_else(|line| panic!("unexpected SSE line {line:?}"));
        frame.is_notification().then(|| SseEvent {
            id: frame.id.unwrap_or_default(),
            data: frame.data.unwrap_or_default(),
        })
    }

    /// `data` parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {:?}", self.data))
    }
}

/// An open `/v1/notifications/event-stream` response, read incrementally.
pub struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
    ended: bool,
}

impl Sse {
    /// Opens the stream with `query` (e.g. `"?filter=track"`) and optional
    /// `Last-Event-ID`; asserts the 200 and the SSE headers. The subscription exists
    /// once this returns.
    pub async fn open(
        serve: &Serve,
        sdk_key: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Sse {
        // No overall timeout: the stream lives as long as the test wants it.
        let http = reqwest::Client::builder().build().unwrap();
        let mut request = http
            .get(format!("{}{EVENT_STREAM_PATH}{query}", serve.api))
            .header(SDK_KEY_HEADER, sdk_key);
        if let Some(id) = last_event_id {
            request = request.header(LAST_EVENT_ID_HEADER, id);
        }
        let response = tokio::time::timeout(STEP_TIMEOUT, request.send())
            .await
            .expect("SSE response headers in time")
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "SSE status");
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-type").as_deref(), Some(EVENT_STREAM_MIME));
        assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
        Sse {
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// Reads more bytes; false at the end of the stream. Fails the test when nothing
    /// arrives within [`STEP_TIMEOUT`].
    async fn fill(&mut self) -> bool {
        if self.ended {
            return false;
        }
        match tokio::time::timeout(STEP_TIMEOUT, self.response.chunk()).await {
            Err(_) => panic!(
                "no SSE bytes within {STEP_TIMEOUT:?}; buffered: {:?}",
                String::from_utf8_lossy(&self.buffer)
            ),
            Ok(Ok(Some(chunk))) => {
                self.buffer.extend_from_slice(&chunk);
                true
            }
            Ok(Ok(None)) | Ok(Err(_)) => {
                self.ended = true;
                false
            }
        }
    }

    /// The next text up to (not including) `separator`; `None` at the end of the
    /// stream.
    async fn next_until(&mut self, separator: &[u8]) -> Option<String> {
        loop {
            if let Some(at) = self
                .buffer
                .windows(separator.len())
                .position(|w| w == separator)
            {
                let text = String::from_utf8(self.buffer[..at].to_vec()).unwrap();
                self.buffer.drain(..at + separator.len());
                return Some(text);
            }
            if !self.fill().await {
                assert!(
                    self.buffer.is_empty(),
                    "stream ended inside a frame: {:?}",
                    String::from_utf8_lossy(&self.buffer)
                );
                return None;
            }
        }
    }

    /// The next frame as the crate's wire parser reads it, whatever it holds
    /// (comments, an `id:`-only resume point, an event); fails the test at the end
    /// of the stream.
    #[allow(dead_code)]
    pub async fn next_frame(&mut self) -> Frame {
        let text = self
            .next_until(b"\n\n")
            .await
            .expect("stream ended while a frame was expected");
        Frame::parse(&text).unwrap_or_else(|line| panic!("unexpected SSE line {line:?}"))
    }

    /// The next SSE event (keep-alive comments skipped); fails the test at the end
    /// of the stream.
    pub async fn next_event(&mut self) -> SseEvent {
        loop {
            let frame = self
                .next_until(b"\n\n")
                .await
                .expect("stream ended while an event was expected");
            if let Some(event) = SseEvent::of_frame(&frame) {
                return event;
            }
        }
    }

    /// The next SSE event, or `None` when the stream ends (or breaks) first — for a
    /// server that may be killed mid-write: a partial frame at the end is dropped.
    /// Fails the test when nothing arrives within [`STEP_TIMEOUT`].
    #[allow(dead_code)]
    pub async fn next_event_or_end(&mut self) -> Option<SseEvent> {
        loop {
            let frame = loop {
                if let Some(at) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                    let text = String::from_utf8_lossy(&self.buffer[..at]).into_owned();
                    self.buffer.drain(..at + 2);
                    break text;
                }
                if !self.fill().await {
                    self.buffer.clear();
                    return None;
                }
            };
            if let Some(event) = SseEvent::of_frame(&frame) {
                return Some(event);
            }
        }
    }

    /// The next line of a `raw` stream.
    pub async fn next_line(&mut self) -> String {
        self.next_until(b"\n")
            .await
            .expect("stream ended while a line was expected")
    }

    /// Waits for the end of the stream; fails if an event arrives first.
    pub async fn expect_end(&mut self) {
        if let Some(frame) = self.next_until(b"\n\n").await {
            assert!(frame.starts_with(':'), "expected the end, got {frame:?}");
            // Keep-alive comments are off in tests that wait for the end; a
            // disconnect notice is a comment too: the end must follow it.
            assert!(
                self.next_until(b"\n\n").await.is_none(),
                "stream did not end"
            );
        }
    }
}

/// `POST /v1/decide?keys=promo_banner` for `user` on the demo key; asserts the 200.
pub async fn decide_demo(serve: &Serve, user: &str) {
    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &serde_json::json!({"userId": user}),
        )
        .await;
    assert_eq!(reply.status, 200, "decide for {user}: {}", reply.body);
}

/// The `UserContext.ID` of a demo decision event (and checks it is a promo_banner one).
#[track_caller]
pub fn user_of(event: &SseEvent) -> String {
    let json = event.json();
    assert_eq!(
        json["DecisionInfo"]["flagKey"], "promo_banner",
        "not a demo decision: {json}"
    );
    json["UserContext"]["ID"].as_str().unwrap().to_owned()
}

/// Config turning Redis notification sync on through `host`, with `transport` as
/// `synchronization.notification.default` and a short retry policy.
pub fn sync_config(host: &str, transport: &str) -> String {
    format!(
        r#"
synchronization:
  notification: {{enable: true, default: "{transport}"}}
  pubsub:
    redis:
      host: "{host}"
      retry_delay: 50ms
      max_retry_delay: 200ms
"#
    )
}

/// The value of an unlabelled sample (or of `name` written with its labels) in a
/// Prometheus text body.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
