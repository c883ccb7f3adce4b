//! The SSE notification stream end to end: fan-out to every subscriber, filters,
//! resume by `Last-Event-ID`, eviction, the notifications of activate and track,
//! and request details as upstream streams them.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::{Value, json};

use crate::harness::api::*;
use crate::harness::serve::{DEMO_KEY, REF_KEY, Serve, Sse};

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
            .contains("notifications after the resume point are gone"),
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
        "{\"error\": \"too many operations, exceeding 2 operations\"}\n",
    );
    let reply = serve
        .post(
            "/v1/batch",
            REF_KEY,
            &json!({"operations": [
                {"method": "POST", "url": "/v1/decide", "operationID": "1",
                 "params": {"keys": "feature_4"}, "body": {"userId": "matjaz"},
                 "headers": {"X-Request-Id": "op-1", "X-Optimizely-SDK-Key": REF_KEY}},
                {"method": "POST", "url": "/v1/decide?keys=feature_4", "operationID": "2",
                 "body": {"userId": ""}, "headers": {"X-Optimizely-SDK-Key": REF_KEY}}
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
