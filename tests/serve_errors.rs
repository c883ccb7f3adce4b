//! Error statuses and bodies of the API as upstream writes them (SDK key, bodies,
//! track, override, activate, UPS, stream parameters, hosts, request ids), and
//! overrides when enabled; the repeated request/answer pairs are tables of [`Case`]s.
//!
//! `agentctl serve` as a child process on port-0 listeners, talked to over real
//! sockets; expected values are upstream's (`reference/decision-facts.md` §4-§7).

use serde_json::json;

use crate::harness::api::*;
use crate::harness::serve::{REF_KEY, Serve};

#[tokio::test]
async fn api_errors_have_upstream_statuses_and_bodies() {
    let serve = Serve::start("");
    let url = |path: &str| format!("{}{path}", serve.api);
    let http = serve.http();
    let user = json!({"userId": "matjaz"});
    let missing_user = "{\"error\":\"missing \\\"userId\\\" in request payload\"}\n";
    let mut big = br#"{"userId":"matjaz","pad":""#.to_vec();
    big.resize(big.len() + (1 << 20), b'x');
    big.extend_from_slice(b"\"}");
    let json = "application/json";

    check(
        &serve,
        [
            // SDK key middleware.
            Case::raw("/v1/decide", "", json, br#"{"userId":"a"}"#.to_vec())
                .without("x-optimizely-sdk-key")
                .answers(
                    400,
                    "{\"error\":\"missing required X-Optimizely-SDK-Key header\"}\n",
                ),
            Case::post("/v1/decide", "bad key!", &user)
                .answers(400, "{\"error\":\"sdkKey failed validation\"}\n"),
            Case::post("/v1/decide", "NoSuchKey123", &user).answers(
                403,
                "{\"error\":\"unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden\"}\n",
            ),
            // The `:token` part is not part of the key.
            Case::post("/v1/decide?keys=feature_4", &format!("{REF_KEY}:token1"), &user)
                .status(200),
            // Request bodies.
            Case::raw("/v1/decide", REF_KEY, json, b"not json".to_vec())
                .answers(400, "{\"error\":\"error parsing request body\"}\n"),
            Case::post("/v1/decide", REF_KEY, &json!({"userId": ""})).answers(400, missing_user),
            // An empty body is allowed and ends in the same error.
            Case::raw("/v1/decide", REF_KEY, json, Vec::new()).answers(400, missing_user),
            Case::post(
                "/v1/decide",
                REF_KEY,
                &json!({"userId": "matjaz", "decideOptions": ["INCLUDE_REASONS", "X"]}),
            )
            .answers(400, "{\"error\":\"invalid option: X\"}\n"),
            Case::raw("/v1/decide", REF_KEY, "text/plain", br#"{"userId":"a"}"#.to_vec())
                .answers(415, ""),
            Case::raw("/v1/decide", REF_KEY, json, big).answers(
                413,
                "{\"error\":\"request body is larger than 1048576 bytes\"}\n",
            ),
            // Track.
            Case::post("/v1/track", REF_KEY, &user).answers(
                400,
                "{\"error\":\"missing required path parameter: eventKey\"}\n",
            ),
            Case::post("/v1/track?eventKey=invalid_event_key", REF_KEY, &user).answers(
                200,
                "{\"userId\":\"matjaz\",\"eventKey\":\"invalid_event_key\",\"error\":\"event with key \\\"invalid_event_key\\\" not found\"}\n",
            ),
            Case::post("/v1/track?eventKey=myevent", REF_KEY, &user)
                .answers(200, "{\"userId\":\"matjaz\",\"eventKey\":\"myevent\"}\n"),
            // Override (disabled by default): plain text.
            Case::post(
                "/v1/override",
                REF_KEY,
                &json!({"userId": "matjaz", "experimentKey": "ab_test1", "variationKey": "variation_2"}),
            )
            .answers(403, "Overrides not enabled\n"),
            // Activate.
            Case::post("/v1/activate?type=bad", REF_KEY, &user)
                .answers(400, "{\"error\":\"type \\\"bad\\\" not supported\"}\n"),
            Case::post("/v1/activate?featureKey=feature_1", REF_KEY, &json!({"userId": ""}))
                .answers(400, missing_user),
            // UPS endpoints without a UPS.
            Case::post("/v1/lookup", REF_KEY, &user)
                .answers(500, "{\"error\":\"no user profile service found\"}\n"),
            Case::post("/v1/save", REF_KEY, &user)
                .answers(500, "{\"error\":\"no user profile service found\"}\n"),
            // Notification stream parameters.
            Case::get("/v1/notifications/event-stream?filter=decision,nope", REF_KEY).answers(
                400,
                "{\"error\":\"unknown notification type \\\"nope\\\": expected one of decision, track, datafile-update\"}\n",
            ),
            Case::get("/v1/notifications/event-stream", REF_KEY)
                .header("last-event-id", "garbage")
                .answers(
                    400,
                    "{\"error\":\"invalid Last-Event-ID \\\"garbage\\\": expected an event id like 1700000000000-0\"}\n",
                ),
            // Allowed hosts.
            Case::get("/v1/config", REF_KEY)
                .header("host", "evil.example")
                .answers(404, "{\"error\":\"invalid request host\"}\n"),
            Case::get("/v1/config", REF_KEY)
                .header("host", &format!("localhost:{}", serve.api_port))
                .status(200),
        ],
    )
    .await;

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
    // Each row changes what the next one sees as the previous override.
    let rows = [
        (
            set("invalid_user", "variation_2"),
            200,
            "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"variation_2\",\"prevVariationKey\":\"\",\"messages\":null}\n",
        ),
        (
            set("matjaz", ""),
            200,
            "{\"userId\":\"matjaz\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"\",\"prevVariationKey\":\"\",\"messages\":[\"no pre-existing override\"]}\n",
        ),
        (
            set("invalid_user", "nope"),
            200,
            "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"nope\",\"prevVariationKey\":\"variation_2\",\"messages\":[\"variationKey not found in configuration\",\"updating previous override\"]}\n",
        ),
        (
            json!({"userId": "u", "experimentKey": "no_such_exp", "variationKey": "v"}),
            200,
            "{\"userId\":\"u\",\"experimentKey\":\"no_such_exp\",\"variationKey\":\"v\",\"prevVariationKey\":\"\",\"messages\":[\"experimentKey not found in configuration\"]}\n",
        ),
        (
            set("invalid_user", ""),
            200,
            "{\"userId\":\"invalid_user\",\"experimentKey\":\"ab_test1\",\"variationKey\":\"\",\"prevVariationKey\":\"nope\",\"messages\":[\"removing previous override\"]}\n",
        ),
        (
            json!({"experimentKey": "ab_test1"}),
            400,
            "{\"error\":\"userId cannot be empty\"}\n",
        ),
        (
            json!({"userId": "u"}),
            400,
            "{\"error\":\"experimentKey cannot be empty\"}\n",
        ),
    ];
    check(
        &serve,
        rows.iter().map(|(body, status, answer)| {
            Case::post("/v1/override", REF_KEY, body).answers(*status, answer)
        }),
    )
    .await;

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
