//! `agentctl burst` against a real `serve`: request counts agree with the server's
//! metrics, the JSON report's shape, thresholds and exit codes, the open model's
//! rate, and `--verify` both passing and catching a real loss.

use serde_json::Value;

use crate::harness::Agentctl;
use crate::harness::serve::{DEMO_KEY, Serve, sample};

/// Runs `agentctl burst --url API --sdk-key demo ARGS…`.
fn burst(serve: &Serve, args: &[&str]) -> crate::harness::Run {
    let mut all = vec!["burst", "--url", &serve.api, "--sdk-key", DEMO_KEY];
    all.extend_from_slice(args);
    Agentctl::new().run(&all)
}

#[tokio::test]
async fn report_counts_match_the_server_metrics_and_the_json_schema() {
    let serve = Serve::start("");
    let run = burst(
        &serve,
        &[
            "--flags",
            "promo_banner",
            "--requests",
            "50",
            "--concurrency",
            "4",
            "--json",
        ],
    )
    .ok();
    let report = run.json();
    assert_eq!(report["requests"], 50, "{report}");
    assert_eq!(report["ok"], 50);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["status"], serde_json::json!({"200": 50}));
    assert_eq!(report["model"], "closed");
    assert_eq!(report["concurrency"], 4);
    assert_eq!(report["endpoint"], "decide");
    assert!(report["target_rate"].is_null());
    assert!(report["achieved_rate"].as_f64().unwrap() > 0.0);
    let latency = &report["latency"];
    assert_eq!(latency["count"], 50);
    for key in ["min", "mean", "p50", "p90", "p99", "p99.9", "max"] {
        assert!(latency[key].as_f64().unwrap() > 0.0, "{key}: {latency}");
    }
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
    let points = latency["histogram"].as_array().unwrap();
    assert_eq!(points.last().unwrap()["percentile"], 100.0);
    assert_eq!(points.last().unwrap()["ms"], latency["max"]);
    assert!(report["raw_latency"].is_null());
    assert!(report["verify"].is_null());
    assert_eq!(run.stderr, "", "nothing but the report when piped");

    let metrics = serve
        .send(serve.http().get(format!("{}/metrics", serve.admin)))
        .await;
    let served = sample(
        &metrics.body,
        "agentctl_http_requests_total{route=\"/v1/decide\",code=\"200\"}",
    );
    assert_eq!(served, Some(50.0), "{}", metrics.body);
}

#[test]
fn thresholds_set_the_exit_code_and_are_named() {
    let serve = Serve::start("");
    let run = burst(&serve, &["--requests", "10", "--threshold", "errors=0"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("threshold errors=0: ok"),
        "{}",
        run.stdout
    );

    let run = burst(
        &serve,
        &[
            "--requests",
            "10",
            "--threshold",
            "errors=0",
            "--threshold",
            "p99<1us",
        ],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("threshold p99<1us violated"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("errors=0"), "{}", run.stderr);

    // A server that answers errors: every request fails, errors=0 is violated.
    let run = burst(
        &serve,
        &[
            "--requests",
            "5",
            "--flags",
            "no_such_flag",
            "--endpoint",
            "activate",
            "--json",
            "--threshold",
            "errors=0",
        ],
    );
    let report = run.json();
    if report["errors"] == 0 {
        assert_eq!(run.code, 0);
    } else {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("threshold errors=0 violated"),
            "{}",
            run.stderr
        );
    }

    let run = burst(&serve, &["--endpoint", "track"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--event-key"), "{}", run.stderr);
    let run = burst(&serve, &["--threshold", "p42<5ms"]);
    assert_eq!(run.code, 2, "a malformed threshold is a usage error");
}

#[test]
fn rate_is_achieved_and_latency_is_corrected() {
    let serve = Serve::start("");
    let run = burst(
        &serve,
        &[
            "--endpoint",
            "track",
            "--event-key",
            "purchase",
            "--rate",
            "100",
            "--duration",
            "2s",
            "--timeseries",
            "500ms",
            "--json",
        ],
    )
    .ok();
    let report: Value = run.json();
    let requests = report["requests"].as_u64().unwrap();
    assert!((190..=200).contains(&requests), "{report}");
    // The request count above proves the schedule; the achieved rate also counts
    // the wall-clock tail of the last replies, which a loaded machine stretches.
    let achieved = report["achieved_rate"].as_f64().unwrap();
    assert!((50.0..=110.0).contains(&achieved), "achieved {achieved}/s");
    assert_eq!(report["target_rate"], 100.0);
    assert_eq!(report["model"], "open");
    assert!(report["raw_latency"]["p50"].as_f64().unwrap() > 0.0);
    // Measured from the intended send time, so never shorter than the raw latency.
    assert!(report["latency"]["max"].as_f64() >= report["raw_latency"]["max"].as_f64());
    let rows = report["timeseries"].as_array().unwrap();
    assert!((4..=5).contains(&rows.len()), "{rows:?}");
    let counted: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(counted, requests);
}

#[test]
fn verify_counts_every_delivery_on_the_in_memory_hub() {
    let serve = Serve::start("");
    let run = burst(
        &serve,
        &[
            "--endpoint",
            "mix",
            "--flags",
            "promo_banner,checkout",
            "--event-key",
            "purchase",
            "--requests",
            "60",
            "--concurrency",
            "8",
            "--verify",
            "--subscribers",
            "2",
            "--json",
            "--threshold",
            "lost=0",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let verify = &report["verify"];
    assert_eq!(verify["lost"], 0, "{verify}");
    assert_eq!(verify["duplicated"], 0);
    let subscribers = verify["subscribers"].as_array().unwrap();
    assert_eq!(subscribers.len(), 2);
    for sub in subscribers {
        assert!(sub["expected"].as_u64().unwrap() >= 60, "{sub}");
        assert_eq!(sub["received"], sub["expected"]);
        assert_eq!(sub["out_of_order"], 0);
        assert!(sub["delivery_latency"]["p99"].as_f64().unwrap() > 0.0);
        assert!(sub["time_to_first_event_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn verify_catches_a_subscriber_on_an_unsynced_instance() {
    let serve = Serve::start("");
    let other = Serve::start("");
    let run = burst(
        &serve,
        &[
            "--flags",
            "promo_banner",
            "--requests",
            "10",
            "--verify",
            "--subscribers",
            "2",
            "--subscribe-url",
            &serve.api,
            "--subscribe-url",
            &other.api,
            "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    let subscribers = report["verify"]["subscribers"].as_array().unwrap();
    assert_eq!(subscribers[0]["lost"], 0, "{report}");
    assert_eq!(subscribers[1]["url"], other.api.as_str());
    assert_eq!(subscribers[1]["lost"], 10);
    assert_eq!(subscribers[1]["received"], 0);
    assert_eq!(report["verify"]["lost"], 10);
    assert!(
        run.stderr.contains("10 notification deliveries lost"),
        "{}",
        run.stderr
    );
}
