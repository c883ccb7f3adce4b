//! The in-memory user profile service: activations remembered, `/v1/lookup` and
//! `/v1/save` round trips.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::json;

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve};

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

    let lookup = json!({"userId": "matjaz"});
    // Save replaces the whole profile; the next decide follows it.
    let saved = json!({"userId": "matjaz", "experimentBucketMap": {
        "16910084756": {"variation_id": "16915611472"}
    }});
    check(
        &serve,
        [
            Case::post("/v1/lookup", REF_KEY, &lookup)
                .answers_json(200, json!({"userId": "matjaz", "experimentBucketMap": {}})),
            Case::post("/v1/activate?featureKey=feature_2", REF_KEY, &user).answers_json(
                200,
                json!([{
                    "userId": "matjaz", "experimentKey": "feature_2_test", "featureKey": "feature_2",
                    "variationKey": "variation_1", "type": "feature", "enabled": true
                }]),
            ),
            Case::post("/v1/decide?keys=feature_2", REF_KEY, &matjaz(&["INCLUDE_REASONS"]))
                .answers_json(
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
                ),
            Case::post("/v1/lookup", REF_KEY, &lookup).answers_json(
                200,
                json!({"userId": "matjaz", "experimentBucketMap": {
                    "16910084756": {"variation_id": "16925360560"}
                }}),
            ),
            Case::post("/v1/save", REF_KEY, &saved).answers(200, ""),
            Case::post("/v1/lookup", REF_KEY, &lookup).answers_json(200, saved.clone()),
        ],
    )
    .await;
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
