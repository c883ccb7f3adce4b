//! `/v1/datafile` and `/v1/config` on the reference datafile.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::{Value, json};

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve, repo_root};

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
