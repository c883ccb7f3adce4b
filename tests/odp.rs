//! ODP against a local stand-in started by the test (GraphQL segments and the
//! events endpoint, recording every request) and a real `redis-server` for the
//! Redis segments cache: `fetchSegments` makes a `qualified` audience match and is
//! cached (in memory, or in Redis under upstream's key), `IGNORE_CACHE` /
//! `RESET_CACHE` work, decide identifies its user, `/v1/send-odp-event` batches
//! reach the endpoint, an
//! unreachable endpoint costs nothing but counted drops, and `client.odp.disable`
//! gives upstream's errors.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve, ServeBuilder, repo_root};
use crate::harness::{RedisServer, free_port};

/// The project with an ODP integration, under its own SDK key.
const ODP_KEY: &str = "odpproject";
/// Its integration's public key.
const PUBLIC_KEY: &str = "ax6UV2223fD-jpOXID0BMg";
/// The segments its audiences ask about.
const SEGMENTS: [&str; 3] = [
    "atsbugbashsegmentdob",
    "atsbugbashsegmentgender",
    "atsbugbashsegmenthaspurchased",
];
/// The experiment the `qualified` audience guards, and the rule users fall back to.
const EXPERIMENT_RULE: &str = "ab_experiment";
const ROLLOUT_RULE: &str = "default-rollout-52207-23726430538";

/// One request the stand-in received: path, `x-api-key`, `content-type`, body.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    api_key: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct StandIn {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl StandIn {
    fn calls(&self, path: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| c.path == path).cloned().collect()
    }

    fn events(&self) -> Vec<Value> {
        self.calls("/v3/events")
            .iter()
            .flat_map(|c| c.body.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// The ODP stand-in: `odp-user` qualifies for the first segment, `unknown` is not
/// a known identifier, everyone else qualifies for nothing; events are accepted.
async fn stand_in() -> (String, StandIn) {
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    use axum::response::IntoResponse;

    async fn handle(
        State(service): State<StandIn>,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        service.calls.lock().unwrap().push(Call {
            path: uri.path().to_owned(),
            api_key: header("x-api-key"),
            content_type: header("content-type"),
            body: body.clone(),
        });
        match uri.path() {
            "/v3/graphql" => {
                let user = body["variables"]["userId"].as_str().unwrap_or_default();
                if user == "unknown" {
                    return axum::Json(json!({
                        "errors": [{"message": "could not resolve _fs_user_id = unknown",
                                    "extensions": {"classification": "InvalidIdentifierException"}}],
                        "data": {"customer": null}}))
                    .into_response();
                }
                let edges: Vec<Value> = body["variables"]["audiences"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|name| {
                        let state = if user == "odp-user" && name == SEGMENTS[0] {
                            "qualified"
                        } else {
                            "not_qualified"
                        };
                        json!({"node": {"name": name, "state": state}})
                    })
                    .collect();
                axum::Json(json!({"data": {"customer": {"audiences": {"edges": edges}}}}))
                    .into_response()
            }
            "/v3/events" => (
                axum::http::StatusCode::ACCEPTED,
                axum::Json(json!({"title": "Accepted", "status": 202})),
            )
                .into_response(),
            _ => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
    let service = StandIn::default();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), service)
}

/// Starts `builder` with the ODP reference datafile under [`ODP_KEY`], its
/// integration pointed at `host`.
fn start_with_odp(builder: ServeBuilder, host: &str) -> Serve {
    let path = repo_root().join("tests/data/datafiles/91GuiKYH8ZF1hLLXR7DR1.json");
    let mut datafile: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    datafile["integrations"][0]["host"] = json!(host);
    assert_eq!(datafile["integrations"][0]["publicKey"], PUBLIC_KEY);
    let dir = builder.cwd().join("test-datafiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{ODP_KEY}.json")), datafile.to_string()).unwrap();
    builder.start()
}

fn decide_body(user: &str, fetch: bool, options: &[&str]) -> Value {
    json!({"userId": user, "fetchSegments": fetch, "fetchSegmentsOptions": options})
}

/// The rule flag1 is decided by for `body`.
async fn rule_for(serve: &Serve, body: &Value) -> String {
    let reply = serve.post("/v1/decide?keys=flag1", ODP_KEY, body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["ruleKey"].as_str().unwrap().to_owned()
}

/// Polls `probe` until it gives a value, without blocking the runtime the
/// stand-in runs on; fails after 10 s.
async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within 10s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A counter of the admin `/metrics` page (Prometheus text).
async fn metric(serve: &Serve, name: &str) -> f64 {
    let text = serve
        .http()
        .get(format!("{}/metrics", serve.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn fetched_segments_qualify_a_user_and_are_cached_in_memory() {
    let (host, odp) = stand_in().await;
    let serve = start_with_odp(Serve::builder(), &host);

    // Without segments the qualified audience is not met.
    assert_eq!(
        rule_for(&serve, &decide_body("odp-user", false, &[])).await,
        ROLLOUT_RULE
    );
    assert!(odp.calls("/v3/graphql").is_empty());

    assert_eq!(
        rule_for(&serve, &decide_body("odp-user", true, &[])).await,
        EXPERIMENT_RULE
    );
    let queries = odp.calls("/v3/graphql");
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].api_key.as_deref(), Some(PUBLIC_KEY));
    assert_eq!(queries[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        queries[0].body,
        json!({
            "query": "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) \
                      {audiences(subset: $audiences) {edges {node {name state}}}}}",
            "variables": {"userId": "odp-user", "audiences": SEGMENTS},
        })
    );

    // Cached: no second query, same answer.
    assert_eq!(
        rule_for(&serve, &decide_body("odp-user", true, &[])).await,
        EXPERIMENT_RULE
    );
    assert_eq!(odp.calls("/v3/graphql").len(), 1);
    // IGNORE_CACHE asks again; RESET_CACHE empties the cache and asks again.
    rule_for(&serve, &decide_body("odp-user", true, &["IGNORE_CACHE"])).await;
    assert_eq!(odp.calls("/v3/graphql").len(), 2);
    rule_for(&serve, &decide_body("odp-user", true, &["RESET_CACHE"])).await;
    assert_eq!(odp.calls("/v3/graphql").len(), 3);
    rule_for(&serve, &decide_body("odp-user", true, &[])).await;
    assert_eq!(
        odp.calls("/v3/graphql").len(),
        3,
        "saved again after the reset"
    );

    // A user qualified for nothing is asked about each time (empty answers are not
    // cached, as upstream); one ODP does not know fails the request as upstream does.
    assert_eq!(
        rule_for(&serve, &decide_body("plain", true, &[])).await,
        ROLLOUT_RULE
    );
    rule_for(&serve, &decide_body("plain", true, &[])).await;
    assert_eq!(odp.calls("/v3/graphql").len(), 5);
    let reply = serve
        .post(
            "/v1/decide?keys=flag1",
            ODP_KEY,
            &decide_body("unknown", true, &[]),
        )
        .await;
    assert_json(
        &reply,
        500,
        json!({"error": "failed to fetch qualified segments"}),
    );
    assert!(
        serve
            .stderr()
            .contains("audience segments fetch failed (invalid identifier)"),
        "{}",
        serve.stderr()
    );
    assert_eq!(
        metric(&serve, "agentctl_odp_segments_cache_hits").await,
        2.0
    );

    // As upstream, every decide identified its user to ODP (sent within the 1s
    // flush interval): 6 for odp-user, 2 for plain, 1 for unknown.
    let identified = eventually(|| {
        let events = odp.events();
        (events.len() >= 9).then_some(events)
    })
    .await;
    assert_eq!(identified.len(), 9);
    assert!(
        identified
            .iter()
            .all(|e| e["action"] == "identified" && e["type"] == "fullstack")
    );
    let for_user = |id: &str| {
        identified
            .iter()
            .filter(|e| e["identifiers"] == json!({"fs_user_id": id}))
            .count()
    };
    assert_eq!(
        (for_user("odp-user"), for_user("plain"), for_user("unknown")),
        (6, 2, 1)
    );
}

#[tokio::test]
async fn the_redis_segments_cache_uses_upstreams_key_and_value() {
    let (host, odp) = stand_in().await;
    let redis = RedisServer::start();
    let db2 = |args: &[&str]| -> redis::Value {
        let mut conn = redis::Client::open(format!("{}2", redis.url()))
            .unwrap()
            .get_connection()
            .unwrap();
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut conn).unwrap()
    };
    let serve = start_with_odp(
        Serve::builder().config(&format!(
            "client: {{odp: {{segmentsCache: {{default: redis, services: {{redis: \
             {{host: \"{}\", database: 2, timeout: 10m}}}}}}}}}}",
            redis.addr()
        )),
        &host,
    );
    assert_eq!(
        rule_for(&serve, &decide_body("odp-user", true, &[])).await,
        EXPERIMENT_RULE
    );
    assert_eq!(
        db2(&["GET", "fs_user_id-$-odp-user"]),
        redis::Value::BulkString(br#"["atsbugbashsegmentdob"]"#.to_vec())
    );
    let redis::Value::Int(ttl) = db2(&["PTTL", "fs_user_id-$-odp-user"]) else {
        panic!("no TTL")
    };
    assert!(ttl > 500_000 && ttl <= 600_000, "ttl {ttl}");

    // Segments another Agent of the fleet cached are used without asking ODP.
    db2(&[
        "SET",
        "fs_user_id-$-seeded",
        r#"["atsbugbashsegmentgender"]"#,
    ]);
    db2(&["SET", "unrelated", "kept"]);
    assert_eq!(
        rule_for(&serve, &decide_body("seeded", true, &[])).await,
        EXPERIMENT_RULE
    );
    assert_eq!(odp.calls("/v3/graphql").len(), 1);

    // RESET_CACHE deletes the cached segments (and nothing else), then fetches.
    assert_eq!(
        rule_for(&serve, &decide_body("seeded", true, &["RESET_CACHE"])).await,
        ROLLOUT_RULE
    );
    assert_eq!(odp.calls("/v3/graphql").len(), 2);
    assert_eq!(
        db2(&["EXISTS", "fs_user_id-$-odp-user"]),
        redis::Value::Int(0)
    );
    assert_eq!(
        db2(&["GET", "unrelated"]),
        redis::Value::BulkString(b"kept".to_vec())
    );
}

#[tokio::test]
async fn odp_events_arrive_in_batches_and_the_rest_on_shutdown() {
    let (host, odp) = stand_in().await;
    let mut serve = start_with_odp(
        Serve::builder().config("client: {odp: {eventsFlushInterval: 1h}}"),
        &host,
    );
    let event = |i: usize| {
        json!({"action": "purchased", "identifiers": {"FS-USER-ID": format!("u{i}")},
               "data": {"n": i, "ok": true, "price": 1.5}})
    };
    for i in 0..12 {
        let reply = serve.post("/v1/send-odp-event", ODP_KEY, &event(i)).await;
        assert_json(&reply, 200, json!({"success": true}));
    }
    // A full batch goes at once; the other two wait for the (hour-long) interval.
    let batches = eventually(|| {
        let batches = odp.calls("/v3/events");
        (!batches.is_empty()).then_some(batches)
    })
    .await;
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].body.as_array().unwrap().len(), 10);
    assert_eq!(batches[0].api_key.as_deref(), Some(PUBLIC_KEY));
    assert_eq!(batches[0].content_type.as_deref(), Some("application/json"));
    let first = &batches[0].body[0];
    assert_eq!(first["type"], "fullstack");
    assert_eq!(first["action"], "purchased");
    assert_eq!(first["identifiers"], json!({"fs_user_id": "u0"}));
    let data = first["data"].as_object().unwrap();
    assert_eq!(data["data_source_type"], "sdk");
    assert_eq!(data["data_source"], "go-sdk");
    assert_eq!(
        (&data["n"], &data["ok"], &data["price"]),
        (&json!(0), &json!(true), &json!(1.5))
    );
    assert_eq!(data["idempotence_id"].as_str().unwrap().len(), 36);

    // Shutdown flushes what waits.
    serve.signal_term();
    assert!(serve.wait_exit(Duration::from_secs(20)).await.success());
    let events = odp.events();
    assert_eq!(events.len(), 12);
    assert_eq!(events[11]["identifiers"], json!({"fs_user_id": "u11"}));
}

#[tokio::test]
async fn an_unreachable_events_endpoint_drops_and_counts_without_slowing_requests() {
    let host = format!("http://127.0.0.1:{}", free_port());
    let serve = start_with_odp(
        Serve::builder()
            .config("client: {odp: {eventsFlushInterval: 0s, eventsRequestTimeout: 2s}}"),
        &host,
    );
    let started = Instant::now();
    for i in 0..20 {
        let body = json!({"action": "a", "identifiers": {"email": format!("{i}@x.y")}});
        let reply = serve.post("/v1/send-odp-event", ODP_KEY, &body).await;
        assert_json(&reply, 200, json!({"success": true}));
    }
    // Generous: 20 requests on a loaded machine, none waiting on the endpoint.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let failed = metric(&serve, "agentctl_odp_events_failed").await;
        if failed == 20.0 {
            break;
        }
        assert!(Instant::now() < deadline, "failed = {failed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&serve, "agentctl_odp_events_sent").await, 0.0);
    assert_eq!(metric(&serve, "agentctl_odp_events_queued").await, 20.0);
    assert!(
        serve
            .stderr()
            .contains("ODP events dropped: ODP event send failed"),
        "{}",
        serve.stderr()
    );
}

#[tokio::test]
async fn disabled_or_missing_odp_gives_upstreams_errors() {
    let (host, odp) = stand_in().await;
    let serve = start_with_odp(
        Serve::builder().config("client: {odp: {disable: true}}"),
        &host,
    );
    let event = json!({"action": "a", "identifiers": {"fs_user_id": "u"}});
    check(
        &serve,
        [
            Case::post(
                "/v1/decide?keys=flag1",
                ODP_KEY,
                &decide_body("odp-user", true, &[]),
            )
            .answers_json(500, json!({"error": "failed to fetch qualified segments"})),
            Case::post("/v1/send-odp-event", ODP_KEY, &event)
                .answers_json(500, json!({"error": "ODP is not enabled"})),
            // Validation still comes first.
            Case::post(
                "/v1/send-odp-event",
                ODP_KEY,
                &json!({"identifiers": {"a": "b"}}),
            )
            .answers_json(
                400,
                json!({"error": "missing \"action\" in request payload"}),
            ),
        ],
    )
    .await;
    assert_eq!(
        rule_for(&serve, &decide_body("odp-user", false, &[])).await,
        ROLLOUT_RULE
    );
    assert!(odp.calls.lock().unwrap().is_empty());

    // Enabled, but the project has no ODP integration.
    let plain = Serve::builder().start();
    check(
        &plain,
        [
            Case::post("/v1/send-odp-event", REF_KEY, &event)
                .answers_json(500, json!({"error": "ODP is not integrated"})),
            Case::post("/v1/decide", REF_KEY, &decide_body("matjaz", true, &[]))
                .answers_json(500, json!({"error": "failed to fetch qualified segments"})),
        ],
    )
    .await;
}
