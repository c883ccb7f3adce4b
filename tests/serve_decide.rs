//! `/v1/decide` on the reference datafile: upstream's decisions, reasons, forced
//! decisions, answer shapes and the CMAB error.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::json;

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve};

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
