//! The life of the process: queued events flushed on SIGTERM, HTTPS with the
//! configured certificate, open streams ended by SIGTERM with exit 0.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::api::*;
use crate::harness::serve::{DEMO_KEY, REF_KEY, Serve, Sse};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_are_flushed_on_sigterm() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let sink = axum::Router::new().route(
        "/v1/events",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send((content_type, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let mut serve = Serve::start(&format!(
        r#"
client:
  eventURL: "http://{sink_addr}/v1/events"
  batchSize: 100
  flushInterval: 1h
"#
    ));
    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &json!({"userId": "u1", "userAttributes": {"country": "SE"}}),
        )
        .await;
    assert_eq!(reply.json()["variationKey"], "sale");
    let reply = serve
        .post(
            "/v1/track?eventKey=purchase",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"u1\",\"eventKey\":\"purchase\"}\n",
    );
    // Queued, not sent: the batch is neither full nor old.
    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await;
    assert!(
        metrics.body.contains("agentctl_events_queued_total 2"),
        "{}",
        metrics.body
    );
    assert!(rx.try_recv().is_err(), "nothing sent before shutdown");

    let status = serve.terminate().await;
    assert!(status.success(), "exit {status:?}\n{}", serve.stderr());
    let (content_type, body) = rx.try_recv().expect("the batch was sent before exit");
    assert!(rx.try_recv().is_err(), "one batch");
    assert_eq!(content_type, "application/json");
    let batch: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            &batch["account_id"],
            &batch["project_id"],
            &batch["revision"],
            &batch["client_name"],
            &batch["enrich_decisions"]
        ),
        (
            &json!("10000001"),
            &json!("20000001"),
            &json!("1"),
            &json!("go-sdk"),
            &json!(true)
        )
    );
    let visitors = batch["visitors"].as_array().unwrap();
    assert_eq!(visitors.len(), 2, "{batch}");
    let keys: Vec<&Value> = visitors
        .iter()
        .map(|v| &v["snapshots"][0]["events"][0]["key"])
        .collect();
    assert_eq!(keys, [&json!("campaign_activated"), &json!("purchase")]);
    assert!(visitors.iter().all(|v| v["visitor_id"] == "u1"));
    let impression = &visitors[0]["snapshots"][0]["decisions"][0];
    assert_eq!(impression["metadata"]["flag_key"], "promo_banner");
    assert_eq!(impression["metadata"]["variation_key"], "sale");
}

// ---------------------------------------------------------------------------------
// 8. TLS
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let serve = Serve::start(&format!(
        "server: {{certFile: {:?}, keyFile: {:?}}}",
        cert.display().to_string(),
        key.display().to_string()
    ));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let api_addr: std::net::SocketAddr =
        serve.api.strip_prefix("http://").unwrap().parse().unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", api_addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let reply = serve
        .send(
            https
                .get(format!("https://localhost:{}/v1/config", serve.api_port))
                .header("x-optimizely-sdk-key", REF_KEY),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["revision"], "139");

    // Without the certificate trusted, the handshake fails.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", api_addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("https://localhost:{}/v1/config", serve.api_port))
        .header("x-optimizely-sdk-key", REF_KEY)
        .send()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(err.is_connect(), "{err:?}");
}

// ---------------------------------------------------------------------------------
// 9. Shutdown
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_zero() {
    let mut serve = Serve::start("api: {notificationKeepAlive: 0s}");
    let mut sse = Sse::open(&serve, REF_KEY, "", None).await;
    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    assert_eq!(sse.next_event().await.json(), feature_1_notification());
    serve.signal_term();
    sse.expect_end().await;
    let status = serve.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit {status:?}\n{}", serve.stderr());
}
