//! Upstream-parity scenarios of issue 13 against the real binary: `/v1/batch`
//! operations as independent requests, and the remaining wire details (unknown
//! paths, the API description, error headers, datafile fetch failures, metrics
//! formats).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::serve::{DEMO_KEY, REF_KEY, Reply, Serve};

/// `POST /v1/batch` with `body` and no SDK key on the batch request itself.
async fn batch(serve: &Serve, body: &Value) -> Reply {
    serve
        .send(
            serve
                .http()
                .post(format!("{}/v1/batch", serve.api))
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).unwrap()),
        )
        .await
}

/// The answers of a batch, by operation id.
fn by_id(reply: &Reply) -> std::collections::BTreeMap<String, Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| (op["operationID"].as_str().unwrap().to_owned(), op.clone()))
        .collect()
}

#[tokio::test]
async fn batch_operations_run_with_their_own_headers() {
    let serve = Serve::start("");
    let ref_config = serve.get("/v1/config", REF_KEY).await.json();
    let demo_config = serve.get("/v1/config", DEMO_KEY).await.json();
    assert_ne!(ref_config, demo_config);

    let reply = batch(
        &serve,
        &json!({"operations": [
            {"method": "GET", "url": "/v1/config", "operationID": "ref",
             "headers": {"X-Optimizely-SDK-Key": REF_KEY}},
            {"method": "GET", "url": "/v1/config", "operationID": "demo",
             "headers": {"X-Optimizely-SDK-Key": DEMO_KEY, "X-Request-Id": "r-demo"}},
            {"method": "GET", "url": "/v1/config", "operationID": "empty",
             "headers": {"X-Optimizely-SDK-Key": ""}},
            {"method": "GET", "url": "/v1/config", "operationID": "none"},
            {"method": "POST", "url": "/v1/decide", "operationID": "decide",
             "params": {"keys": "feature_4"}, "body": {"userId": "matjaz"},
             "headers": {"X-Optimizely-SDK-Key": REF_KEY}},
        ]}),
    )
    .await;
    assert_eq!(reply.json()["errorCount"], 2);
    let ops = by_id(&reply);
    assert_eq!(
        (&ops["ref"]["status"], &ops["ref"]["body"]),
        (&json!(200), &ref_config)
    );
    assert_eq!(
        (
            &ops["demo"]["status"],
            &ops["demo"]["body"],
            &ops["demo"]["requestID"]
        ),
        (&json!(200), &demo_config, &json!("r-demo"))
    );
    let missing = json!({"error": "missing required X-Optimizely-SDK-Key header"});
    for id in ["empty", "none"] {
        assert_eq!(
            (&ops[id]["status"], &ops[id]["body"]),
            (&json!(400), &missing),
            "{id}"
        );
    }
    assert_eq!(ops["decide"]["status"], 200);
    assert_eq!(ops["decide"]["body"]["flagKey"], "feature_4");
}

#[tokio::test]
async fn batch_refuses_what_is_not_a_batch_and_the_event_stream() {
    let serve = Serve::start("");
    for body in [json!([1, 2]), json!({"operations": "x"}), json!("batch")] {
        let reply = batch(&serve, &body).await;
        assert_eq!(
            (
                reply.status,
                reply.body.as_str(),
                reply.header("content-type")
            ),
            (
                400,
                "{\"error\": \"cannot decode the operation body\"}\n",
                Some("text/plain; charset=utf-8")
            ),
            "{body}"
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }

    let started = Instant::now();
    let reply = batch(
        &serve,
        &json!({"operations": [
            {"method": "GET", "url": "/v1/notifications/event-stream", "operationID": "sse",
             "headers": {"X-Optimizely-SDK-Key": REF_KEY}},
            {"method": "GET", "url": "/v1/datafile", "operationID": "datafile",
             "headers": {"X-Optimizely-SDK-Key": REF_KEY}},
        ]}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let ops = by_id(&reply);
    assert_eq!(ops["sse"]["status"], 400);
    assert!(
        ops["sse"]["body"]["error"]
            .as_str()
            .unwrap()
            .contains("notification stream")
    );
    assert_eq!(ops["datafile"]["status"], 200);
}

#[tokio::test]
async fn unknown_paths_the_description_and_error_headers() {
    let serve = Serve::start("");
    let serve = &serve;
    let get = |path: &str| {
        let url = format!("{}{path}", serve.api);
        async move { serve.send(serve.http().get(url)).await }
    };

    for path in ["/nope", "/v1/nope", "/v2/decide"] {
        let reply = get(path).await;
        assert_eq!(
            (
                reply.status,
                reply.body.as_str(),
                reply.header("content-type")
            ),
            (
                404,
                "404 page not found\n",
                Some("text/plain; charset=utf-8")
            ),
            "{path}"
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }

    let page = get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("/openapi.yaml"), "{}", page.body);

    let spec = get("/openapi.yaml").await;
    assert_eq!(spec.status, 200);
    assert!(spec.header("content-type").unwrap().contains("yaml"));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&spec.body).unwrap();
    assert!(doc["paths"]["/v1/decide"]["post"].is_mapping());

    // Error answers, JSON or plain text, say nosniff; successful ones do not.
    let reply = serve.get("/v1/config", "").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    let reply = serve.post("/v1/override", REF_KEY, &json!({})).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    let reply = serve.get("/v1/config", REF_KEY).await;
    assert_eq!(reply.header("x-content-type-options"), None);
}

/// A datafile server that answers every request with `status`.
async fn datafile_server(status: u16) -> std::net::SocketAddr {
    let code = axum::http::StatusCode::from_u16(status).unwrap();
    let app = axum::Router::new().fallback(move || async move { code });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn datafile_fetch_failures_other_than_403_are_500() {
    let forbidden = datafile_server(403).await;
    let failing = datafile_server(503).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    for (addr, status, body) in [
        (
            forbidden,
            403,
            "{\"error\":\"unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden\"}\n",
        ),
        (
            failing,
            500,
            "{\"error\":\"failed to instantiate Optimizely for SDK Key: Remote1\"}\n",
        ),
        (
            closed,
            500,
            "{\"error\":\"failed to instantiate Optimizely for SDK Key: Remote1\"}\n",
        ),
    ] {
        let serve = Serve::start(&format!(
            "client: {{datafileURLTemplate: \"http://{addr}/%s.json\"}}"
        ));
        let reply = serve.get("/v1/config", "Remote1").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (status, body),
            "{addr}"
        );
    }
}

#[tokio::test]
async fn metrics_type_follows_upstream() {
    for (yaml, json) in [
        ("admin: {metricsType: \"\"}", true),
        ("admin: {metricsType: expvar}", true),
        ("admin: {metricsType: prometheus}", false),
        ("", false),
    ] {
        let serve = Serve::start(yaml);
        let reply = serve
            .send(serve.http().get(format!("{}/metrics", serve.admin)))
            .await;
        assert_eq!(reply.status, 200);
        let is_json = serde_json::from_str::<Value>(&reply.body).is_ok_and(|v| v.is_object());
        assert_eq!(is_json, json, "{yaml}: {}", reply.body);
        if !json {
            assert!(
                reply
                    .header("content-type")
                    .unwrap()
                    .starts_with("text/plain")
            );
        }
    }
}

#[test]
fn map_settings_from_json_variables_and_warnings_for_unusable_ones() {
    let redis = crate::harness::RedisServer::start();
    let run = crate::harness::Agentctl::new()
        .env(
            "OPTIMIZELY_CLIENT_USERPROFILESERVICE",
            r#"{"default":"in-memory","services":{"in-memory":{"capacity":10}}}"#,
        )
        .env("OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE", "redis")
        .env("OPTIMIZELY_CLIENT_NO_SUCH_KEY", "1")
        .redis(&redis, &["inspect", "streams"])
        .ok();
    assert!(
        run.stderr.contains(
            "environment variable OPTIMIZELY_CLIENT_NO_SUCH_KEY names no configuration key"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "environment variable OPTIMIZELY_CLIENT_ODP_SEGMENTSCACHE: key \
             `client.odp.segmentsCache` takes a JSON object"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("OPTIMIZELY_CLIENT_USERPROFILESERVICE"),
        "{}",
        run.stderr
    );

    // A bad value inside the JSON stops the command, naming the variable and key.
    let run = crate::harness::Agentctl::new()
        .env("OPTIMIZELY_CLIENT_ODP", r#"{"disable": "perhaps"}"#)
        .redis(&redis, &["inspect", "streams"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "environment variable OPTIMIZELY_CLIENT_ODP: key `client.odp.disable`: invalid value"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_user_profile_service_given_as_json_is_used_by_serve() {
    let runner = crate::harness::Agentctl::new().env(
        "OPTIMIZELY_CLIENT_USERPROFILESERVICE",
        r#"{"default":"in-memory","services":{"in-memory":{"capacity":10}}}"#,
    );
    let datafiles = runner.cwd().join("datafiles");
    std::fs::create_dir_all(&datafiles).unwrap();
    std::fs::copy(
        crate::harness::serve::repo_root().join("datafiles/demo.json"),
        datafiles.join("demo.json"),
    )
    .unwrap();
    let mut child = runner
        .command(&[
            "serve",
            "--api-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--webhook-addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let api = line
        .split(' ')
        .find_map(|part| part.strip_prefix("api="))
        .unwrap_or_else(|| panic!("no api address in {line:?}"))
        .to_owned();
    let http = crate::harness::serve::client();
    let lookup = http
        .post(format!("http://{api}/v1/lookup"))
        .header("x-optimizely-sdk-key", DEMO_KEY)
        .header("content-type", "application/json")
        .body(r#"{"userId":"u1"}"#)
        .send()
        .await
        .unwrap();
    let status = lookup.status().as_u16();
    let _ = child.kill();
    let _ = child.wait();
    // Without a user profile service, upstream answers lookups with an error.
    assert_eq!(status, 200);
}
