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
