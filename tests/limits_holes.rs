//! Smaller holes (issue 11 item 9): allowed hosts by whole name or dot-boundary
//! suffix, webhook replays, 404 for unknown API paths, 413 for oversize webhook
//! bodies, and a 400 for a non-ASCII `Last-Event-ID`; over real sockets.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::api::assert_reply;
use crate::harness::serve::{DEMO_KEY, Serve};
use crate::serve_webhook::{sign, webhook_body_at};

/// The status of `GET /v1/config` (demo key) sent with `Host: host`, over a raw
/// socket so the header is exactly what the test says.
async fn status_with_host(serve: &Serve, host: &str) -> u16 {
    let mut stream = TcpStream::connect(serve.api.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "GET /v1/config HTTP/1.1\r\nHost: {host}\r\nX-Optimizely-SDK-Key: {DEMO_KEY}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test]
async fn allowed_hosts_match_whole_names_or_dot_boundary_suffixes() {
    let serve = Serve::start("server: {allowedHosts: [localhost, .example.com]}");
    let port = serve.api_port;
    for (host, status) in [
        (format!("localhost:{port}"), 200),
        ("api.localhost".to_owned(), 200),
        ("evil-localhost".to_owned(), 404),
        (format!("evil-localhost:{port}"), 404),
        ("a.example.com".to_owned(), 200),
        ("example.com".to_owned(), 404),
        ("badexample.com".to_owned(), 404),
        (format!("127.0.0.1:{port}"), 200),
        ("1127.0.0.1".to_owned(), 404),
    ] {
        assert_eq!(
            status_with_host(&serve, &host).await,
            status,
            "Host: {host}"
        );
    }
}

#[tokio::test]
async fn unknown_api_paths_are_404_not_a_missing_sdk_key() {
    let serve = Serve::start("");
    for path in ["/v1/nope", "/nope", "/v1/decide/extra"] {
        let reply = serve
            .send(serve.http().get(format!("{}{path}", serve.api)))
            .await;
        assert_reply(&reply, 404, "404 page not found\n");
        let reply = serve.get(path, DEMO_KEY).await;
        assert_reply(&reply, 404, "404 page not found\n");
    }
    // Known paths still want the key.
    let reply = serve
        .send(serve.http().get(format!("{}/v1/config", serve.api)))
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"missing required X-Optimizely-SDK-Key header\"}\n",
    );
}

#[tokio::test]
async fn the_webhook_refuses_replays_stale_calls_and_oversize_bodies() {
    let serve = Serve::start(
        "webhook:\n  projects:\n    20000001:\n      sdkKeys: [demo]\n      secret: s3cret\n",
    );
    let url = format!("{}/webhooks/optimizely", serve.webhook);
    let post = |body: Vec<u8>| {
        let signature = sign("s3cret", &body);
        serve.send(
            serve
                .http()
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature", signature)
                .body(body),
        )
    };
    let body = webhook_body_at(20000001, 0);
    assert_reply(&post(body.clone()).await, 204, "");
    assert_reply(
        &post(body).await,
        400,
        "{\"error\":\"Webhook message was already received. Ignoring message.\"}\n",
    );
    let stale = "{\"error\":\"Webhook message timestamp is missing or outside the accepted window. Ignoring message.\"}\n";
    assert_reply(&post(webhook_body_at(20000001, -3600)).await, 400, stale);
    assert_reply(&post(webhook_body_at(20000001, 3600)).await, 400, stale);
    assert_reply(
        &post(br#"{"project_id":20000001}"#.to_vec()).await,
        400,
        stale,
    );
    // A different (newer) call is fine.
    assert_reply(&post(webhook_body_at(20000001, 1)).await, 204, "");
    // Oversize: 413 like the API, not "unable to read".
    let mut big = b"{\"project_id\":20000001,\"pad\":\"".to_vec();
    big.resize(2 << 20, b'x');
    big.extend_from_slice(b"\"}");
    let reply = post(big).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
}

#[tokio::test]
async fn a_non_ascii_last_event_id_is_a_400() {
    let serve = Serve::start("");
    let reply = serve
        .send(
            serve
                .http()
                .get(format!(
                    "{}{}",
                    serve.api,
                    agentctl::wire::EVENT_STREAM_PATH
                ))
                .header(agentctl::wire::SDK_KEY_HEADER, DEMO_KEY)
                .header(
                    agentctl::wire::LAST_EVENT_ID_HEADER,
                    reqwest::header::HeaderValue::from_bytes("1700000000000-0é".as_bytes())
                        .unwrap(),
                ),
        )
        .await;
    assert_reply(
        &reply,
        400,
        "{\"error\":\"invalid Last-Event-ID (not ASCII): expected an event id like 1700000000000-0\"}\n",
    );
}
