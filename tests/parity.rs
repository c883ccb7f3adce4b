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
