//! End-to-end tests of `agentctl serve`: the built binary on port-0 listeners, talked
//! to over real sockets (HTTP, HTTPS, SSE, webhook), stopped with SIGTERM.
//!
//! Expected values are upstream's (`reference/decision-facts.md` §4-§7) on the
//! reference datafile `KZbunNn9bVfBWLpZPq2XC4` and on the demo datafile.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::harness::free_port;
use crate::harness::serve::{DEMO_KEY, REF_KEY, Reply, Serve, Sse, repo_root, sample};

/// The reference user of decision-facts §4.10.
fn matjaz(options: &[&str]) -> Value {
    json!({"userId": "matjaz", "userAttributes": {"attr_1": "hola"}, "decideOptions": options})
}

/// A config whose CMAB prediction endpoint is a closed local port and which does
/// not retry, so `cmab_flag` fails at once (no network).
fn offline_cmab() -> String {
    format!(
        r#"
client:
  cmab:
    predictionEndpoint: "http://127.0.0.1:{}/predict/%s"
    requestTimeout: 2s
    retryConfig:
      maxRetries: 0
"#,
        free_port()
    )
}

/// Asserts a JSON reply: status, content type, trailing newline and parsed body.
#[track_caller]
fn assert_json(reply: &Reply, status: u16, body: Value) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply.body.ends_with("}\n") || reply.body.ends_with("]\n"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.json(), body);
}

/// Asserts an exact status and body text.
#[track_caller]
fn assert_reply(reply: &Reply, status: u16, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
}

/// A decision object as upstream writes it for user matjaz.
fn decision(flag: &str, variation: &str, rule: &str, enabled: bool, reasons: &[&str]) -> Value {
    json!({
        "variationKey": variation,
        "enabled": enabled,
        "ruleKey": rule,
        "flagKey": flag,
        "userContext": {"userId": "matjaz", "attributes": {"attr_1": "hola"}},
        "reasons": reasons,
        "isEveryoneElseVariation": false,
    })
}

fn feature_1_variables() -> Value {
    json!({"bool_var": true, "double_var": 5.6, "int_var": 1, "str_var": "hello"})
}

/// Sorts an array reply by `flagKey` (upstream's order is Go map order).
fn by_flag(reply: &Reply) -> Vec<Value> {
    let mut list = reply.json().as_array().expect("an array").clone();
    list.sort_by(|a, b| a["flagKey"].as_str().cmp(&b["flagKey"].as_str()));
    list
}

fn flag_keys(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|d| d["flagKey"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------
// 1. /v1/decide on the reference datafile
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn decide_gives_upstream_decisions_and_reasons() {
    let serve = Serve::start(&offline_cmab());
    let reasons = matjaz(&["INCLUDE_REASONS"]);

    let reply = serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &reasons)
        .await;
    let mut expected = decision(
        "feature_1",
        "16906801184",
        "16941022436",
        true,
        &["Audiences for experiment 16941022436 collectively evaluated to true."],
    );
    expected["variables"] = feature_1_variables();
    assert_json(&reply, 200, expected);

    for (flag, rule, variation) in [
        ("feature_4", "default-16943340293", "16925940659"),
        ("feature_5", "default-16917103311", "16927890136"),
    ] {
        let reply = serve
            .post(&format!("/v1/decide?keys={flag}"), REF_KEY, &reasons)
            .await;
        let mut expected = decision(
            flag,
            variation,
            rule,
            true,
            &[
                &format!("Audiences for experiment {rule} collectively evaluated to true."),
                "User \"matjaz\" meets conditions for targeting rule \"Everyone Else\".",
            ],
        );
        expected["isEveryoneElseVariation"] = json!(true);
        assert_json(&reply, 200, expected);
    }

    // An unknown flag is a single object even with ENABLED_FLAGS_ONLY.
    let reply = serve
        .post(
            "/v1/decide?keys=invalid_flag_key",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS", "ENABLED_FLAGS_ONLY"]),
        )
        .await;
    assert_json(
        &reply,
        200,
        decision(
            "invalid_flag_key",
            "",
            "",
            false,
            &["No flag was found for key \"invalid_flag_key\"."],
        ),
    );
    // The reason is an error reason: present without INCLUDE_REASONS too.
    let reply = serve
        .post("/v1/decide?keys=invalid_flag_key", REF_KEY, &matjaz(&[]))
        .await;
    assert_eq!(
        reply.json()["reasons"],
        json!(["No flag was found for key \"invalid_flag_key\"."])
    );
}

#[tokio::test]
async fn decide_applies_forced_decisions_with_and_without_a_rule() {
    let serve = Serve::start("");
    let mut body = matjaz(&["INCLUDE_REASONS"]);
    body["forcedDecisions"] = json!([{"flagKey": "feature_2", "variationKey": "variation_1"}]);
    let reply = serve
        .post("/v1/decide?keys=feature_2", REF_KEY, &body)
        .await;
    assert_json(
        &reply,
        200,
        decision(
            "feature_2",
            "variation_1",
            "",
            true,
            &[
                "Variation (variation_1) is mapped to flag (feature_2) and user (matjaz) in the forced decision map.",
            ],
        ),
    );

    body["forcedDecisions"] = json!([{
        "flagKey": "feature_2", "ruleKey": "feature_2_test", "variationKey": "variation_2"
    }]);
    let reply = serve
        .post("/v1/decide?keys=feature_2", REF_KEY, &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let got = reply.json();
    assert_eq!(
        (&got["variationKey"], &got["ruleKey"], &got["reasons"]),
        (
            &json!("variation_2"),
            &json!("feature_2_test"),
            &json!([
                "Variation (variation_2) is mapped to flag (feature_2), rule (feature_2_test) and user (matjaz) in the forced decision map."
            ])
        )
    );

    // Forced decisions last for one request only.
    let reply = serve
        .post(
            "/v1/decide?keys=feature_2",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    assert_json(
        &reply,
        200,
        decision(
            "feature_2",
            "variation_1",
            "feature_2_test",
            true,
            &["Audiences for experiment feature_2_test collectively evaluated to true."],
        ),
    );
}

#[tokio::test]
async fn decide_answer_shape_follows_the_number_of_keys() {
    let serve = Serve::start(&offline_cmab());
    let body = matjaz(&[]);

    // One key: an object.
    let reply = serve
        .post("/v1/decide?keys=feature_4", REF_KEY, &body)
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.json().is_object(), "{}", reply.body);
    assert!(reply.body.ends_with("}\n"));

    // Two keys (one repeated): an array of two.
    let reply = serve
        .post(
            "/v1/decide?keys=feature_5&keys=feature_4&keys=feature_5",
            REF_KEY,
            &body,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.ends_with("]\n"));
    assert_eq!(flag_keys(&by_flag(&reply)), ["feature_4", "feature_5"]);

    // A comma is part of a key, not a separator: one (unknown) key.
    let reply = serve
        .post("/v1/decide?keys=feature_4,feature_5", REF_KEY, &body)
        .await;
    assert_eq!(reply.json()["flagKey"], "feature_4,feature_5");

    // No key: every flag of the datafile.
    let reply = serve.post("/v1/decide", REF_KEY, &body).await;
    assert_eq!(reply.status, 200);
    let all = by_flag(&reply);
    assert_eq!(
        flag_keys(&all),
        [
            "GkbzTurBWXr8EtNGZj2j6e",
            "cmab_flag",
            "feature_1",
            "feature_2",
            "feature_3",
            "feature_4",
            "feature_5"
        ]
    );
    let feature_3 = &all[4];
    assert_eq!(
        (&feature_3["variationKey"], &feature_3["enabled"]),
        (&json!("off"), &json!(false))
    );

    // Decide-all with ENABLED_FLAGS_ONLY drops feature_3 (off) and cmab_flag (error).
    let reply = serve
        .post("/v1/decide", REF_KEY, &matjaz(&["ENABLED_FLAGS_ONLY"]))
        .await;
    assert_eq!(reply.status, 200);
    let enabled = by_flag(&reply);
    assert_eq!(
        flag_keys(&enabled),
        [
            "GkbzTurBWXr8EtNGZj2j6e",
            "feature_1",
            "feature_2",
            "feature_4",
            "feature_5"
        ]
    );
    assert!(enabled.iter().all(|d| d["enabled"] == json!(true)));
    assert_eq!(enabled[1]["variables"], feature_1_variables());
}

#[tokio::test]
async fn decide_reports_an_unreachable_cmab_service_as_upstream_does() {
    let serve = Serve::start(&offline_cmab());
    let reply = serve
        .post(
            "/v1/decide?keys=cmab_flag",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    assert_json(
        &reply,
        200,
        decision(
            "cmab_flag",
            "",
            "",
            false,
            &["Failed to fetch CMAB data for experiment cmab-rule_1."],
        ),
    );
}

// ---------------------------------------------------------------------------------
// 2. Error statuses and bodies
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn api_errors_have_upstream_statuses_and_bodies() {
    let serve = Serve::start("");
    let url = |path: &str| format!("{}{path}", serve.api);
    let http = serve.http();
    let user = json!({"userId": "matjaz"});

    // SDK key middleware.
    let reply = serve
        .send(
            http.post(url("/v1/decide"))
                .header("content-type", "application/json")
                .body(r#"{"userId":"a"}"#),
        )
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing required X-Optimizely-SDK-Key header\"}\n",
    );
    let reply = serve.post("/v1/decide", "bad key!", &user).await;
    assert_reply(&reply, 400, "{\"error\":\"sdkKey failed validation\"}\n");
    let reply = serve.post("/v1/decide", "NoSuchKey123", &user).await;
    assert_reply(
        &reply,
        403,
        "{\"error\":\"unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden\"}\n",
    );
    // The `:token` part is not part of the key.
    let reply = serve
        .post(
            "/v1/decide?keys=feature_4",
            &format!("{REF_KEY}:token1"),
            &user,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Request bodies.
    let raw = |path: &str, content_type: &str, body: Vec<u8>| {
        http.post(url(path))
            .header("x-optimizely-sdk-key", REF_KEY)
            .header("content-type", content_type)
            .body(body)
    };
    let reply = serve
        .send(raw("/v1/decide", "application/json", b"not json".to_vec()))
        .await;
    assert_reply(&reply, 400, "{\"error\":\"error parsing request body\"}\n");
    let reply = serve
        .post("/v1/decide", REF_KEY, &json!({"userId": ""}))
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n",
    );
    // An empty body is allowed and ends in the same error.
    let reply = serve
        .send(raw("/v1/decide", "application/json", Vec::new()))
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n",
    );
    let reply = serve
        .post(
            "/v1/decide",
            REF_KEY,
            &json!({"userId": "matjaz", "decideOptions": ["INCLUDE_REASONS", "X"]}),
        )
        .await;
    assert_reply(&reply, 400, "{\"error\":\"invalid option: X\"}\n");
    let reply = serve
        .send(raw(
            "/v1/decide",
            "text/plain",
            br#"{"userId":"a"}"#.to_vec(),
        ))
        .await;
    assert_reply(&reply, 415, "");
    let mut big = br#"{"userId":"matjaz","pad":""#.to_vec();
    big.resize(big.len() + (1 << 20), b'x');
    big.extend_from_slice(b"\"}");
    let reply = serve.send(raw("/v1/decide", "application/json", big)).await;
    assert_reply(
        &reply,
        413,
        "{\"error\":\"request body is larger than 1048576 bytes\"}\n",
    );

    // Track.
    let reply = serve.post("/v1/track", REF_KEY, &user).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing required path parameter: eventKey\"}\n",
    );
    let reply = serve
        .post("/v1/track?eventKey=invalid_event_key", REF_KEY, &user)
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"matjaz\",\"eventKey\":\"invalid_event_key\",\"error\":\"event with key \\\"invalid_event_key\\\" not found\"}\n",
    );
    let reply = serve
        .post("/v1/track?eventKey=myevent", REF_KEY, &user)
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"matjaz\",\"eventKey\":\"myevent\"}\n",
    );

    // Override (disabled by default): plain text.
    let reply = serve
        .post(
            "/v1/override",
            REF_KEY,
            &json!({"userId": "matjaz", "experimentKey": "ab_test1", "variationKey": "variation_2"}),
        )
        .await;
    assert_reply(&reply, 403, "Overrides not enabled\n");

    // Activate.
    let reply = serve.post("/v1/activate?type=bad", REF_KEY, &user).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"type \\\"bad\\\" not supported\"}\n",
    );
    let reply = serve
        .post(
            "/v1/activate?featureKey=feature_1",
            REF_KEY,
            &json!({"userId": ""}),
        )
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n",
    );

    // UPS endpoints without a UPS.
    for path in ["/v1/lookup", "/v1/save"] {
        let reply = serve.post(path, REF_KEY, &user).await;
        assert_reply(
            &reply,
            500,
            "{\"error\":\"no user profile service found\"}\n",
        );
    }

    // Notification stream parameters.
    let reply = serve
        .get(
            "/v1/notifications/event-stream?filter=decision,nope",
            REF_KEY,
        )
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"unknown notification type \\\"nope\\\": expected one of decision, track, datafile-update\"}\n",
    );
    let reply = serve
        .send(
            http.get(url("/v1/notifications/event-stream"))
                .header("x-optimizely-sdk-key", REF_KEY)
                .header("last-event-id", "garbage"),
        )
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"invalid Last-Event-ID \\\"garbage\\\": expected an event id like 1700000000000-0\"}\n",
    );

    // Allowed hosts.
    let reply = serve
        .send(
            http.get(url("/v1/config"))
                .header("x-optimizely-sdk-key", REF_KEY)
                .header("host", "evil.example"),
        )
        .await;
    assert_reply(&reply, 404, "{\"error\":\"invalid request host\"}\n");
    let reply = serve
        .send(
            http.get(url("/v1/config"))
                .header("x-optimizely-sdk-key", REF_KEY)
                .header("host", format!("localhost:{}", serve.api_port)),
        )
        .await;
    assert_eq!(reply.status, 200);

    // Request ids: echoed, or a fresh UUID.
    let reply = serve
        .send(
            http.get(url("/v1/config"))
                .header("x-optimizely-sdk-key", REF_KEY)
                .header("x-request-id", "req-42"),
        )
        .await;
    assert_eq!(reply.header("x-request-id"), Some("req-42"));
    let first = serve.get("/v1/config", REF_KEY).await;
    let second = serve.post("/v1/decide", "bad key!", &user).await;
    let ids: Vec<&str> = [&first, &second]
        .iter()
        .map(|r| r.header("x-request-id").expect("a generated x-request-id"))
        .collect();
    for id in &ids {
        let parsed = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert_eq!(parsed.get_version_num(), 4);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn overrides_when_enabled_answer_as_upstream() {
    let serve = Serve::start("api: {enableOverrides: true}");
    let set = |user: &str, variation: &str| json!({"userId": user, "experimentKey": "ab_test1", "variationKey": variation});
    let reply = serve
        .post("/v1/override", REF_KEY, &set("invalid_user", "variation_2"))
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"variation_2\",\"prevVariationKey\":\"\",\"messages\":null}\n",
    );
    let reply = serve
        .post("/v1/override", REF_KEY, &set("matjaz", ""))
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"matjaz\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"\",\"prevVariationKey\":\"\",\"messages\":[\"no pre-existing override\"]}\n",
    );
    let reply = serve
        .post("/v1/override", REF_KEY, &set("invalid_user", "nope"))
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"nope\",\"prevVariationKey\":\"variation_2\",\"messages\":[\"variationKey not found in configuration\",\"updating previous override\"]}\n",
    );
    let reply = serve
        .post(
            "/v1/override",
            REF_KEY,
            &json!({"userId": "u", "experimentKey": "no_such_exp", "variationKey": "v"}),
        )
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"u\",\"experimentKey\":\"no_such_exp\",\"variationKey\":\"v\",\"prevVariationKey\":\"\",\"messages\":[\"experimentKey not found in configuration\"]}\n",
    );
    let reply = serve
        .post("/v1/override", REF_KEY, &set("invalid_user", ""))
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"\",\"prevVariationKey\":\"nope\",\"messages\":[\"removing previous override\"]}\n",
    );
    let reply = serve
        .post(
            "/v1/override",
            REF_KEY,
            &json!({"experimentKey": "ab_test1"}),
        )
        .await;
    assert_reply(&reply, 400, "{\"error\":\"userId cannot be empty\"}\n");
    let reply = serve
        .post("/v1/override", REF_KEY, &json!({"userId": "u"}))
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"experimentKey cannot be empty\"}\n",
    );

    // An override decides the experiment rule.
    serve
        .post("/v1/override", REF_KEY, &set("matjaz", "variation_2"))
        .await;
    let reply = serve
        .post(
            "/v1/decide?keys=GkbzTurBWXr8EtNGZj2j6e",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    let got = reply.json();
    assert_eq!(
        (&got["variationKey"], &got["ruleKey"], &got["reasons"]),
        (
            &json!("variation_2"),
            &json!("ab_test1"),
            &json!(["Override variation variation_2 found for user matjaz"])
        )
    );
}

#[tokio::test]
async fn disabled_notification_stream_is_forbidden_after_the_sdk_key_check() {
    let serve = Serve::start("api: {enableNotifications: false}");
    let reply = serve.get("/v1/notifications/event-stream", REF_KEY).await;
    assert_reply(&reply, 403, "Notification stream not enabled\n");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let reply = serve
        .get("/v1/notifications/event-stream", "bad key!")
        .await;
    assert_reply(&reply, 400, "{\"error\":\"sdkKey failed validation\"}\n");
}

// ---------------------------------------------------------------------------------
// 3. User profile service
// ---------------------------------------------------------------------------------

const UPS: &str = r#"
client:
  userProfileService:
    default: "in-memory"
    services:
      in-memory: {capacity: 0, storageStrategy: "fifo"}
"#;

#[tokio::test]
async fn ups_remembers_activations_and_round_trips_profiles() {
    let serve = Serve::start(UPS);
    let user = json!({"userId": "matjaz", "userAttributes": {"attr_1": "hola"}});

    let reply = serve
        .post("/v1/lookup", REF_KEY, &json!({"userId": "matjaz"}))
        .await;
    assert_json(
        &reply,
        200,
        json!({"userId": "matjaz", "experimentBucketMap": {}}),
    );

    let reply = serve
        .post("/v1/activate?featureKey=feature_2", REF_KEY, &user)
        .await;
    assert_json(
        &reply,
        200,
        json!([{
            "userId": "matjaz", "experimentKey": "feature_2_test", "featureKey": "feature_2",
            "variationKey": "variation_1", "type": "feature", "enabled": true
        }]),
    );
    let reply = serve
        .post(
            "/v1/decide?keys=feature_2",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    assert_json(
        &reply,
        200,
        decision(
            "feature_2",
            "variation_1",
            "feature_2_test",
            true,
            &[
                "User \"matjaz\" was previously bucketed into variation \"variation_1\" of experiment \"feature_2_test\".",
            ],
        ),
    );
    let reply = serve
        .post("/v1/lookup", REF_KEY, &json!({"userId": "matjaz"}))
        .await;
    assert_json(
        &reply,
        200,
        json!({"userId": "matjaz", "experimentBucketMap": {
            "16910084756": {"variation_id": "16925360560"}
        }}),
    );

    // Save replaces the whole profile; the next decide follows it.
    let saved = json!({"userId": "matjaz", "experimentBucketMap": {
        "16910084756": {"variation_id": "16915611472"}
    }});
    let reply = serve.post("/v1/save", REF_KEY, &saved).await;
    assert_reply(&reply, 200, "");
    let reply = serve
        .post("/v1/lookup", REF_KEY, &json!({"userId": "matjaz"}))
        .await;
    assert_json(&reply, 200, saved);
    let reply = serve
        .post(
            "/v1/decide?keys=feature_2",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    assert_eq!(
        reply.json()["reasons"],
        json!([
            "User \"matjaz\" was previously bucketed into variation \"variation_2\" of experiment \"feature_2_test\"."
        ])
    );
}

// ---------------------------------------------------------------------------------
// 4. /v1/config and /v1/datafile
// ---------------------------------------------------------------------------------

fn reference_datafile() -> Value {
    let path = repo_root().join(format!("tests/data/datafiles/{REF_KEY}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn datafile_and_config_describe_the_reference_datafile() {
    let serve = Serve::start("");
    let reply = serve.get("/v1/datafile", REF_KEY).await;
    assert_json(&reply, 200, reference_datafile());

    let reply = serve.get("/v1/config", REF_KEY).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.ends_with("}\n"));
    let config = reply.json();
    let mut keys: Vec<&str> = config
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attributes",
            "audiences",
            "environmentKey",
            "events",
            "experimentsMap",
            "featuresMap",
            "revision",
            "sdkKey"
        ]
    );
    assert_eq!(config["revision"], "139");
    assert_eq!(config["sdkKey"], REF_KEY);
    assert_eq!(config["environmentKey"], "production");
    let mut experiments: Vec<&str> = config["experimentsMap"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    experiments.sort_unstable();
    assert_eq!(experiments, ["ab_test1", "cmab-rule_1", "feature_2_test"]);
    let mut features: Vec<&str> = config["featuresMap"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    features.sort_unstable();
    assert_eq!(
        features,
        [
            "GkbzTurBWXr8EtNGZj2j6e",
            "cmab_flag",
            "feature_1",
            "feature_2",
            "feature_3",
            "feature_4",
            "feature_5"
        ]
    );
    assert_eq!(
        config["attributes"],
        json!([{"id": "16921322086", "key": "attr_1"}])
    );
    assert_eq!(
        config["events"],
        json!([{"id": "16911532385", "key": "myevent",
                "experimentIds": ["16911963060", "9300002877087", "16910084756"]}])
    );
    let feature_1 = &config["featuresMap"]["feature_1"];
    assert_eq!(feature_1["experimentRules"], json!([]));
    assert_eq!(
        feature_1["variablesMap"]["int_var"]["type"],
        json!("integer")
    );
    let rules: Vec<&str> = feature_1["deliveryRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(rules.first(), Some(&"16941022436"));
    let rule = &feature_1["deliveryRules"][0];
    let variation = &rule["variationsMap"]["16906801184"];
    assert_eq!(variation["featureEnabled"], json!(true));
    let values: Value = variation["variablesMap"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect();
    assert_eq!(
        values,
        json!({"bool_var": "true", "double_var": "5.6", "int_var": "1", "str_var": "hello"})
    );
}

// ---------------------------------------------------------------------------------
// 5. The SSE notification stream
// ---------------------------------------------------------------------------------

/// The notification upstream streams for `decide?keys=feature_1` by matjaz.
fn feature_1_notification() -> Value {
    json!({
        "Type": "flag",
        "UserContext": {"ID": "matjaz", "Attributes": {"attr_1": "hola"}, "QualifiedSegments": null},
        "DecisionInfo": {
            "decisionEventDispatched": false,
            "enabled": true,
            "experimentId": "16941022436",
            "flagKey": "feature_1",
            "reasons": [],
            "ruleKey": "16941022436",
            "variables": {"bool_var": true, "double_var": 5.6, "int_var": 1, "str_var": "hello"},
            "variationId": "16906801184",
            "variationKey": "16906801184"
        }
    })
}

#[tokio::test]
async fn every_subscriber_receives_every_decision() {
    let serve = Serve::start("");
    let mut first = Sse::open(&serve, REF_KEY, "", None).await;
    let mut second = Sse::open(&serve, REF_KEY, "", None).await;
    let mut raw = Sse::open(&serve, REF_KEY, "?raw", None).await;
    // Subscribers of another SDK key see nothing of this one.
    let mut other = Sse::open(&serve, DEMO_KEY, "", None).await;

    let reply = serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    assert_eq!(reply.status, 200);
    let a = first.next_event().await;
    let b = second.next_event().await;
    assert_eq!(a, b);
    assert!(!a.id.is_empty(), "events carry an id");
    assert_eq!(a.json(), feature_1_notification());
    assert_eq!(raw.next_line().await, a.data);

    serve
        .post(
            "/v1/decide?keys=promo_banner",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    let demo = other.next_event().await;
    assert_eq!(demo.json()["DecisionInfo"]["flagKey"], "promo_banner");

    // With reasons asked for, they are in the notification; unknown flags and CMAB
    // errors give none (the next event is the feature_4 one).
    let unknown = serve
        .post(
            "/v1/decide?keys=invalid_flag_key",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS"]),
        )
        .await;
    assert_eq!(unknown.status, 200);
    serve
        .post(
            "/v1/decide?keys=feature_4",
            REF_KEY,
            &matjaz(&["INCLUDE_REASONS", "EXCLUDE_VARIABLES"]),
        )
        .await;
    let next = first.next_event().await;
    let info = &next.json()["DecisionInfo"];
    assert_eq!(info["flagKey"], "feature_4");
    assert_eq!(info["variables"], json!({}));
    assert_eq!(
        info["reasons"],
        json!([
            "Audiences for experiment default-16943340293 collectively evaluated to true.",
            "User \"matjaz\" meets conditions for targeting rule \"Everyone Else\"."
        ])
    );
    assert_eq!(second.next_event().await, next);
    assert_eq!(raw.next_line().await, next.data);
}

#[tokio::test]
async fn filters_pick_notification_kinds() {
    let serve = Serve::start("");
    let mut all = Sse::open(&serve, REF_KEY, "", None).await;
    let mut tracks = Sse::open(&serve, REF_KEY, "?filter=track", None).await;
    let mut decisions = Sse::open(&serve, REF_KEY, "?filter=decision,datafile-update", None).await;
    let mut repeated = Sse::open(
        &serve,
        REF_KEY,
        "?filter=project_config_update&filter=decision",
        None,
    )
    .await;

    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    let body = json!({
        "userId": "matjaz",
        "userAttributes": {"attr_1": "hola", "not_in_datafile": 1},
        "eventTags": {"revenue": 42, "value": 1.5, "category": "shoes"}
    });
    let reply = serve
        .post("/v1/track?eventKey=myevent", REF_KEY, &body)
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"matjaz\",\"eventKey\":\"myevent\"}\n",
    );
    serve
        .post("/v1/decide?keys=feature_4", REF_KEY, &matjaz(&[]))
        .await;

    // Unfiltered: decision, track, decision.
    let kinds: Vec<Value> = [
        all.next_event().await,
        all.next_event().await,
        all.next_event().await,
    ]
    .iter()
    .map(|e| e.json())
    .collect();
    assert_eq!(kinds[0]["DecisionInfo"]["flagKey"], "feature_1");
    assert_eq!(kinds[2]["DecisionInfo"]["flagKey"], "feature_4");
    let track = &kinds[1];

    // The track subscriber's first event is the track: the decision before it was
    // filtered out.
    assert_eq!(tracks.next_event().await.json(), *track);
    let conversion = &track["ConversionEvent"];
    assert_eq!(track["EventKey"], "myevent");
    assert_eq!(
        track["UserContext"],
        json!({"ID": "matjaz", "Attributes": {"attr_1": "hola", "not_in_datafile": 1}, "QualifiedSegments": null})
    );
    assert_eq!(
        track["EventTags"],
        json!({"revenue": 42, "value": 1.5, "category": "shoes"})
    );
    assert_eq!(conversion["entity_id"], "16911532385");
    assert_eq!(conversion["key"], "myevent");
    assert_eq!(
        conversion["Attributes"],
        json!([
            {"value": "hola", "key": "attr_1", "type": "custom", "entity_id": "16921322086"},
            {"value": false, "key": "$opt_bot_filtering", "type": "custom", "entity_id": "$opt_bot_filtering"}
        ])
    );
    assert_eq!(
        conversion["tags"],
        json!({"revenue": 42, "value": 1.5, "category": "shoes"})
    );
    assert_eq!(conversion["revenue"], json!(42));
    assert_eq!(conversion["value"], json!(1.5));

    // Comma list and repeated parameter: the two decisions, not the track.
    for sse in [&mut decisions, &mut repeated] {
        assert_eq!(
            sse.next_event().await.json()["DecisionInfo"]["flagKey"],
            "feature_1"
        );
        assert_eq!(
            sse.next_event().await.json()["DecisionInfo"]["flagKey"],
            "feature_4"
        );
    }
}

#[tokio::test]
async fn last_event_id_resumes_without_gap_or_duplicate() {
    let serve = Serve::start("");
    let mut live = Sse::open(&serve, REF_KEY, "", None).await;
    let flags = ["feature_1", "feature_4", "feature_5"];
    for flag in flags {
        serve
            .post(&format!("/v1/decide?keys={flag}"), REF_KEY, &matjaz(&[]))
            .await;
    }
    let mut seen = Vec::new();
    for flag in flags {
        let event = live.next_event().await;
        assert_eq!(event.json()["DecisionInfo"]["flagKey"], flag);
        seen.push(event);
    }
    let ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 3, "ids are distinct: {ids:?}");

    // Reconnect after the first: the second and third are replayed, then live ones.
    let mut resumed = Sse::open(&serve, REF_KEY, "", Some(&seen[0].id)).await;
    assert_eq!(resumed.next_event().await, seen[1]);
    assert_eq!(resumed.next_event().await, seen[2]);
    serve
        .post("/v1/decide?keys=feature_3", REF_KEY, &matjaz(&[]))
        .await;
    let fourth = resumed.next_event().await;
    assert_eq!(fourth.json()["DecisionInfo"]["flagKey"], "feature_3");
    assert_eq!(live.next_event().await, fourth);

    // Resuming from the newest id replays nothing; the query parameter works too.
    let mut caught_up = Sse::open(
        &serve,
        REF_KEY,
        &format!("?lastEventId={}", fourth.id),
        None,
    )
    .await;
    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    let fifth = caught_up.next_event().await;
    assert_eq!(fifth.json()["DecisionInfo"]["flagKey"], "feature_1");
    assert_eq!(live.next_event().await, fifth);
}

#[tokio::test]
async fn resuming_from_an_evicted_id_starts_at_the_oldest_retained() {
    // The hub keeps the last two notifications per SDK key.
    let serve = Serve::start("api: {notificationBuffer: 2}");
    let mut live = Sse::open(&serve, REF_KEY, "", None).await;
    let mut seen = Vec::new();
    // One at a time, so the live subscriber never falls two behind.
    for flag in ["feature_1", "feature_3", "feature_4", "feature_5"] {
        serve
            .post(&format!("/v1/decide?keys={flag}"), REF_KEY, &matjaz(&[]))
            .await;
        let event = live.next_event().await;
        assert_eq!(event.json()["DecisionInfo"]["flagKey"], flag);
        seen.push(event);
    }
    let mut resumed = Sse::open(&serve, REF_KEY, "", Some(&seen[0].id)).await;
    assert_eq!(resumed.next_event().await, seen[2]);
    assert_eq!(resumed.next_event().await, seen[3]);
    let mut resumed = Sse::open(&serve, REF_KEY, "", Some(&seen[2].id)).await;
    assert_eq!(resumed.next_event().await, seen[3]);
    assert!(
        serve
            .stderr()
            .contains("resume point is older than the retained notifications"),
        "the gap is logged"
    );
}

#[tokio::test]
async fn activate_and_track_publish_upstream_notifications() {
    let serve = Serve::start("");
    let mut raw = Sse::open(&serve, REF_KEY, "?raw", None).await;
    let user = json!({"userId": "matjaz", "userAttributes": {"attr_1": "hola"}});
    let reply = serve
        .post(
            "/v1/activate?experimentKey=ab_test1&featureKey=feature_1&featureKey=feature_2&experimentKey=nope",
            REF_KEY,
            &user,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut results = reply.json().as_array().unwrap().clone();
    results.sort_by_key(|r| format!("{}{}", r["experimentKey"], r["featureKey"]));
    assert_eq!(
        Value::Array(results),
        json!([
            {"userId": "matjaz", "experimentKey": "", "featureKey": "feature_1", "variationKey": "",
             "type": "feature", "variables": feature_1_variables(), "enabled": true},
            {"userId": "matjaz", "experimentKey": "ab_test1", "featureKey": "", "variationKey": "variation_1",
             "type": "experiment", "enabled": true},
            {"userId": "matjaz", "experimentKey": "feature_2_test", "featureKey": "feature_2",
             "variationKey": "variation_1", "type": "feature", "enabled": true},
            {"userId": "matjaz", "experimentKey": "nope", "featureKey": "", "variationKey": "",
             "type": "", "enabled": false, "error": "experimentKey not found"}
        ])
    );
    let user_context =
        json!({"ID": "matjaz", "Attributes": {"attr_1": "hola"}, "QualifiedSegments": null});
    let mut messages = Vec::new();
    for _ in 0..3 {
        messages.push(serde_json::from_str::<Value>(&raw.next_line().await).unwrap());
    }
    messages.sort_by_key(|m| m["DecisionInfo"].to_string());
    assert_eq!(
        messages,
        [
            json!({"Type": "feature-test", "UserContext": user_context,
                   "DecisionInfo": {"experimentKey": "ab_test1", "variationKey": "variation_1"}}),
            json!({"Type": "all-feature-variables", "UserContext": user_context,
                   "DecisionInfo": {"feature": {"featureEnabled": true, "featureKey": "feature_1",
                       "source": "rollout", "sourceInfo": {}, "variableValues": feature_1_variables()}}}),
            json!({"Type": "all-feature-variables", "UserContext": user_context,
                   "DecisionInfo": {"feature": {"featureEnabled": true, "featureKey": "feature_2",
                       "source": "feature-test",
                       "sourceInfo": {"experimentKey": "feature_2_test", "variationKey": "variation_1"},
                       "variableValues": {}}}}),
        ]
    );

    // Track body field names match case-insensitively (upstream's struct has no tags).
    let reply = serve
        .post(
            "/v1/track?eventKey=myevent",
            REF_KEY,
            &json!({"UserID": "bob", "EVENTTAGS": {"revenue": 7}}),
        )
        .await;
    assert_reply(
        &reply,
        200,
        "{\"userId\":\"bob\",\"eventKey\":\"myevent\"}\n",
    );
    let track: Value = serde_json::from_str(&raw.next_line().await).unwrap();
    assert_eq!(
        (
            &track["EventKey"],
            &track["UserContext"]["ID"],
            &track["EventTags"]
        ),
        (&json!("myevent"), &json!("bob"), &json!({"revenue": 7}))
    );
}

#[tokio::test]
async fn request_details_match_upstream() {
    let serve = Serve::start("server: {batchRequests: {operationsLimit: 2}}");

    // Go's encoder escapes <, > and &.
    let reply = serve
        .post(
            "/v1/decide?keys=feature_4",
            REF_KEY,
            &json!({"userId": "<a&b>"}),
        )
        .await;
    assert!(
        reply
            .body
            .contains(r#""userContext":{"userId":"\u003ca\u0026b\u003e","attributes":null}"#),
        "{}",
        reply.body
    );

    // `keys=` is one key, the empty one: a single object.
    let reply = serve.post("/v1/decide?keys=", REF_KEY, &matjaz(&[])).await;
    let mut expected = decision("", "", "", false, &["No flag was found for key \"\"."]);
    expected["flagKey"] = json!("");
    assert_json(&reply, 200, expected);

    // A `key:token` subscriber gets the key's notifications.
    let mut sse = Sse::open(&serve, &format!("{REF_KEY}:token42"), "", None).await;
    serve
        .post("/v1/decide?keys=feature_1", REF_KEY, &matjaz(&[]))
        .await;
    assert_eq!(sse.next_event().await.json(), feature_1_notification());

    // Batch: the operations limit, and operations run through the API.
    let reply = serve
        .post("/v1/batch", REF_KEY, &json!({"operations": [{}, {}, {}]}))
        .await;
    assert_reply(
        &reply,
        422,
        "{\"error\":\"too many operations, exceeding 2 operations\"}\n",
    );
    let reply = serve
        .post(
            "/v1/batch",
            REF_KEY,
            &json!({"operations": [
                {"method": "POST", "url": "/v1/decide", "operationID": "1",
                 "params": {"keys": "feature_4"}, "body": {"userId": "matjaz"},
                 "headers": {"X-Request-Id": "op-1"}},
                {"method": "POST", "url": "/v1/decide?keys=feature_4", "operationID": "2",
                 "body": {"userId": ""}}
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let batch = reply.json();
    assert_eq!(batch["errorCount"], 1);
    let mut operations = batch["response"].as_array().unwrap().clone();
    operations.sort_by_key(|o| o["operationID"].to_string());
    assert_eq!(
        (
            &operations[0]["status"],
            &operations[0]["requestID"],
            &operations[0]["body"]["ruleKey"]
        ),
        (&json!(200), &json!("op-1"), &json!("default-16943340293"))
    );
    assert_eq!(
        (&operations[1]["status"], &operations[1]["body"]),
        (
            &json!(400),
            &json!({"error": "missing \"userId\" in request payload"})
        )
    );
}

// ---------------------------------------------------------------------------------
// 6. Webhook
// ---------------------------------------------------------------------------------

const WEBHOOK: &str = r#"
webhook:
  projects:
    20000001:
      sdkKeys: [demo]
      secret: "s3cret"
"#;

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

fn webhook_body(project_id: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "project_id": project_id,
        "timestamp": 1_700_000_000,
        "event": "project.datafile_updated",
        "data": {"revision": 2, "origin_url": "", "cdn_url": "", "environment": "Production"}
    }))
    .unwrap()
}

#[tokio::test]
async fn webhook_checks_signatures_and_refreshes_the_datafile() {
    let serve = Serve::start(WEBHOOK);
    let url = format!("{}/webhooks/optimizely", serve.webhook);
    let post = |body: Vec<u8>, content_type: &str, signature: Option<String>| {
        let mut request = serve
            .http()
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature", signature);
        }
        serve.send(request)
    };
    let body = webhook_body(20000001);

    let reply = post(body.clone(), "application/json", Some(sign("wrong", &body))).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Computed signature does not match signature in request. Ignoring message.\"}\n",
    );
    let reply = post(body.clone(), "application/json", None).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Computed signature does not match signature in request. Ignoring message.\"}\n",
    );
    let reply = post(webhook_body(999), "application/json", None).await;
    assert_reply(&reply, 204, "");
    let reply = post(b"{not json".to_vec(), "application/json", None).await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"Unable to parse webhook message.\"}\n",
    );
    let reply = post(body.clone(), "text/plain", Some(sign("s3cret", &body))).await;
    assert_reply(&reply, 415, "");

    // A good call re-reads the datafile; a new revision is announced and served.
    let mut updates = Sse::open(&serve, DEMO_KEY, "?filter=decision,datafile-update", None).await;
    let path = serve.datafiles().join("demo.json");
    let mut datafile: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "1"
    );
    datafile["revision"] = json!("2");
    std::fs::write(&path, serde_json::to_vec_pretty(&datafile).unwrap()).unwrap();
    let reply = post(
        body.clone(),
        "application/json",
        Some(sign("s3cret", &body)),
    )
    .await;
    assert_reply(&reply, 204, "");
    let event = updates.next_event().await;
    assert_eq!(
        event.data,
        r#"{"Type":"datafile-update","Revision":"2","ProjectId":"20000001"}"#
    );
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "2"
    );

    // The same revision again: no announcement (the next event is a decision).
    let reply = post(
        body.clone(),
        "application/json",
        Some(sign("s3cret", &body)),
    )
    .await;
    assert_reply(&reply, 204, "");
    serve
        .post(
            "/v1/decide?keys=checkout",
            DEMO_KEY,
            &json!({"userId": "u1"}),
        )
        .await;
    assert_eq!(updates.next_event().await.json()["Type"], "flag");
}

#[tokio::test]
async fn polling_picks_up_a_new_revision() {
    let serve = Serve::start("client: {pollingInterval: 50ms}");
    let mut updates = Sse::open(&serve, DEMO_KEY, "?filter=datafile-update", None).await;
    let path = serve.datafiles().join("demo.json");
    let mut datafile: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    datafile["revision"] = json!("7");
    // Written aside and renamed, so a poll never reads half a file.
    let staged = serve.datafiles().join("demo.json.new");
    std::fs::write(&staged, serde_json::to_vec(&datafile).unwrap()).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    assert_eq!(
        updates.next_event().await.data,
        r#"{"Type":"datafile-update","Revision":"7","ProjectId":"20000001"}"#
    );
    assert_eq!(
        serve.get("/v1/config", DEMO_KEY).await.json()["revision"],
        "7"
    );
}

// ---------------------------------------------------------------------------------
// 7. Event dispatch and the flush on shutdown
// ---------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------
// 10. Admin
// ---------------------------------------------------------------------------------

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
