//! The admin listener (health, info, metrics in Prometheus text and expvar JSON) and
//! serving the demo datafile with the shipped config.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::json;

use crate::harness::api::*;
use crate::harness::serve::{DEMO_KEY, REF_KEY, Serve, Sse, repo_root, sample};

#[tokio::test]
async fn admin_reports_health_info_and_metrics() {
    let serve = Serve::start("name: test-agent\nauthor: Test Author\n");
    let admin = |path: &str| serve.send(serve.http().get(format!("{}{path}", serve.admin)));

    assert_json(&admin("/health").await, 200, json!({"status": "ok"}));
    assert_reply(&admin("/health").await, 200, "{\"status\":\"ok\"}\n");
    // The API listener answers /health too.
    let reply = serve
        .send(serve.http().get(format!("{}/health", serve.api)))
        .await;
    assert_reply(&reply, 200, "{\"status\":\"ok\"}\n");

    let info = admin("/info").await.json();
    assert_eq!(info["app_name"], "test-agent");
    assert_eq!(info["author"], "Test Author");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    let before = admin("/metrics").await;
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        before.headers
    );
    let decisions = "agentctl_notifications_published_total{type=\"decision\"}";
    assert_eq!(
        sample(&before.body, decisions),
        Some(0.0),
        "{}",
        before.body
    );
    let subscribers = "agentctl_sse_subscribers{hub=\"memory\"}";
    assert_eq!(sample(&before.body, subscribers), Some(0.0));

    let _sse = Sse::open(&serve, REF_KEY, "", None).await;
    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    let after = admin("/metrics").await;
    assert_eq!(sample(&after.body, decisions), Some(1.0), "{}", after.body);
    assert_eq!(sample(&after.body, subscribers), Some(1.0));
    assert!(after.body.contains("# TYPE agentctl_sse_subscribers gauge"));
}

#[tokio::test]
async fn metrics_can_be_expvar_json() {
    let serve = Serve::start("admin: {metricsType: expvar}");
    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    let reply = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let metrics = reply.json();
    assert!(metrics.is_object(), "{metrics}");
    assert_eq!(metrics["sse.subscribers{hub=memory}"], 0.0, "{metrics}");
}

// ---------------------------------------------------------------------------------
// 11. Out of the box
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn serves_the_demo_datafile_with_the_shipped_config() {
    let builder = Serve::builder().defaults_from_cwd();
    std::fs::create_dir(builder.cwd().join("datafiles")).unwrap();
    std::fs::copy(
        repo_root().join("datafiles/demo.json"),
        builder.cwd().join("datafiles/demo.json"),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("config.yaml"),
        builder.cwd().join("config.yaml"),
    )
    .unwrap();
    let serve = builder.start();

    let mut sse = Sse::open(&serve, DEMO_KEY, "", None).await;
    let reply = serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &json!({"userId": "u1", "userAttributes": {"country": "SE"}}),
        )
        .await;
    assert_json(
        &reply,
        200,
        json!({
            "variationKey": "sale",
            "enabled": true,
            "ruleKey": "nordic_sale",
            "flagKey": "promo_banner",
            "userContext": {"userId": "u1", "attributes": {"country": "SE"}},
            "reasons": [],
            "variables": {
                "headline": "Nordic summer sale",
                "discount_percent": 15,
                "min_order": 49.5,
                "dismissible": true,
                "style": {"color": "blue"}
            },
            "isEveryoneElseVariation": false
        }),
    );
    let event = sse.next_event().await.json();
    assert_eq!(event["DecisionInfo"]["variationKey"], "sale");
    assert_eq!(event["DecisionInfo"]["decisionEventDispatched"], true);
}
