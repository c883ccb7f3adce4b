//! Helpers of the `serve` API tests: reply assertions, the table-driven request
//! [`Case`]s, and the reference user and decisions of `reference/decision-facts.md`.

use serde_json::{Value, json};

use super::free_port;
use super::serve::Reply;

/// The reference user of decision-facts §4.10.
pub fn matjaz(options: &[&str]) -> Value {
    json!({"userId": "matjaz", "userAttributes": {"attr_1": "hola"}, "decideOptions": options})
}

/// A config whose CMAB prediction endpoint is a closed local port and which does
/// not retry, so `cmab_flag` fails at once (no network).
pub fn offline_cmab() -> String {
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
pub fn assert_json(reply: &Reply, status: u16, body: Value) {
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
pub fn assert_reply(reply: &Reply, status: u16, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
}

/// A decision object as upstream writes it for user matjaz.
pub fn decision(flag: &str, variation: &str, rule: &str, enabled: bool, reasons: &[&str]) -> Value {
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

/// The variables of `feature_1` as upstream decides them for matjaz.
pub fn feature_1_variables() -> Value {
    json!({"bool_var": true, "double_var": 5.6, "int_var": 1, "str_var": "hello"})
}

/// Sorts an array reply by `flagKey` (upstream's order is Go map order).
pub fn by_flag(reply: &Reply) -> Vec<Value> {
    let mut list = reply.json().as_array().expect("an array").clone();
    list.sort_by(|a, b| a["flagKey"].as_str().cmp(&b["flagKey"].as_str()));
    list
}

/// The `flagKey`s of a list of decisions, in order.
pub fn flag_keys(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|d| d["flagKey"].as_str().unwrap())
        .collect()
}

/// The notification upstream streams for `decide?keys=feature_1` by matjaz.
pub fn feature_1_notification() -> Value {
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
