//! OpenTelemetry tracing of `serve` (`tracing.*`): the spans of one decide request
//! (request, decision, datafile fetch over HTTP, publish to Redis Streams) with
//! their parent/child relation and attributes, written by the `stdout` exporter to
//! its file and flushed at shutdown; nothing at all with tracing off; and the
//! `remote` exporter posting OTLP/HTTP to a collector stand-in started here.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};

use crate::harness::RedisServer;
use crate::harness::serve::{DEMO_KEY, STEP_TIMEOUT, Serve, Sse, eventually, sync_config};

/// An SDK key no datafile in the datafiles directory has: its datafile is fetched
/// over HTTP by the first request that names it.
const REMOTE_KEY: &str = "Traced1";
/// The token part of a `key:token` header, which must never reach a span.
const TOKEN: &str = "t0ken5ecret";

/// A datafile server answering `/<key>.json` with the demo datafile.
async fn datafile_server() -> std::net::SocketAddr {
    let demo =
        std::fs::read(crate::harness::serve::repo_root().join("datafiles/demo.json")).unwrap();
    let app = axum::Router::new().fallback(move || {
        let demo = demo.clone();
        async move { ([("content-type", "application/json")], demo) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Every span in an OTLP/JSON lines file, each with its resource's attributes
/// under `"resource"`.
fn spans_in(text: &str) -> Vec<Value> {
    let mut spans = Vec::new();
    for line in text.lines() {
        let batch: Value = serde_json::from_str(line).unwrap();
        for resource in batch["resourceSpans"].as_array().unwrap() {
            for scope in resource["scopeSpans"].as_array().unwrap() {
                for span in scope["spans"].as_array().unwrap() {
                    let mut span = span.clone();
                    span["resource"] = resource["resource"]["attributes"].clone();
                    span["scope"] = scope["scope"]["name"].clone();
                    spans.push(span);
                }
            }
        }
    }
    spans
}

/// The value of attribute `key` in an OTLP/JSON attribute list, as JSON
/// (`{"stringValue": …}`, `{"intValue": …}`, …).
fn attr<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    attributes
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

/// The one span named `name` among `spans`.
#[track_caller]
fn one<'a>(spans: &'a [&'a Value], name: &str) -> &'a Value {
    let found: Vec<&&Value> = spans.iter().filter(|s| s["name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} span expected in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decide_request_is_a_trace_of_request_decision_fetch_and_publish() {
    let redis = RedisServer::start();
    let cdn = datafile_server().await;
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace.out");
    let mut serve = Serve::builder()
        .config(&sync_config(&redis.addr(), "redis-streams"))
        .config(&format!(
            r#"
client: {{datafileURLTemplate: "http://{cdn}/%s.json"}}
tracing:
  enabled: true
  opentelemetry:
    serviceName: agent-under-test
    env: ci
    services:
      stdout: {{filename: "{}"}}
"#,
            trace_file.display()
        ))
        .start();
    // Subscribing waits for the Redis transport to be chosen, so the decision's
    // notification goes to the stream (not to a not-yet-decided hub).
    let _subscriber = Sse::open(&serve, DEMO_KEY, "", None).await;

    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            &format!("{REMOTE_KEY}:{TOKEN}"),
            &json!({"userId": "traced-user"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stream = format!("stream:optimizely-sync-{REMOTE_KEY}");
    eventually(STEP_TIMEOUT, || {
        let len: usize = redis.cmd(&["XLEN", &stream]);
        std::future::ready((len == 1).then_some(()))
    })
    .await;
    // A caller's W3C trace context makes the request span its child.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let reply = serve
        .send(
            serve
                .http()
                .get(format!("{}/v1/config", serve.api))
                .header("x-optimizely-sdk-key", DEMO_KEY)
                .header("traceparent", format!("00-{caller_trace}-{caller_span}-01")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The batch exporter holds the spans; shutdown must flush them.
    assert!(serve.terminate().await.success(), "{}", serve.stderr());

    let text = std::fs::read_to_string(&trace_file).unwrap();
    for secret in [REMOTE_KEY, TOKEN] {
        assert!(
            !text.contains(secret),
            "{secret} in the trace file:\n{text}"
        );
    }
    let spans = spans_in(&text);
    let request = spans
        .iter()
        .find(|s| s["name"] == "POST /v1/decide")
        .unwrap_or_else(|| panic!("no decide request span in {spans:#?}"));
    let trace: Vec<&Value> = spans
        .iter()
        .filter(|s| s["traceId"] == request["traceId"])
        .collect();
    assert_eq!(
        trace.len(),
        4,
        "request, decision, fetch, publish: {trace:#?}"
    );

    assert_eq!(request["parentSpanId"], "", "{request}");
    assert_eq!(request["kind"], 2, "server: {request}");
    assert_eq!(request["scope"], "agentctl");
    let attrs = &request["attributes"];
    assert_eq!(
        attr(attrs, "http.method"),
        Some(&json!({"stringValue": "POST"}))
    );
    assert_eq!(
        attr(attrs, "http.route"),
        Some(&json!({"stringValue": "/v1/decide"}))
    );
    assert_eq!(
        attr(attrs, "http.status_code"),
        Some(&json!({"intValue": "200"}))
    );
    assert_eq!(
        attr(attrs, "optimizely.sdk_key_hash"),
        Some(&json!({"stringValue": agentctl::telemetry::sdk_key_hash(REMOTE_KEY)}))
    );
    for (key, value) in [
        ("service.name", "agent-under-test"),
        ("deployment.environment", "ci"),
    ] {
        assert_eq!(
            attr(&request["resource"], key),
            Some(&json!({"stringValue": value})),
            "{key}"
        );
    }

    let parent = &request["spanId"];
    let fetch = one(&trace, "datafile fetch");
    assert_eq!(&fetch["parentSpanId"], parent, "{fetch}");
    assert_eq!(fetch["kind"], 3, "client: {fetch}");
    assert_eq!(
        attr(&fetch["attributes"], "datafile.source"),
        Some(&json!({"stringValue": "url"}))
    );
    assert_eq!(
        attr(&fetch["attributes"], "datafile.revision"),
        Some(&json!({"stringValue": "1"}))
    );

    let decision = one(&trace, "decide");
    assert_eq!(&decision["parentSpanId"], parent, "{decision}");
    assert_eq!(
        attr(&decision["attributes"], "datafile.revision"),
        Some(&json!({"stringValue": "1"}))
    );

    let publish = one(&trace, "publish redis-streams");
    assert_eq!(&publish["parentSpanId"], parent, "{publish}");
    assert_eq!(publish["kind"], 4, "producer: {publish}");
    for (key, value) in [
        ("messaging.system", json!({"stringValue": "redis-streams"})),
        ("notification.type", json!({"stringValue": "decision"})),
        ("notification.accepted", json!({"boolValue": true})),
    ] {
        assert_eq!(attr(&publish["attributes"], key), Some(&value), "{key}");
    }
    let joined = spans
        .iter()
        .find(|s| s["name"] == "GET /v1/config")
        .unwrap_or_else(|| panic!("no config request span in {spans:#?}"));
    assert_eq!(joined["traceId"], caller_trace, "{joined}");
    assert_eq!(joined["parentSpanId"], caller_span, "{joined}");
    // Children end before their parent starts ending.
    let end = |s: &Value| {
        s["endTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    for child in [fetch, decision, publish] {
        assert!(end(child) <= end(request), "{child} outlives {request}");
    }
}

#[tokio::test]
async fn tracing_off_writes_no_span_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace.out");
    let mut serve = Serve::start(&format!(
        "tracing: {{enabled: false, opentelemetry: {{services: {{stdout: {{filename: \"{}\"}}}}}}}}",
        trace_file.display()
    ));
    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(serve.terminate().await.success());
    assert!(
        !trace_file.exists(),
        "tracing is off but {trace_file:?} was written"
    );
    assert!(
        !serve.stderr().contains("tracing enabled"),
        "{}",
        serve.stderr()
    );
}

/// What the collector stand-in received: content type and decoded body per POST.
type Received = Arc<Mutex<Vec<(String, String, ExportTraceServiceRequest)>>>;

/// An OTLP/HTTP collector stand-in that records every POST.
async fn collector() -> (std::net::SocketAddr, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new().fallback({
        let received = Arc::clone(&received);
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let received = Arc::clone(&received);
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                received
                    .lock()
                    .unwrap()
                    .push((uri.path().to_owned(), content_type, request));
                axum::http::StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_exporter_posts_otlp_http_to_the_collector() {
    let (addr, received) = collector().await;
    // The endpoint as upstream writes it: host:port, no scheme, no path.
    let mut serve = Serve::start(&format!(
        r#"
tracing:
  enabled: true
  opentelemetry:
    default: remote
    serviceName: remote-agent
    services:
      remote: {{endpoint: "{addr}", protocol: http, sampleRate: 1}}
"#
    ));
    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(serve.terminate().await.success(), "{}", serve.stderr());

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "the collector got nothing");
    let mut names = Vec::new();
    for (path, content_type, request) in received.iter() {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        for resource in &request.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value));
            assert_eq!(
                service.as_deref(),
                Some("Some(StringValue(\"remote-agent\"))")
            );
            for scope in &resource.scope_spans {
                names.extend(scope.spans.iter().map(|s| s.name.clone()));
            }
        }
    }
    for name in ["POST /v1/decide", "decide", "publish memory"] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
}

#[test]
fn bad_tracing_values_from_the_environment_stop_serve_with_the_variable_named() {
    let run = crate::harness::Agentctl::new()
        .env(
            "OPTIMIZELY_TRACING_OPENTELEMETRY_SERVICES_REMOTE_SAMPLERATE",
            "1.5",
        )
        .run(&["serve", "--api-addr", "127.0.0.1:0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("OPTIMIZELY_TRACING_OPENTELEMETRY_SERVICES_REMOTE_SAMPLERATE"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("expected a fraction from 0 (no request traced) to 1 (every request)"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_delays_shutdown_a_bounded_time() {
    // Accepts connections and never answers: every export hangs until its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    for protocol in ["http", "grpc"] {
        let mut serve = Serve::start(&format!(
            r#"
tracing:
  enabled: true
  opentelemetry:
    default: remote
    services:
      remote: {{endpoint: "{addr}", protocol: {protocol}}}
"#
        ));
        let reply = serve
            .post(
                "/v1/decide?keys=promo_banner",
                DEMO_KEY,
                &json!({"userId": "u1"}),
            )
            .await;
        assert_eq!(reply.status, 200, "{protocol}: {}", reply.body);
        let started = std::time::Instant::now();
        assert!(serve.terminate().await.success(), "{}", serve.stderr());
        let took = started.elapsed();
        // The flush waits for the hung export at most 5 s, well under the
        // exporter's own 10 s timeout.
        assert!(
            took < std::time::Duration::from_secs(9),
            "{protocol}: shutdown took {took:?}"
        );
        assert!(
            serve.stderr().contains("flushing the last trace spans"),
            "{protocol}: {}",
            serve.stderr()
        );
    }
}
